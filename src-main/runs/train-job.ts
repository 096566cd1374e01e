/**
 * The "train" job kind's declaration: training a run folder in a job child, started by the run
 * service for startRun and continueRun (its runner: trainRunner in runs/train.ts). Its output
 * folder is the run folder itself (train.log); it has no result file (the run folder is the
 * result).
 */
import { z } from 'zod';
import { ENGINE_CHOICES } from '../common/vocabulary.ts';
import { defineJobKind } from './jobs/kind.ts';
import { MAX_WORKERS } from '../training/workers/count.ts';

const positive = z.number().int().positive();

const trainJobInputSchema = z.strictObject({
  /** fresh: the run was just created; resume: continue from the latest checkpoint (or restart). */
  mode: z.enum(['fresh', 'resume']),
  restart: z.boolean().default(false),
  engine: z.enum(ENGINE_CHOICES).default('auto'),
  /** Processes of the torch engine (DistributedDataParallel); the in-process engines train in one. */
  processes: positive.max(64).default(1),
  /** Gradient workers; absent: run.json's, else the cores available. */
  workers: z.union([z.number().int().positive().max(MAX_WORKERS), z.literal('auto')]).optional(),
  overrides: z
    .strictObject({ steps: positive, checkpoint_every: positive, eval_every: positive, seed: z.number().int().nonnegative() })
    .partial()
    .default({}),
});
export type TrainJobInput = z.infer<typeof trainJobInputSchema>;

export const trainJob = defineJobKind({
  name: 'train',
  input: trainJobInputSchema,
  internal: true,
  outputDir: (runDir) => runDir,
  logFile: 'train.log',
});
