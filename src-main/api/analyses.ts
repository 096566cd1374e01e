/**
 * API handlers of the run analyses (routing, towers). They run in the API's process (a probe of
 * 16 windows on a small model takes seconds on the CPU); tfjs and the analyses load on first use
 * so that opening the app does not load TensorFlow.js.
 */
import type { ApiHandlers } from '../common/api/definition.ts';

let engineReady: Promise<unknown> | null = null;

async function analyses() {
  engineReady ??= import('../engine/engine.ts').then((m) => m.initEngine('auto'));
  await engineReady;
  const [routing, towers] = await Promise.all([import('../analysis/routing-collect.ts'), import('../analysis/towers-collect.ts')]);
  return { analyzeRouting: routing.analyzeRouting, analyzeTowers: towers.analyzeTowers };
}

export function analysisHandlers(existingRun: (name: string) => Promise<string>): Pick<ApiHandlers, 'analyzeRouting' | 'analyzeTowers'> {
  return {
    async analyzeRouting({ run, checkpoints, probeWindows }) {
      return (await analyses()).analyzeRouting(await existingRun(run), { checkpoints, probeWindows });
    },
    async analyzeTowers({ run, checkpoints, probeWindows }) {
      return (await analyses()).analyzeTowers(await existingRun(run), { checkpoints, probeWindows });
    },
  };
}
