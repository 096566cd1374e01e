/**
 * Every job kind's runner, once: what the job child (`motlab job`) executes. The declarations
 * (name, input schema) are in api/job-kinds.ts; test/runs/jobs.test.ts checks both tables name
 * the same kinds, in the same order.
 */
import type { JobRunner } from '../runs/jobs/kind.ts';
import { analysisRunner } from '../analysis/analysis-runner.ts';
import { evaluateRunner } from '../runs/evaluate.ts';
import { trainRunner } from '../runs/train.ts';

export const JOB_RUNNERS: readonly JobRunner[] = [trainRunner, evaluateRunner, analysisRunner];
