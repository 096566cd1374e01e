/**
 * `motlab train`: create a run folder (or resume or restart one) and train it in this process,
 * through the run service (src-main/runs/train.ts): the same path the app's training jobs take.
 */
import path from 'node:path';
import {
  ENGINE_CHOICES,
  isSizeName,
  PRESET_NAMES,
  SIZE_NAMES,
  TORCH_ENGINE,
  type EngineChoice,
  type SizeName,
} from '../../common/vocabulary.ts';
import { createRun, DEFAULT_DATASET, planNewRun, type TrainingOverrides } from '../../runs/create.ts';
import { planResume } from '../../runs/resume.ts';
import { trainRunFolder, type TrainFolderOptions, type TrainMode } from '../../runs/train.ts';
import { findTorchPython, PYTHON_ENV } from '../../runs/torch.ts';
import { TrainingControl } from '../../training/trainer.ts';
import type { WorkersRequest } from '../../training/workers/count.ts';
import { MotlabError } from '../../common/errors.ts';
import { parseEngineFlag, parseIntFlag, parseWorkersFlag, parseCommandFlags } from '../flags.ts';
import { ProgressPrinter } from '../progress.ts';

/** Exit code after a second Ctrl+C (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;
/** Bounds of the step-count flags and of the seed. */
const MAX_STEPS = 1e9;
const MAX_SEED = 2 ** 31 - 1;
const MAX_PROCESSES = 64;

const HELP = `motlab train --config <preset|file.json> --data <datasetDir|builtin> --out <runDir> [options]

  --config NAME|FILE   a preset (${PRESET_NAMES.join(', ')}) or a JSON config file
  --size ${SIZE_NAMES.join('|')}   model and schedule size (default: small, or the config file's)
  --data DIR|NAME      dataset folder or built-in dataset name (default: ${DEFAULT_DATASET})
  --out DIR            run folder to create (or to continue with --resume)
  --steps N  --checkpoint-every N  --eval-every N  --seed N
  --engine ${ENGINE_CHOICES.join('|')}   (default auto: the fastest of the lab's own)
  --workers N|auto     gradient workers (threads) for the wasm and cpu engines; default: the
                       config file's, else the run's last, else the cores available (auto)
  --python PATH        torch engine: the Python with PyTorch (default $${PYTHON_ENV}, else the first
                       python3 found that imports torch)
  --nproc N            torch engine: N training processes (DistributedDataParallel; default 1)
  --threads T          torch engine: torch threads per process (default cores / N)
  --resume             continue the run in --out from its latest complete checkpoint
  --restart            train the run in --out again from step 0; its metrics and checkpoints
                       are moved to <runDir>/archive/<time>/, not deleted`;

export async function runTrainCommand(argv: string[]): Promise<number> {
  const values = parseCommandFlags(
    argv,
    {
      config: { type: 'string' },
      size: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'eval-every': { type: 'string' },
      engine: { type: 'string', default: 'auto' },
      workers: { type: 'string' },
      python: { type: 'string' },
      nproc: { type: 'string' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      resume: { type: 'boolean', default: false },
      restart: { type: 'boolean', default: false },
    },
    HELP,
  );
  if (!values) return 0;
  if (!values.out) throw new MotlabError('invalid_config', `--out <runDir> is required\n\n${HELP}`);
  const runDir = path.resolve(values.out);
  const engine = parseEngineFlag(values.engine);
  const torch = await torchOptions(engine, values.python, values.nproc, values.threads);
  const overrides: TrainingOverrides = {
    steps: parseIntFlag('--steps', values.steps, 1, MAX_STEPS),
    checkpoint_every: parseIntFlag('--checkpoint-every', values['checkpoint-every'], 1, MAX_STEPS),
    eval_every: parseIntFlag('--eval-every', values['eval-every'], 1, MAX_STEPS),
    seed: parseIntFlag('--seed', values.seed, 0, MAX_SEED),
  };
  const workers = parseWorkersFlag(values.workers);
  if (engine === TORCH_ENGINE && workers !== undefined)
    throw new MotlabError('invalid_config', "--workers applies to the lab's own engines; the torch engine takes --nproc");
  const continuing = values.resume || values.restart;
  const prepared = continuing
    ? await planContinue(runDir, overrides, values.restart)
    : await createNewRun(runDir, values.config, parseSize(values.size), values.data ?? DEFAULT_DATASET, engine, workers, overrides);
  return train(runDir, prepared.mode, engine, workers, prepared.totalSteps, torch);
}

/** The torch engine's settings, its Python found before anything is written; refused for the other engines. */
async function torchOptions(
  engine: EngineChoice,
  python: string | undefined,
  nproc: string | undefined,
  threads: string | undefined,
): Promise<TrainFolderOptions['torch']> {
  const processes = parseIntFlag('--nproc', nproc, 1, MAX_PROCESSES);
  const threadCount = parseIntFlag('--threads', threads, 1, 1024);
  if (engine !== TORCH_ENGINE) {
    const given = [python !== undefined && '--python', processes !== undefined && '--nproc', threadCount !== undefined && '--threads'];
    const flags = given.filter(Boolean);
    if (flags.length)
      throw new MotlabError('invalid_config', `${flags.join(', ')} ${flags.length > 1 ? 'apply' : 'applies'} only to --engine torch`);
    return undefined;
  }
  return { python: await findTorchPython(python), processes, threads: threadCount };
}

/** Check up front (the run service checks again under the run lock) so that a refusal comes before any output. */
async function planContinue(
  runDir: string,
  overrides: TrainingOverrides,
  restart: boolean,
): Promise<{ mode: TrainMode; totalSteps: number }> {
  const plan = await planResume(runDir, { overrides, restart });
  return { mode: { kind: 'resume', overrides, restart }, totalSteps: plan.run.training.steps };
}

async function createNewRun(
  runDir: string,
  config: string | undefined,
  size: SizeName | undefined,
  data: string,
  engine: EngineChoice,
  workers: WorkersRequest | undefined,
  overrides: TrainingOverrides,
): Promise<{ mode: TrainMode; totalSteps: number }> {
  if (!config) throw new MotlabError('invalid_config', `--config <preset|file.json> is required\n\n${HELP}`);
  const run = await planNewRun(runDir, {
    config,
    size,
    data,
    engine,
    workers: typeof workers === 'number' ? workers : undefined,
    overrides,
  });
  await createRun(runDir, run);
  return { mode: { kind: 'fresh' }, totalSteps: run.training.steps };
}

async function train(
  runDir: string,
  mode: TrainMode,
  engine: EngineChoice,
  workers: WorkersRequest | undefined,
  totalSteps: number,
  torch: TrainFolderOptions['torch'],
): Promise<number> {
  const control = new TrainingControl();
  const printer = new ProgressPrinter(process.stdout, totalSteps);
  let interrupts = 0;
  const onSignal = () => {
    if (++interrupts > 1) process.exit(EXIT_INTERRUPTED);
    printer.note('stopping after this step (again to quit at once)…');
    control.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await trainRunFolder({
      runDir,
      mode,
      engine,
      workers,
      control,
      torch,
      onEvent: (event) => printer.onEvent(event),
      onTrainerStderr: (line) => process.stderr.write(line + '\n'),
    });
    printer.finish(`run folder: ${runDir}`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function parseSize(value: string | undefined): SizeName | undefined {
  if (value === undefined) return undefined;
  if (isSizeName(value)) return value;
  throw new MotlabError('invalid_config', `--size must be one of ${SIZE_NAMES.join(', ')} (got "${value}")`);
}
