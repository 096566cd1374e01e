/**
 * API handlers of the run analyses: loss curves and step matching (read from metrics.jsonl,
 * incrementally between calls, so a view re-reading a training run every second stays cheap),
 * routing and towers. They run in the API's process (a probe of 16 windows on a small model
 * takes seconds on the CPU); tfjs and the routing/towers analyses load on first use so that
 * opening the app does not load TensorFlow.js. Each goes through the same collect function as
 * its `motlab analyze` command.
 */
import { collectLossCurves, LossRecordCache, type RunFolder } from '../analysis/loss-curves.ts';
import { collectStepMatch } from '../analysis/steps-to-match.ts';
import type { ApiHandlers } from '../common/api/definition.ts';

let engineReady: Promise<unknown> | null = null;

async function analyses() {
  engineReady ??= import('../engine/engine.ts').then((m) => m.initEngine('auto'));
  await engineReady;
  const [routing, towers] = await Promise.all([import('../analysis/routing-collect.ts'), import('../analysis/towers-collect.ts')]);
  return { analyzeRouting: routing.analyzeRouting, analyzeTowers: towers.analyzeTowers };
}

type AnalysisHandlers = Pick<ApiHandlers, 'getLossCurves' | 'getStepMatch' | 'analyzeRouting' | 'analyzeTowers'>;

/** `existingRun(name)` is the folder of a workspace run, or throws not_found. */
export function analysisHandlers(existingRun: (name: string) => Promise<string>): AnalysisHandlers {
  const cache = new LossRecordCache();
  const folder = async (name: string): Promise<RunFolder> => ({ name, dir: await existingRun(name) });
  return {
    async getLossCurves({ runs, ...options }) {
      return collectLossCurves(await Promise.all(runs.map(folder)), options, cache);
    },
    async getStepMatch({ reference, runs, x }) {
      return collectStepMatch(await folder(reference), await Promise.all(runs.map(folder)), { x }, cache);
    },
    async analyzeRouting({ run, checkpoints, probeWindows }) {
      return (await analyses()).analyzeRouting(await existingRun(run), { checkpoints, probeWindows });
    },
    async analyzeTowers({ run, checkpoints, probeWindows }) {
      return (await analyses()).analyzeTowers(await existingRun(run), { checkpoints, probeWindows });
    },
  };
}
