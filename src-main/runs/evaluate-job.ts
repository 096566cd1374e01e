/**
 * The "evaluate" job kind's declaration: a checkpoint's per-modality loss on a split (its
 * runner: evaluateRunner in runs/evaluate.ts).
 */
import { z } from 'zod';
import { IN_PROCESS_ENGINE_CHOICES } from '../common/vocabulary.ts';
import { defineJobKind } from './jobs/kind.ts';

/** The most windows one evaluation may ask for. */
export const MAX_EVAL_WINDOWS = 1_000_000;

const evaluateJobInputSchema = z.strictObject({
  checkpoint: z.union([z.literal('latest'), z.number().int().nonnegative()]).default('latest'),
  split: z
    .string()
    .regex(/^[a-z][a-z0-9_-]*$/, 'a split name such as "val"')
    .default('val'),
  windows: z.number().int().positive().max(MAX_EVAL_WINDOWS).optional(),
  engine: z.enum(IN_PROCESS_ENGINE_CHOICES).default('auto'),
});

export const evaluateJob = defineJobKind({ name: 'evaluate', input: evaluateJobInputSchema });
