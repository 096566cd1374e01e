/**
 * The "analysis" job's runner (declaration: analysis/analysis-job.ts): runs one collect in the
 * job child and returns what the API hands back (routing and towers reports; for the PCA capture,
 * which checkpoints were captured and which reused: the features themselves stay in the cache).
 */
import { initEngine } from '../engine/engine.ts';
import { defineJobRunner } from '../runs/jobs/kind.ts';
import { analysisJob } from './analysis-job.ts';
import { capturePcaFeatures } from './pca-collect.ts';
import { analyzeRouting } from './routing-collect.ts';
import { analyzeTowers } from './towers-collect.ts';

export const analysisRunner = defineJobRunner(analysisJob, async (input, ctx) => {
  await initEngine('auto');
  const progress = (done: number, total: number, what: string) => ctx.progress(total > 0 ? done / total : 0, what);
  switch (input.analysis) {
    case 'pca-capture': {
      const { split, checkpoints, probeTokens, seed } = input;
      const capture = await capturePcaFeatures({
        runDir: ctx.runDir,
        split,
        checkpoints,
        probeTokens,
        seed,
        signal: ctx.signal,
        onProgress: (p) => progress(p.done, p.total, p.message),
      });
      return { steps: capture.steps, captured: capture.captured, reused: capture.reused };
    }
    case 'routing':
      return analyzeRouting(ctx.runDir, { checkpoints: input.checkpoints, probeWindows: input.probeWindows, onProgress: progress });
    case 'towers':
      return analyzeTowers(ctx.runDir, { checkpoints: input.checkpoints, probeWindows: input.probeWindows, onProgress: progress });
  }
});
