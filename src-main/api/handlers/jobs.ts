/** The jobs area of the API: long tasks on a run, each in a child process (runs/jobs/). */
import type { ApiHandlers } from '../../common/api/definition.ts';
import type { ApiEvent } from '../../common/api/types.ts';
import type { JobEvent } from '../../runs/jobs/manager.ts';
import { existingRunDir, runDirOf, type ApiContext } from '../context.ts';

export function jobHandlers(ctx: ApiContext): Pick<ApiHandlers, 'startJob' | 'cancelJob' | 'listJobs' | 'getJob'> {
  return {
    startJob: async ({ kind, run, input }) => ctx.jobs.start({ kind, input, runDir: existingRunDir(ctx, run) }),
    cancelJob: async ({ id }) => ctx.jobs.cancel(id),
    listJobs: async ({ run }) => ctx.jobs.list(run === undefined ? undefined : runDirOf(ctx, run)),
    getJob: async ({ id }) => ctx.jobs.get(id),
  };
}

/** A job's status and progress as API events (run events of training are the runs area's). */
export function jobApiEvent(event: JobEvent): ApiEvent | null {
  if (event.type === 'job-status') return { type: 'job-status', job: event.job };
  if (event.type === 'job-progress')
    return { type: 'job-progress', job: event.job.id, run: event.job.run, fraction: event.fraction, message: event.message };
  return null;
}
