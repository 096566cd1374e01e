/**
 * Every job kind, once: the table the API starts jobs from and the job child (`motlab job`)
 * runs them from. Adding a kind = one file defining it (defineJobKind, runs/jobs/kind.ts) + one
 * entry here (docs/runs.md).
 */
import type { JobKind } from '../runs/jobs/kind.ts';
import { evaluateJob } from '../runs/evaluate-job.ts';
import { trainJob } from '../runs/train-job.ts';

export const JOB_KINDS: readonly JobKind[] = [trainJob, evaluateJob];
