/**
 * The analyses that run the model (PCA capture, routing, towers) run as "analysis" jobs
 * (analysis/analysis-job.ts): here the API starts one, or joins the identical one already
 * running (a second window, a reload), forwards its progress as analysis-progress events under
 * the caller's requestId, and hands back its result. cancelAnalysis cancels the job.
 */
import { readFile } from 'node:fs/promises';
import { isMotlabErrorCode, MotlabError } from '../common/errors.ts';
import { isActiveJobStatus } from '../common/vocabulary.ts';
import type { AnalysisName } from '../common/api/types.ts';
import type { AnalysisJobInput } from '../analysis/analysis-job.ts';
import { jobInputHash } from '../runs/jobs/kind.ts';
import type { JobEvent } from '../runs/jobs/manager.ts';
import type { ApiContext } from './context.ts';

interface Listener {
  analysis: AnalysisName;
  requestId: string;
}

export class AnalysisJobs {
  /** Job id → the requests waiting for it. */
  private readonly listeners = new Map<string, Listener[]>();
  /** requestId → job id. */
  private readonly jobOfRequest = new Map<string, string>();

  constructor(private readonly ctx: ApiContext) {}

  /** Run (or join) the analysis job and return its result.json's result. */
  async run<R>(runDir: string, input: AnalysisJobInput, analysis: AnalysisName, requestId?: string): Promise<R> {
    const hash = jobInputHash(input);
    const running = this.ctx.jobs
      .list(runDir)
      .find((j) => j.kind === 'analysis' && isActiveJobStatus(j.status) && jobInputHash(j.input) === hash);
    const job = running ?? this.ctx.jobs.start({ kind: 'analysis', input, runDir });
    if (requestId) {
      this.jobOfRequest.set(requestId, job.id);
      this.listeners.set(job.id, [...(this.listeners.get(job.id) ?? []), { analysis, requestId }]);
    }
    try {
      const done = await this.ctx.jobs.whenFinished(job.id);
      if (done.status === 'cancelled') throw new MotlabError('conflict', `the ${analysis} analysis was cancelled`);
      if (done.status !== 'completed' || !done.resultPath) {
        const error = done.error ?? { code: 'internal', message: done.message ?? 'the analysis job failed' };
        throw new MotlabError(isMotlabErrorCode(error.code) ? error.code : 'internal', error.message);
      }
      return (JSON.parse(await readFile(done.resultPath, 'utf8')) as { result: R }).result;
    } finally {
      if (requestId) this.jobOfRequest.delete(requestId);
    }
  }

  /** Progress of analysis jobs, as analysis-progress events of the requests waiting for them. */
  onJobEvent(event: JobEvent): void {
    if (event.job.kind !== 'analysis') return;
    const listeners = this.listeners.get(event.job.id) ?? [];
    if (event.type === 'job-progress')
      for (const l of listeners) this.ctx.emit({ type: 'analysis-progress', ...l, fraction: event.fraction, message: event.message ?? '' });
    if (event.type === 'job-status' && !isActiveJobStatus(event.job.status)) this.listeners.delete(event.job.id);
  }

  /** Cancel the job a request waits for (every request waiting for it then gets the cancellation). */
  cancel(requestId: string): boolean {
    const jobId = this.jobOfRequest.get(requestId);
    if (!jobId) return false;
    this.ctx.jobs.cancel(jobId);
    return true;
  }
}
