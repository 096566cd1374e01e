/**
 * The lab's vocabulary, defined once: run statuses, engines, model presets and sizes, model
 * components. Browser-safe; everything else (schemas, the CLI's flag checks, the form) derives
 * from these lists.
 */

/** What run.json records: the training process writes these. */
export const STORED_RUN_STATUSES = ['created', 'running', 'paused', 'completed', 'stopped', 'failed'] as const;
export type StoredRunStatus = (typeof STORED_RUN_STATUSES)[number];

/**
 * What the lab shows: the stored status, plus 'starting' (launched, no run.json yet) and
 * 'interrupted' (run.json says running or paused but no live process owns it: resumable).
 */
export const RUN_STATUSES = ['starting', ...STORED_RUN_STATUSES, 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses in which a process owns the run (it can be paused, resumed or stopped). */
export const ACTIVE_STATUSES: readonly RunStatus[] = ['starting', 'running', 'paused'];
export function isActiveStatus(status: RunStatus): boolean {
  return ACTIVE_STATUSES.includes(status);
}

/** What a training process can be asked to do between steps ('stop' writes a checkpoint first). */
export const RUN_CONTROLS = ['pause', 'resume', 'stop'] as const;
export type RunControl = (typeof RUN_CONTROLS)[number];

/**
 * A job (a long task in a child process: training, evaluation, analyses) is 'starting' until its
 * process listens, then 'running', and ends 'completed', 'failed' or 'cancelled'.
 */
export const JOB_STATUSES = ['starting', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const ACTIVE_JOB_STATUSES: readonly JobStatus[] = ['starting', 'running'];
export function isActiveJobStatus(status: JobStatus): boolean {
  return ACTIVE_JOB_STATUSES.includes(status);
}

/** The lab's own compute engines (TensorFlow.js, in process), fastest first: the order `auto` tries them in. */
export const IN_PROCESS_ENGINE_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type InProcessEngineName = (typeof IN_PROCESS_ENGINE_NAMES)[number];
/**
 * Every engine a run can train on: the in-process ones, and `torch`, the PyTorch trainer
 * (python/motlab_torch) that the run service starts as a separate process when a Python with
 * PyTorch is found (runs/torch.ts). `auto` never picks torch; evaluation and analyses run in process.
 */
export const ENGINE_NAMES = [...IN_PROCESS_ENGINE_NAMES, 'torch'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];
export const TORCH_ENGINE = 'torch' satisfies EngineName;
/** What a person may ask for: an engine, or the first in-process engine that works. */
export const ENGINE_CHOICES = ['auto', ...ENGINE_NAMES] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];
/** The most gradient workers (threads) a run may ask for (docs/workers.md). */
export const MAX_WORKERS = 256;
export function isEngineChoice(s: string): s is EngineChoice {
  return (ENGINE_CHOICES as readonly string[]).includes(s);
}
/** The choices for work that runs in the lab's process (evaluation, analyses). */
export const IN_PROCESS_ENGINE_CHOICES = ['auto', ...IN_PROCESS_ENGINE_NAMES] as const;
export type InProcessEngineChoice = (typeof IN_PROCESS_ENGINE_CHOICES)[number];

export const PRESET_NAMES = [
  'dense',
  'mot',
  'mot-ffn',
  'mot-text-isolated',
  'mot-image-isolated',
  'mot-speech-isolated',
  'moe4x',
  'moe4x-topk',
  'mot-moe',
] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
export function isPresetName(s: string): s is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(s);
}

export const SIZE_NAMES = ['tiny', 'small', 'base'] as const;
export type SizeName = (typeof SIZE_NAMES)[number];
export function isSizeName(s: string): s is SizeName {
  return (SIZE_NAMES as readonly string[]).includes(s);
}

/** The three weight components a tower assignment unties (docs/architecture.md). */
export const COMPONENTS = ['attention', 'ffn', 'norm'] as const;
export type Component = (typeof COMPONENTS)[number];
