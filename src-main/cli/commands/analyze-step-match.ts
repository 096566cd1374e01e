/**
 * `motlab analyze step-match` (and its first name, `motlab compare`): the paper's steps to match
 * between a reference (dense) run and other runs, per modality, on steps, FLOPs or training time.
 */
import path from 'node:path';
import { runFoldersOf } from '../../analysis/loss-curves.ts';
import { collectStepMatch } from '../../analysis/steps-to-match.ts';
import { stepMatchChartData } from '../../common/charts/analysis-data.ts';
import { stepMatchChart } from '../../common/charts/step-match-chart.ts';
import { MotlabError } from '../../common/errors.ts';
import { chartTheme } from '../../common/palette.ts';
import { STEP_MATCH_AXES, type StepMatchAxis } from '../../common/views.ts';
import { fmtLoss, fmtX, OUTPUT_OPTIONS, textTable, writeOutputs, printSafe } from './analyze-output.ts';
import { parseCommandFlags } from '../flags.ts';

const HELP = `motlab analyze step-match --reference <denseRunDir> --run <otherRunDir> [--run …] [--x steps|flops|wall] [--split val] [--json] [--csv FILE]

  Per modality, on the validation curves: for each evaluation x of the reference, the first x
  (interpolated) at which the other run reaches the same loss; the slope of a least-squares line
  through the origin over those points is the fraction of the reference's steps (FLOPs, training
  time) the other run needs. Also: where the other run first reaches the reference's final loss.
  (motlab compare is the same command.)

  --json       the report, with every matched point
  --csv FILE   the figure's data: the reference x, then per run and modality the matched x and the fitted line`;

export async function runAnalyzeStepMatch(argv: string[]): Promise<number> {
  const values = parseCommandFlags(
    argv,
    {
      reference: { type: 'string' },
      run: { type: 'string', multiple: true },
      x: { type: 'string', default: 'steps' },
      split: { type: 'string', default: 'val' },
      ...OUTPUT_OPTIONS,
    },
    HELP,
  );
  if (!values) return 0;
  if (!values.reference || !values.run?.length) throw new MotlabError('invalid_request', `--reference and --run are required\n\n${HELP}`);
  if (!(STEP_MATCH_AXES as readonly string[]).includes(values.x))
    throw new MotlabError('invalid_request', `--x must be one of ${STEP_MATCH_AXES.join(', ')} (got "${values.x}")`);
  const x = values.x as StepMatchAxis;
  const [reference, ...others] = runFoldersOf([values.reference, ...values.run].map((d) => path.resolve(d)));
  const report = await collectStepMatch(reference, others, { x, split: values.split });
  const chart = () => stepMatchChart(stepMatchChartData(report), { width: 800, height: 600 }, chartTheme('light')).table;
  if (await writeOutputs(values, report, chart)) return 0;
  const pct = (v: number | null) => (v === null ? 'never' : `${(100 * v).toFixed(1)}%`);
  printSafe(`Steps to match ${report.reference.name} (${report.split} loss, on ${report.xTitle})`);
  printSafe(
    textTable(
      ['modality', 'run', 'slope', 'matched', 'reference final loss', `at ${report.xTitle}`, 'reached at', 'fraction'],
      report.rows.map((r) => [
        r.modality,
        r.run,
        pct(r.slope),
        `${r.matchedPoints}/${r.referencePoints}`,
        fmtLoss(r.referenceFinalLoss),
        fmtX(r.referenceFinalX, x),
        fmtX(r.xToReachFinal, x),
        pct(r.finalFraction),
      ]),
      [false, false, true, true, true, true, true, true],
    ),
  );
  return 0;
}
