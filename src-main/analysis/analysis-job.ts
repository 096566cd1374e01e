/**
 * The "analysis" job kind's declaration: the analyses that run the model on checkpoints (the PCA
 * capture, routing and towers on the probe set) as a job child, so that the app's process stays
 * responsive, the work reports progress, can be cancelled and outlives the window that asked
 * for it. Its runner is analysisRunner in analysis/analysis-runner.ts; the API waits for the job
 * (api/analysis-jobs.ts). The CLI runs the same collects in its own process.
 */
import { z } from 'zod';
import { defineJobKind } from '../runs/jobs/kind.ts';

const steps = z.array(z.number().int().min(0)).min(1).max(200, 'at most 200 checkpoints');

const analysisJobInputSchema = z.discriminatedUnion('analysis', [
  z.strictObject({
    analysis: z.literal('pca-capture'),
    split: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'a split name such as "val"'),
    checkpoints: z.union([z.literal('all'), z.literal('latest'), steps]),
    probeTokens: z.number().int().min(2).max(100_000),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
  }),
  z.strictObject({
    analysis: z.enum(['routing', 'towers']),
    checkpoints: steps.optional(),
    probeWindows: z.number().int().min(1).max(256).optional(),
  }),
]);
export type AnalysisJobInput = z.infer<typeof analysisJobInputSchema>;

export const analysisJob = defineJobKind({ name: 'analysis', input: analysisJobInputSchema });
