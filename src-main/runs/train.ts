/**
 * Training a run folder, the one way every caller does it (the CLI in its own process, the
 * "train" job in a child of the app or server): take the run lock, prepare (a fresh run, or a
 * resume/restart), train, and keep run.json's status in step with the trainer's events.
 * Also the train job's runner (its declaration: train-job.ts).
 */
import { MotlabError } from '../common/errors.ts';
import { TORCH_ENGINE, type EngineChoice, type InProcessEngineChoice } from '../common/vocabulary.ts';
import { trainRun, TrainingControl, type TrainEvent } from '../training/trainer.ts';
import type { WorkersRequest } from '../training/workers/count.ts';
import { defineJobRunner } from './jobs/kind.ts';
import { acquireRunLock } from './lock.ts';
import { applyResume, planResume, type ResumeRequest } from './resume.ts';
import { readRunJson, updateRunJson, type RunJson } from './run-json.ts';
import type { RunEvent } from './run-events.ts';
import { trainJob } from './train-job.ts';
import { describeTorchPython, findTorchPython, trainWithTorch, type TorchPython } from './torch.ts';

/** A fresh run (run.json just created) starts at step 0; a resume continues (or restarts) an existing one. */
export type TrainMode = { kind: 'fresh' } | ({ kind: 'resume' } & ResumeRequest);

export interface TrainFolderOptions {
  runDir: string;
  mode: TrainMode;
  engine: EngineChoice;
  /** Gradient workers; default: run.json's, else the cores available. */
  workers?: WorkersRequest;
  control: TrainingControl;
  onEvent?: (event: RunEvent) => void;
  /** For the torch engine: the Python to use (else $MOTLAB_PYTHON, else one found), and the processes. */
  torch?: { python?: string | TorchPython; processes?: number; threads?: number };
  /** For the torch engine: each line the trainer writes on stderr. */
  onTrainerStderr?: (line: string) => void;
}

export async function trainRunFolder(options: TrainFolderOptions): Promise<'completed' | 'stopped'> {
  if (options.engine === TORCH_ENGINE) return trainRunFolderWithTorch(options);
  const lock = await acquireRunLock(options.runDir, 'train');
  try {
    const { run, resume } = await prepare(options);
    return await trainRecordingStatus(options, run, resume, options.engine);
  } finally {
    await lock.release();
  }
}

/**
 * The torch engine: prepared here under the run lock (the same checks, notes and restart
 * archive as the lab's own engines), then trained by the PyTorch trainer, which takes the lock
 * itself for as long as it trains and keeps run.json's status (a second writer is refused by
 * whichever of the two comes second).
 */
async function trainRunFolderWithTorch(options: TrainFolderOptions): Promise<'completed' | 'stopped'> {
  const given = options.torch?.python;
  const python = typeof given === 'object' ? given : await findTorchPython(given);
  options.onEvent?.({ type: 'note', message: `training with ${describeTorchPython(python)}` });
  const lock = await acquireRunLock(options.runDir, 'prepare');
  try {
    await prepare(options);
  } finally {
    await lock.release();
  }
  return trainWithTorch({
    runDir: options.runDir,
    python,
    processes: options.torch?.processes ?? 1,
    threads: options.torch?.threads,
    control: options.control,
    onEvent: options.onEvent,
    onStderr: options.onTrainerStderr,
  });
}

/** The run as it will train, and whether from a checkpoint. */
async function prepare(options: TrainFolderOptions): Promise<{ run: RunJson; resume: boolean }> {
  const { runDir, mode } = options;
  if (mode.kind === 'fresh') {
    const run = await readRunJson(runDir);
    if (run.status !== 'created')
      throw new MotlabError(
        'conflict',
        `${runDir} has trained before (status ${run.status}); resume it (--resume) or restart it (--restart)`,
      );
    return { run, resume: false };
  }
  const plan = await planResume(runDir, mode);
  for (const message of plan.notes) options.onEvent?.({ type: 'note', message });
  await applyResume(runDir, plan);
  return { run: plan.run, resume: plan.from !== null };
}

/** Train, writing each status the trainer reports (and a failure) to run.json before going on. */
async function trainRecordingStatus(
  options: TrainFolderOptions,
  run: RunJson,
  resume: boolean,
  engineChoice: InProcessEngineChoice,
): Promise<'completed' | 'stopped'> {
  const { runDir } = options;
  let engine = run.engine;
  const onEvent = async (event: TrainEvent) => {
    if (event.type === 'engine') engine = event.name;
    if (event.type === 'workers') await updateRunJson(runDir, { workers: event.count });
    if (event.type === 'status') await updateRunJson(runDir, { status: event.status, message: event.message, pid: process.pid, engine });
    options.onEvent?.(event);
  };
  try {
    return await trainRun({
      runDir,
      spec: { model: run.model, training: run.training, datasetPath: run.dataset.path },
      engine: engineChoice,
      workers: options.workers ?? run.workers ?? 'auto',
      resume,
      control: options.control,
      onEvent,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await updateRunJson(runDir, { status: 'failed', message, pid: process.pid, engine }).catch(() => undefined);
    options.onEvent?.({ type: 'status', status: 'failed', message });
    throw error;
  }
}

/**
 * The "train" job: trainRunFolder in a job child. Pause, resume and stop are honoured between
 * steps; a cancel stops like 'stop' (with a checkpoint), so no trained step is lost.
 */
export const trainRunner = defineJobRunner(trainJob, async (input, ctx) => {
  const control = new TrainingControl();
  ctx.onControl((action) => (action === 'pause' ? control.pause() : action === 'resume' ? control.resume() : control.stop()));
  ctx.signal.addEventListener('abort', () => control.stop());
  const totalSteps = input.overrides.steps ?? (await readRunJson(ctx.runDir)).training.steps;
  let fraction = 0;
  await trainRunFolder({
    runDir: ctx.runDir,
    mode: input.mode === 'fresh' ? { kind: 'fresh' } : { kind: 'resume', overrides: input.overrides, restart: input.restart },
    engine: input.engine,
    torch: { processes: input.processes },
    workers: input.workers,
    control,
    onTrainerStderr: (line) => console.error(line), // the job's log (train.log)
    onEvent: (event) => {
      ctx.report(event);
      if (event.type === 'metrics' && event.record.type === 'train') {
        fraction = event.record.step / totalSteps;
        ctx.progress(fraction, `step ${event.record.step} of ${totalSteps}`);
      } else if (event.type === 'status' && event.message) ctx.progress(fraction, event.message);
    },
  });
  return undefined;
});
