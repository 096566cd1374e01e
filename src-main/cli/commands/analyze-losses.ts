/** `motlab analyze losses`: final and best loss per run and modality, the curves as JSON or one wide CSV. */
import path from 'node:path';
import { collectLossCurves, runFoldersOf } from '../../analysis/loss-curves.ts';
import { lineChart } from '../../common/charts/line-chart.ts';
import { lossChartData } from '../../common/charts/analysis-data.ts';
import { MotlabError } from '../../common/errors.ts';
import { chartTheme } from '../../common/palette.ts';
import { DEFAULT_SMOOTHING, LOSS_SPLITS, X_AXES, type LossSplit, type XAxis } from '../../common/views.ts';
import { fmtLoss, fmtX, OUTPUT_OPTIONS, textTable, writeOutputs, printSafe } from './analyze-output.ts';
import { parseCommandFlags } from '../flags.ts';

const HELP = `motlab analyze losses --runs <runDir,…> [--x steps|tokens|flops|wall] [--split train|val|both] [--smoothing W] [--json] [--csv FILE]

  Per run and modality: the final and the best loss. Training losses are smoothed with an
  exponential moving average of weight W with bias correction (TensorBoard's; default ${DEFAULT_SMOOTHING}),
  over the full-resolution curve; the best training loss is the lowest smoothed value.
  Validation losses (--split val, the default) are averages over the split, used as measured.

  --json       the curves at full resolution (x, raw, smoothed) and the table
  --csv FILE   the curves as one wide CSV: the x column, then per run, modality and split a raw
               column and (training) a smoothed column named with its EMA weight`;

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new MotlabError('invalid_request', `${flag} must be one of ${allowed.join(', ')} (got "${value}")`);
}

export async function runAnalyzeLosses(argv: string[]): Promise<number> {
  const values = parseCommandFlags(
    argv,
    {
      runs: { type: 'string' },
      x: { type: 'string', default: 'steps' },
      split: { type: 'string', default: 'val' },
      smoothing: { type: 'string', default: String(DEFAULT_SMOOTHING) },
      ...OUTPUT_OPTIONS,
    },
    HELP,
  );
  if (!values) return 0;
  const dirs = (values.runs ?? '')
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  if (dirs.length === 0) throw new MotlabError('invalid_request', `--runs <runDir,…> is required\n\n${HELP}`);
  const x = oneOf<XAxis>('--x', values.x, X_AXES);
  const split = oneOf<LossSplit>('--split', values.split, LOSS_SPLITS);
  const smoothing = Number(values.smoothing);
  if (!(smoothing >= 0 && smoothing < 1))
    throw new MotlabError('invalid_request', `--smoothing must be a weight in [0, 1) (got "${values.smoothing}")`);

  const report = await collectLossCurves(runFoldersOf(dirs.map((d) => path.resolve(d))), { x, split, smoothing });
  const chart = () => lineChart(lossChartData(report), { width: 800, height: 600 }, chartTheme('light')).table;
  if (await writeOutputs(values, report, chart)) return 0;
  const kind = new Map(report.runs.map((r) => [r.name, r.modelKind]));
  const splitName = { train: 'training', val: 'validation' } as const;
  const what = { train: 'training losses', val: 'validation losses', both: 'training and validation losses' }[split];
  printSafe(
    `Final and best ${what}` + (split === 'val' ? '' : ` (training: EMA ${smoothing} with bias correction; best = lowest smoothed)`),
  );
  printSafe(
    textTable(
      ['run', 'model', 'modality', 'split', 'points', 'final step', 'final loss', 'best step', 'best loss'],
      report.summary.map((r) => [
        r.run,
        kind.get(r.run) ?? '',
        r.modality,
        splitName[r.split],
        String(r.points),
        fmtX(r.finalStep, 'steps'),
        fmtLoss(r.finalLoss),
        fmtX(r.bestStep, 'steps'),
        fmtLoss(r.bestLoss),
      ]),
      [false, false, false, false, true, true, true, true, true],
    ),
  );
  for (const note of report.notes) printSafe(`note: ${note}`);
  return 0;
}
