/** `motlab compare`: steps to match between a reference (dense) run and another run. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stepsToMatch } from '../../analysis/steps-to-match.ts';
import { MotlabError } from '../../common/errors.ts';
import { terminalSafe } from '../../common/text.ts';

const HELP = `motlab compare --reference <denseRunDir> --run <otherRunDir> [--split val] [--json]

  Per modality: the paper's steps-to-match slope (fraction of the reference's steps the other run
  needs, fitted over the whole validation curve) and the step at which the other run first reaches
  the reference's final validation loss.`;

export async function runCompareCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      reference: { type: 'string' },
      run: { type: 'string' },
      split: { type: 'string', default: 'val' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.reference || !values.run) throw new MotlabError('invalid_config', `--reference and --run are required\n\n${HELP}`);
  const report = await stepsToMatch(path.resolve(values.reference), path.resolve(values.run), values.split);
  if (values.json) {
    console.log(terminalSafe(JSON.stringify(report, null, 2)));
    return 0;
  }
  const pct = (x: number | null) => (x === null ? 'never' : `${(100 * x).toFixed(1)}%`);
  console.log(terminalSafe(`${report.other} vs ${report.reference} (${report.split} loss)`));
  console.log('modality  slope    matched  final loss (ref)  reached at step  fraction');
  for (const m of report.modalities) {
    console.log(
      `${m.modality.padEnd(9)} ${pct(m.slope).padStart(6)}  ${`${m.matchedPoints}/${m.referencePoints}`.padStart(7)}  ` +
        `${m.referenceFinalLoss.toFixed(4).padStart(9)} @ ${String(m.referenceFinalStep).padEnd(5)} ` +
        `${(m.stepToReachFinal === null ? '–' : m.stepToReachFinal.toFixed(0)).padStart(9)}  ${pct(m.finalFraction).padStart(8)}`,
    );
  }
  return 0;
}
