/**
 * `motlab <command> …` — the headless entry point. Each command lives in its own module under
 * commands/ and is loaded on demand so that `motlab data check` does not load TensorFlow.js.
 */
import { MotlabError } from '../common/errors.ts';
import { oneLine, terminalSafe } from '../common/text.ts';
import { isParseArgsError, joinNegativeValues } from './flags.ts';

const USAGE = `motlab — Mixture-of-Transformers lab

Usage:
  motlab train --config <preset|file.json> --data <datasetDir|builtin> --out <runDir> [options]
  motlab train --out <runDir> --resume|--restart [--steps N]
  motlab eval  --run <runDir> [--checkpoint <step>|latest] --data <datasetDir> [--split val] [--windows N] --json
  motlab info  --run <runDir> --json
  motlab analyze routing|towers --run <runDir> [--checkpoints 100,200|all] [--json] [--csv FILE]
  motlab analyze weights (--run <runDir> | --from <checkpoint>) [--json] [--csv FILE]
  motlab analyze pca --run <runDir> | --activations <file> [options] [--json] [--csv FILE]
  motlab analyze losses --runs <runDir,…> [--x steps|tokens|flops|wall] [--smoothing W] [--json] [--csv FILE]
  motlab analyze step-match --reference <denseRunDir> --run <otherRunDir> [--x steps|flops|wall] [--json] [--csv FILE]
  motlab compare …   (the same as motlab analyze step-match)
  motlab figure <losses|step-match|pca|pca-grid|separability|routing|towers> --run DIR [options] --preset P --format F --out FILE
  motlab figure --spec view.json --out FILE
  motlab figure --all --run DIR [--reference RUN] --out DIR
  motlab data synth --out <datasetDir> [--tokens N] [--seed N]
  motlab data check <datasetDir> [--json]
  motlab data build fashion-tri --out <datasetDir> [--images N] [--seed N]
  motlab serve [--workspace DIR] [--port N] [--host H]
  motlab import --from <file.safetensors|index.json|dir> [--mapping auto|lab|playbook|bagel|FILE] --out <runDir>
  motlab train --engine torch [--nproc N] [--python PATH] …   (the PyTorch trainer, see --help)
  motlab torch-command --config <preset|file.json> --data DIR [--nnodes N] [--nproc-per-node P] [--json]

Run "motlab <command> --help" for a command's options.`;

type CommandModule = { run: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  train: async () => ({ run: (await import('./commands/train.ts')).runTrainCommand }),
  eval: async () => ({ run: (await import('./commands/eval.ts')).runEvalCommand }),
  info: async () => ({ run: (await import('./commands/info.ts')).runInfoCommand }),
  analyze: async () => ({ run: (await import('./commands/analyze.ts')).runAnalyzeCommand }),
  // `motlab compare` is `motlab analyze step-match` (one collect, the same numbers as the view).
  compare: async () => ({ run: (await import('./commands/analyze-step-match.ts')).runAnalyzeStepMatch }),
  figure: async () => ({ run: (await import('./commands/figure.ts')).runFigureCommand }),
  data: async () => ({ run: (await import('./commands/data.ts')).runDataCommand }),
  serve: async () => ({ run: (await import('./commands/serve.ts')).runServeCommand }),
  import: async () => ({ run: (await import('./commands/import.ts')).runImportCommand }),
  'torch-command': async () => ({ run: (await import('./commands/torch-command.ts')).runTorchCommand }),
  // The child process of a job (started by the app or `motlab serve`; not in the usage).
  job: async () => ({ run: (await import('./commands/job.ts')).runJobCommand }),
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const load = COMMANDS[command];
  if (!load) {
    console.error(`motlab: unknown command ${oneLine(JSON.stringify(command), 80)}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load()).run(joinNegativeValues(rest));
  } catch (error) {
    return reportError(command, error);
  }
}

/**
 * The one way a failed command ends: one line on stderr (control characters escaped, length
 * bounded: the message may quote a file), exit 1 (2 for a usage error). An unexpected error is
 * a bug: still one line, with the stack only when MOTLAB_DEBUG is set.
 */
export function reportError(command: string, error: unknown): number {
  if (error instanceof MotlabError) {
    // The message may end with the command's help (a missing required flag): keep that readable.
    const [first, ...help] = error.message.split('\n\n');
    console.error(`motlab ${command}: ${oneLine(first)}${help.length ? '\n\n' + terminalSafe(help.join('\n\n')) : ''}`);
    return 1;
  }
  if (isParseArgsError(error)) {
    // Node's hint for values starting with "-" is about our own joinNegativeValues case: drop it.
    const message = error.message.split('. To specify')[0];
    console.error(`motlab ${command}: ${oneLine(message)} (see "motlab ${command} --help")`);
    return 2;
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (process.env.MOTLAB_DEBUG && error instanceof Error && error.stack) console.error(terminalSafe(error.stack));
  else console.error(`motlab ${command}: internal error: ${oneLine(text)} (a bug in motlab; MOTLAB_DEBUG=1 shows the stack trace)`);
  return 1;
}
