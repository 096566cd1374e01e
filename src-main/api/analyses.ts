/**
 * API handlers of the run analyses. Loss curves and step matching read metrics.jsonl in the
 * API's process (incrementally between calls, so a view re-reading a training run every second
 * stays cheap); routing and towers run the model, each as an analysis job
 * (api/analysis-jobs.ts): a child process with progress and cancel. Each goes through the same
 * collect function as its `motlab analyze` command.
 */
import { collectLossCurves, LossRecordCache, type RunFolder } from '../analysis/loss-curves.ts';
import { collectStepMatch } from '../analysis/steps-to-match.ts';
import type { ApiHandlers } from '../common/api/definition.ts';
import type { RoutingReport, TowersReport } from '../common/analysis-reports.ts';
import type { AnalysisJobs } from './analysis-jobs.ts';

/** `existingRun(name)` is the folder of a workspace run, or throws not_found. */
export function analysisHandlers(
  existingRun: (name: string) => string,
  jobs: AnalysisJobs,
): Pick<ApiHandlers, 'getLossCurves' | 'getStepMatch' | 'analyzeRouting' | 'analyzeTowers'> {
  const cache = new LossRecordCache();
  const folder = (name: string): RunFolder => ({ name, dir: existingRun(name) });
  return {
    // async: a missing run is a rejected promise, like every other handler's error.
    getLossCurves: async ({ runs, ...options }) => collectLossCurves(runs.map(folder), options, cache),
    getStepMatch: async ({ reference, runs, x }) => collectStepMatch(folder(reference), runs.map(folder), { x }, cache),
    analyzeRouting: ({ run, checkpoints, probeWindows, requestId }) =>
      jobs.run<RoutingReport>(existingRun(run), { analysis: 'routing', checkpoints, probeWindows }, 'routing', requestId),
    analyzeTowers: ({ run, checkpoints, probeWindows, requestId }) =>
      jobs.run<TowersReport>(existingRun(run), { analysis: 'towers', checkpoints, probeWindows }, 'towers', requestId),
  };
}
