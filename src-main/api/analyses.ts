/**
 * API handlers of the run analyses (routing, towers): each runs as an analysis job
 * (api/analysis-jobs.ts), so the model runs in a child process with progress and cancel.
 */
import type { ApiHandlers } from '../common/api/definition.ts';
import type { RoutingReport, TowersReport } from '../common/analysis-reports.ts';
import type { AnalysisJobs } from './analysis-jobs.ts';

export function analysisHandlers(
  existingRun: (name: string) => string,
  jobs: AnalysisJobs,
): Pick<ApiHandlers, 'analyzeRouting' | 'analyzeTowers'> {
  return {
    analyzeRouting: ({ run, checkpoints, probeWindows, requestId }) =>
      jobs.run<RoutingReport>(existingRun(run), { analysis: 'routing', checkpoints, probeWindows }, 'routing', requestId),
    analyzeTowers: ({ run, checkpoints, probeWindows, requestId }) =>
      jobs.run<TowersReport>(existingRun(run), { analysis: 'towers', checkpoints, probeWindows }, 'towers', requestId),
  };
}
