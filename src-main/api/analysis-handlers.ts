/**
 * The analysis area of the API: loss curves and step matching of workspace runs, through the
 * same collect functions as `motlab analyze` (src-main/analysis/). Metrics files are read
 * incrementally between calls, so a view re-reading a training run every second stays cheap.
 */
import { collectLossCurves, LossRecordCache, type RunFolder } from '../analysis/loss-curves.ts';
import { collectStepMatch } from '../analysis/steps-to-match.ts';
import type { ApiHandlers } from '../common/api/definition.ts';

type AnalysisHandlers = Pick<ApiHandlers, 'getLossCurves' | 'getStepMatch'>;

/** `runDir(name)` is the folder of a workspace run, or throws not_found. */
export function analysisHandlers(runDir: (name: string) => string | Promise<string>): AnalysisHandlers {
  const cache = new LossRecordCache();
  const folder = async (name: string): Promise<RunFolder> => ({ name, dir: await runDir(name) });
  return {
    async getLossCurves({ runs, ...options }) {
      return collectLossCurves(await Promise.all(runs.map(folder)), options, cache);
    },
    async getStepMatch({ reference, runs, x }) {
      return collectStepMatch(await folder(reference), await Promise.all(runs.map(folder)), { x }, cache);
    },
  };
}
