/** `motlab info`: what a run is — config, parameter and FLOP accounting, checkpoints, engine. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { listCheckpoints } from '../../checkpoints/run-folder.ts';
import { readRunJson } from '../../runs/run-json.ts';
import { flopsPerToken, parameterCounts } from '../../model/accounting.ts';
import { MotlabError } from '../../common/errors.ts';
import { terminalSafe } from '../../common/text.ts';

export async function runInfoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { run: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
    strict: true,
  });
  if (values.help || !values.run) {
    console.log('motlab info --run <runDir> [--json]');
    if (!values.run && !values.help) throw new MotlabError('invalid_config', '--run <runDir> is required');
    return 0;
  }
  const runDir = path.resolve(values.run);
  const run = await readRunJson(runDir);
  const checkpoints = await listCheckpoints(runDir);
  const info = {
    name: run.name,
    status: run.status,
    message: run.message ?? null,
    preset: run.preset ?? null,
    size: run.size ?? null,
    engine: run.engine,
    dataset: run.dataset,
    model: run.model,
    training: run.training,
    parameters: parameterCounts(run.model),
    flops_per_token: { train: flopsPerToken(run.model, 'train'), forward: flopsPerToken(run.model, 'forward') },
    checkpoints: checkpoints.map((c) => c.step),
  };
  if (values.json) {
    // run.json's strings may hold anything: escaped (still the same JSON).
    console.log(terminalSafe(JSON.stringify(info, null, 2)));
  } else {
    const p = info.parameters;
    console.log(
      terminalSafe(`${run.name}: ${run.preset ?? 'custom'} ${run.size ?? ''} — ${run.status}${run.message ? ` (${run.message})` : ''}`),
    );
    console.log(terminalSafe(`engine ${run.engine}; dataset ${run.dataset.name} (${run.dataset.path})`));
    console.log(`parameters: ${p.total.toLocaleString()} total, ${p.activePerToken.toLocaleString()} active per token`);
    console.log(
      `FLOPs per token: ${info.flops_per_token.train.toExponential(3)} (train), ${info.flops_per_token.forward.toExponential(3)} (forward)`,
    );
    console.log(`checkpoints: ${checkpoints.map((c) => c.step).join(', ') || 'none'}`);
  }
  return 0;
}
