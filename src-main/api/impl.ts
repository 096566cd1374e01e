/**
 * The API's one implementation, assembled from its areas (handlers/*.ts). Transports
 * (src-main/app/ipc.ts, src-main/server/) only move calls and events; everything the UI can do
 * is here.
 */
import { resolve } from 'node:path';
import type { ApiHandlers } from '../common/api/definition.ts';
import type { ApiEvent } from '../common/api/types.ts';
import { JobManager } from '../runs/jobs/manager.ts';
import { JOB_KINDS } from './job-kinds.ts';
import { prepareWorkspace } from './workspace.ts';
import type { ApiContext, ApiOptions } from './context.ts';
import { analysisHandlers } from './analyses.ts';
import { existingRunDir } from './context.ts';
import { PcaAnalyses } from './pca.ts';
import { AnalysisJobs } from './analysis-jobs.ts';
import { figureHandlers } from './figures.ts';
import { datasetHandlers } from './handlers/datasets.ts';
import { jobApiEvent, jobHandlers } from './handlers/jobs.ts';
import { RunService } from './handlers/runs.ts';
import { workspaceHandlers } from './handlers/workspace.ts';
import { importHandlers } from './handlers/imports.ts';

export type { ApiOptions } from './context.ts';

export interface MotlabApi {
  handlers: ApiHandlers;
  subscribe(listener: (event: ApiEvent) => void): () => void;
  /** Stop every job this API started (training writes a checkpoint first). */
  close(): Promise<void>;
  workspacePath(): string;
  /** Job processes (training included) this API started that are still alive. */
  activeJobCount(): number;
}

export function createApi(options: ApiOptions): { api: MotlabApi; ready: Promise<string[]> } {
  const listeners = new Set<(event: ApiEvent) => void>();
  const emit = (event: ApiEvent) => {
    for (const l of listeners) l(event);
  };
  const jobs = new JobManager({
    cliPath: options.cliPath,
    execPath: options.execPath,
    env: options.env,
    kinds: JOB_KINDS,
    onEvent: (event) => {
      runs.onJobEvent(event);
      analysisJobs.onJobEvent(event);
      const apiEvent = jobApiEvent(event);
      if (apiEvent) emit(apiEvent);
    },
  });
  const ctx: ApiContext = { options, state: { workspace: resolve(options.workspace), notes: [] }, jobs, emit };
  const runs = new RunService(ctx);
  const analysisJobs = new AnalysisJobs(ctx);
  const pcaAnalyses = new PcaAnalyses((name) => existingRunDir(ctx, name), emit, analysisJobs);
  const handlers: ApiHandlers = {
    ...workspaceHandlers(ctx),
    ...datasetHandlers(ctx),
    ...runs.handlers,
    ...jobHandlers(ctx),
    ...importHandlers(ctx, (run) => runs.handlers.getRun({ run })),
    ...analysisHandlers((name) => existingRunDir(ctx, name), analysisJobs),
    ...figureHandlers((name) => existingRunDir(ctx, name), analysisJobs),
    analyzePca: (input) => pcaAnalyses.analyze(input),
    pcaPointContext: (input) => pcaAnalyses.context(input),
    cancelAnalysis: async ({ requestId }) => pcaAnalyses.cancel(requestId),
  };
  // The first workspace is the one the lab was started with: checked like any other (inside the
  // allowed roots too, when there are some), and the only one whose missing parents are created.
  const ready = prepareWorkspace(ctx.state.workspace, { ...options, createParents: true }).then((opened) => {
    ctx.state.workspace = opened.path;
    return (ctx.state.notes = opened.notes);
  });
  return {
    ready,
    api: {
      handlers,
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      close: () => jobs.stopAll(),
      workspacePath: () => ctx.state.workspace,
      activeJobCount: () => jobs.activeCount(),
    },
  };
}
