/**
 * `motlab analyze <analysis> …`: the analyses, one module each, loaded on demand. Adding an
 * analysis = one module exporting `run(argv)` + one entry in ANALYSES.
 */
import { MotlabError } from '../../common/errors.ts';

interface AnalysisCommand {
  summary: string;
  load: () => Promise<(argv: string[]) => Promise<number>>;
}

const ANALYSES: Record<string, AnalysisCommand> = {
  weights: {
    summary: 'weight norms, singular-value spectra and tower drift (cosine, linear CKA) of any checkpoint',
    load: async () => (await import('./analyze-weights.ts')).runAnalyzeWeights,
  },
};

const USAGE = `motlab analyze <analysis> … (motlab analyze <analysis> --help for its options)

${Object.entries(ANALYSES)
  .map(([name, a]) => `  ${name.padEnd(12)} ${a.summary}`)
  .join('\n')}`;

export async function runAnalyzeCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const analysis = Object.hasOwn(ANALYSES, name) ? ANALYSES[name] : undefined;
  if (!analysis) throw new MotlabError('invalid_config', `unknown analysis "${name}"\n\n${USAGE}`);
  return (await analysis.load())(rest);
}
