/**
 * `motlab <command> …` — the headless entry point. Each command lives in its own module under
 * commands/ and is loaded on demand so that `motlab data check` does not load TensorFlow.js.
 */
import { MotlabError } from '../common/errors.ts';

const USAGE = `motlab — Mixture-of-Transformers lab

Usage:
  motlab train --config <preset|file.json> --data <datasetDir|builtin> --out <runDir> [options]
  motlab eval  --run <runDir> [--checkpoint <step>|latest] --data <datasetDir> [--split val] [--windows N] --json
  motlab info  --run <runDir> --json
  motlab compare --reference <denseRunDir> --run <otherRunDir> [--json]
  motlab analyze losses|step-match … [--json] [--csv FILE]   (motlab analyze --help)
  motlab data synth --out <datasetDir> [--tokens N] [--seed N]
  motlab data check <datasetDir> [--json]
  motlab data build fashion-tri --out <datasetDir> [--images N] [--seed N]
  motlab serve [--workspace DIR] [--port N] [--host H]

Run "motlab <command> --help" for a command's options.`;

type CommandModule = { run: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  train: async () => ({ run: (await import('./commands/train.ts')).runTrainCommand }),
  eval: async () => ({ run: (await import('./commands/eval.ts')).runEvalCommand }),
  info: async () => ({ run: (await import('./commands/info.ts')).runInfoCommand }),
  compare: async () => ({ run: (await import('./commands/analyze/step-match.ts')).runAnalyzeStepMatch }),
  analyze: async () => ({ run: (await import('./commands/analyze.ts')).runAnalyzeCommand }),
  data: async () => ({ run: (await import('./commands/data.ts')).runDataCommand }),
  serve: async () => ({ run: (await import('./commands/serve.ts')).runServeCommand }),
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const load = COMMANDS[command];
  if (!load) {
    console.error(`motlab: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (error) {
    if (error instanceof MotlabError) {
      console.error(`motlab ${command}: ${error.message}`);
      return 1;
    }
    if (error instanceof TypeError && 'code' in error && error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`motlab ${command}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
