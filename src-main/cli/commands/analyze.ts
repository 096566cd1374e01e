/**
 * `motlab analyze <analysis> …`: the analyses behind the lab's views, from the command line,
 * each with `--json` and `--csv FILE`. An analysis is one entry of ANALYSES: its usage line and
 * a loader for its module (loaded on demand, so `analyze losses` never loads TensorFlow.js).
 */
import { MotlabError } from '../../common/errors.ts';

export interface Analysis {
  /** One usage line, shown by `motlab analyze --help`. */
  usage: string;
  /** Runs the analysis with its own arguments; returns the exit code. */
  load: () => Promise<(argv: string[]) => Promise<number>>;
}

export const ANALYSES: Record<string, Analysis> = {
  losses: {
    usage:
      'motlab analyze losses --runs <runDir,…> [--x steps|tokens|flops|wall] [--split train|val|both] [--smoothing W] [--json] [--csv FILE]',
    load: async () => (await import('./analyze/losses.ts')).runAnalyzeLosses,
  },
  'step-match': {
    usage: 'motlab analyze step-match --reference <denseRunDir> --run <otherRunDir> [--run …] [--x steps|flops|wall] [--json] [--csv FILE]',
    load: async () => (await import('./analyze/step-match.ts')).runAnalyzeStepMatch,
  },
};

export function analyzeUsage(): string {
  return `Usage:\n${Object.values(ANALYSES)
    .map((a) => `  ${a.usage}`)
    .join('\n')}\n\nRun "motlab analyze <analysis> --help" for an analysis' options.`;
}

export async function runAnalyzeCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(analyzeUsage());
    return name ? 0 : 2;
  }
  const analysis = Object.hasOwn(ANALYSES, name) ? ANALYSES[name] : undefined;
  if (!analysis)
    throw new MotlabError('invalid_request', `unknown analysis "${name}" (have ${Object.keys(ANALYSES).join(', ')})\n\n${analyzeUsage()}`);
  return (await analysis.load())(rest);
}
