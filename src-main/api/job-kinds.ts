/**
 * Every job kind's declaration, once: what the API validates and starts jobs from. Light on
 * purpose (the app's main process imports it): a kind's code is in its runner, listed in
 * cli/job-runners.ts. Adding a kind = a declaration and a runner, one entry here and one there
 * (docs/runs.md).
 */
import type { JobKind } from '../runs/jobs/kind.ts';
import { analysisJob } from '../analysis/analysis-job.ts';
import { evaluateJob } from '../runs/evaluate-job.ts';
import { trainJob } from '../runs/train-job.ts';

export const JOB_KINDS: readonly JobKind[] = [trainJob, evaluateJob, analysisJob];
