/**
 * Training hyper-parameters and the user-facing run config file (`--config file.json`).
 * Every field is validated; an unknown field is an error (a typo must not be silently ignored).
 */
import { z } from 'zod';
import { modelConfigFieldsSchema } from '../model/config.ts';
import { PRESET_NAMES, SIZE_NAMES, type SizeName } from '../common/vocabulary.ts';
import { parseOrThrow } from '../common/validate.ts';
import { MAX_WORKERS } from './workers/count.ts';

export const trainingConfigSchema = z.strictObject({
  steps: z.number().int().positive().max(1e9),
  batch_size: z.number().int().positive().max(65_536),
  /** Micro-batches accumulated per optimizer step (batch_size is per micro-batch). */
  grad_accum: z.number().int().positive().max(65_536),
  lr: z.number().positive(),
  /** Cosine decays to lr * min_lr_ratio. */
  min_lr_ratio: z.number().min(0).max(1),
  warmup_steps: z.number().int().nonnegative(),
  weight_decay: z.number().nonnegative(),
  beta1: z.number().min(0).lt(1),
  beta2: z.number().min(0).lt(1),
  eps: z.number().positive(),
  /** Clip the global gradient norm to this value; 0 disables clipping. */
  grad_clip: z.number().nonnegative(),
  checkpoint_every: z.number().int().positive(),
  eval_every: z.number().int().positive(),
  /** Validation windows per evaluation (taken from the start of the val split). */
  eval_windows: z.number().int().positive().max(1_000_000),
  seed: z.number().int().nonnegative(),
});
export type TrainingConfig = z.infer<typeof trainingConfigSchema>;

export const TRAINING_DEFAULTS: Record<SizeName, TrainingConfig> = {
  tiny: {
    steps: 40,
    batch_size: 4,
    grad_accum: 1,
    lr: 3e-3,
    min_lr_ratio: 0.1,
    warmup_steps: 4,
    weight_decay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    grad_clip: 1,
    checkpoint_every: 20,
    eval_every: 10,
    eval_windows: 8,
    seed: 0,
  },
  small: {
    steps: 1000,
    batch_size: 8,
    grad_accum: 1,
    lr: 2e-3,
    min_lr_ratio: 0.1,
    warmup_steps: 50,
    weight_decay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    grad_clip: 1,
    checkpoint_every: 100,
    eval_every: 50,
    eval_windows: 32,
    seed: 0,
  },
  base: {
    steps: 20000,
    batch_size: 16,
    grad_accum: 1,
    lr: 6e-4,
    min_lr_ratio: 0.1,
    warmup_steps: 500,
    weight_decay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    grad_clip: 1,
    checkpoint_every: 1000,
    eval_every: 250,
    eval_windows: 64,
    seed: 0,
  },
};

/** What a `--config file.json` may hold. Model fields override the preset's. */
export const runConfigFileSchema = z.strictObject({
  preset: z.enum(PRESET_NAMES).optional(),
  size: z.enum(SIZE_NAMES).optional(),
  model: modelConfigFieldsSchema.partial().optional(),
  training: trainingConfigSchema.partial().optional(),
  /** Gradient workers (docs/workers.md); default: the cores available. */
  workers: z.number().int().positive().max(MAX_WORKERS).optional(),
});
export type RunConfigFile = z.infer<typeof runConfigFileSchema>;

export function parseRunConfigFile(value: unknown, source: string): RunConfigFile {
  return parseOrThrow(runConfigFileSchema, value, `config file ${source}`);
}
