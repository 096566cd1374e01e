/**
 * exportFigure: the app's figure export, through the same code as `motlab figure`
 * (figures/kinds.ts), with runs named as in the workspace. The analyses that run the model run as
 * analysis jobs (child processes), as for the views. Analyses a figure ran stay in memory
 * for the next few exports, so a preview that changes only the size or palette does not rerun them.
 */
import type { ApiHandlers } from '../common/api/definition.ts';
import { runNameSchema } from '../common/api/definition.ts';
import { MotlabError } from '../common/errors.ts';
import type { AnalysisJobs } from './analysis-jobs.ts';

const KEPT_ANALYSES = 8;

export function figureHandlers(
  existingRun: (name: string) => string | Promise<string>,
  analysisJobs: AnalysisJobs,
): Pick<ApiHandlers, 'exportFigure'> {
  const cache = new Map<string, Promise<unknown>>();
  let engineReady: Promise<unknown> | null = null;
  return {
    async exportFigure({ view, figure }) {
      const { exportViewFigure } = await import('../figures/kinds.ts');
      const exported = await exportViewFigure(view, figure, {
        runDir(ref) {
          // The app names runs of its workspace; folders elsewhere are for the CLI.
          if (!runNameSchema.safeParse(ref).success)
            throw new MotlabError('invalid_request', `figure export: "${ref}" is not the name of a run of the workspace`);
          return existingRun(ref);
        },
        ensureEngine: () => (engineReady ??= import('../engine/engine.ts').then((m) => m.initEngine('auto'))),
        // The model runs in analysis jobs, as for the views (a second request joins the same job).
        runModelAnalysis: (runDir, input) => analysisJobs.run(runDir, input, input.analysis === 'pca-capture' ? 'pca' : input.analysis),
        cache,
      });
      while (cache.size > KEPT_ANALYSES) cache.delete(cache.keys().next().value as string);
      const text = typeof exported.data === 'string';
      return {
        fileName: exported.fileName,
        mimeType: exported.mimeType,
        format: exported.format,
        encoding: text ? 'utf8' : 'base64',
        data: text ? (exported.data as string) : (exported.data as Buffer).toString('base64'),
        csv: exported.csv,
        sidecar: exported.sidecar,
      };
    },
  };
}
