/** `motlab eval`: per-modality loss of a checkpoint on a dataset split's evaluation windows. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { readCheckpoint, readRunJson } from '../../checkpoints/run-folder.ts';
import { loadDataset, resolveDatasetDir } from '../../data/dataset.ts';
import { initEngine } from '../../engine/engine.ts';
import { evaluateLoss } from '../../training/evaluate.ts';
import { MotlabError } from '../../common/errors.ts';
import { terminalSafe } from '../../common/text.ts';
import { parseEngineFlag, parseIntFlag } from '../flags.ts';
import { formatLosses } from '../progress.ts';

const HELP = `motlab eval --run <runDir> [--checkpoint <step>|latest] [--data <datasetDir|builtin>] [--split val] [--windows N] [--engine …] [--json]

  Evaluates on the non-overlapping windows [k·S, k·S+S] (k = 0, 1, …) from the start of the split.
  --data defaults to the run's dataset; --windows to the run's eval_windows (64 without run.json).`;

export async function runEvalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: 'string' },
      checkpoint: { type: 'string', default: 'latest' },
      data: { type: 'string' },
      split: { type: 'string', default: 'val' },
      windows: { type: 'string' },
      engine: { type: 'string', default: 'auto' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.run) throw new MotlabError('invalid_config', `--run <runDir> is required\n\n${HELP}`);
  const runDir = path.resolve(values.run);
  const run = existsSync(path.join(runDir, 'run.json')) ? await readRunJson(runDir) : null;
  const which = values.checkpoint === 'latest' ? 'latest' : parseIntFlag('--checkpoint', values.checkpoint, 0)!;
  const dataArg = values.data ?? run?.dataset.path;
  if (!dataArg) throw new MotlabError('invalid_config', `${runDir} has no run.json naming its dataset: pass --data`);
  const windows = parseIntFlag('--windows', values.windows, 1, 1_000_000) ?? run?.training.eval_windows ?? 64;

  const engine = await initEngine(parseEngineFlag(values.engine));
  const checkpoint = await readCheckpoint(runDir, which);
  const dataset = await loadDataset(resolveDatasetDir(dataArg));
  const tokens = dataset.splits[values.split];
  if (!tokens)
    throw new MotlabError(
      'invalid_dataset',
      `${dataset.dir} has no split "${values.split}" (it has ${Object.keys(dataset.splits).join(', ')})`,
    );
  const params: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(checkpoint.model)) params[name] = tf.tensor(t.data, t.shape, 'float32');
  const result = evaluateLoss(checkpoint.config, params, tokens, windows);
  Object.values(params).forEach((t) => t.dispose());
  // Finite weights can still overflow float32 on the way (a huge weight, a damaged file): a NaN
  // loss is not a result.
  const broken = Object.entries(result.loss).filter(([, v]) => v !== null && !Number.isFinite(v));
  if (broken.length)
    throw new MotlabError(
      'non_finite_loss',
      `checkpoint step ${checkpoint.step} of ${runDir} gives a non-finite loss (${broken.map(([k, v]) => `${k} ${v}`).join(', ')}) ` +
        `on ${values.split}: its weights overflow float32 in the forward pass`,
    );

  if (values.json) {
    console.log(JSON.stringify({ step: checkpoint.step, windows: result.windows, loss: result.loss }));
  } else {
    console.log(
      terminalSafe(
        `checkpoint step ${checkpoint.step} on ${dataset.spec.name}/${values.split}, ${result.windows} windows, engine ${engine.name}`,
      ),
    );
    console.log(formatLosses(result.loss));
  }
  return 0;
}
