/** `motlab analyze <analysis> …`: the analyses of runs and activation dumps, one subcommand each. */
import { MotlabError } from '../../common/errors.ts';

type Subcommand = { summary: string; run: (argv: string[]) => Promise<number> };

const SUBCOMMANDS: Record<string, Subcommand> = {
  pca: {
    summary: 'feature PCA and modality separability per layer (and checkpoint)',
    run: async (argv) => (await import('./analyze-pca.ts')).runAnalyzePcaCommand(argv),
  },
};

function usage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  motlab analyze ${name.padEnd(10)} ${s.summary}`);
  return `motlab analyze <analysis> [options]\n\n${lines.join('\n')}\n\nRun "motlab analyze <analysis> --help" for its options.`;
}

export async function runAnalyzeCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) throw new MotlabError('invalid_config', `unknown analysis "${name}"\n\n${usage()}`);
  return sub.run(rest);
}
