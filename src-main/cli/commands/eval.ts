/** `motlab eval`: per-modality loss of a checkpoint on a dataset split's evaluation windows (runs/evaluate.ts). */
import path from 'node:path';
import { DEFAULT_EVAL_WINDOWS, evaluateCheckpoint } from '../../runs/evaluate.ts';
import { MAX_EVAL_WINDOWS } from '../../runs/evaluate-job.ts';
import { MotlabError } from '../../common/errors.ts';
import { terminalSafe } from '../../common/text.ts';
import { parseInProcessEngineFlag, parseIntFlag, parseWorkersFlag, parseCommandFlags } from '../flags.ts';
import { formatLosses } from '../progress.ts';

const HELP = `motlab eval --run <runDir> [--checkpoint <step>|latest] [--data <datasetDir|builtin>] [--split val] [--windows N] [--engine …] [--workers N|auto] [--json]

  Evaluates on the non-overlapping windows [k·S, k·S+S] (k = 0, 1, …) from the start of the split.
  --data defaults to the run's dataset; --windows to the run's eval_windows (${DEFAULT_EVAL_WINDOWS} without run.json).
  "latest" is the newest complete checkpoint; an incomplete newer step folder is named on stderr.
  --workers spreads the forward passes over threads (wasm and cpu engines; default one per core).`;

export async function runEvalCommand(argv: string[]): Promise<number> {
  const values = parseCommandFlags(
    argv,
    {
      run: { type: 'string' },
      checkpoint: { type: 'string', default: 'latest' },
      data: { type: 'string' },
      split: { type: 'string', default: 'val' },
      windows: { type: 'string' },
      engine: { type: 'string', default: 'auto' },
      workers: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    HELP,
  );
  if (!values) return 0;
  if (!values.run) throw new MotlabError('invalid_config', `--run <runDir> is required\n\n${HELP}`);
  const evaluation = await evaluateCheckpoint({
    runDir: path.resolve(values.run),
    checkpoint: values.checkpoint === 'latest' ? 'latest' : parseIntFlag('--checkpoint', values.checkpoint, 0)!,
    data: values.data,
    split: values.split,
    windows: parseIntFlag('--windows', values.windows, 1, MAX_EVAL_WINDOWS),
    engine: parseInProcessEngineFlag(values.engine),
    workers: parseWorkersFlag(values.workers),
  });
  for (const note of evaluation.notes) console.error(terminalSafe(`note: ${note}`));
  if (values.json) {
    console.log(JSON.stringify({ step: evaluation.step, windows: evaluation.windows, loss: evaluation.loss }));
  } else {
    console.log(
      terminalSafe(
        `checkpoint step ${evaluation.step} on ${evaluation.dataset}/${evaluation.split}, ${evaluation.windows} windows, engine ${evaluation.engine}`,
      ),
    );
    console.log(formatLosses(evaluation.loss));
  }
  return 0;
}
