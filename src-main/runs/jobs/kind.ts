/**
 * What a job kind is (docs/runs.md, "Adding a job kind"), in two parts:
 *
 * - its **declaration**: name, input schema, output folder. What the parent (the API) needs to
 *   validate and start a job; light on purpose (zod and the vocabulary), so that the app's main
 *   process never loads a job's code (the model, TensorFlow.js). Listed in api/job-kinds.ts.
 * - its **runner**: the `run` function executed in the job's child process, in the module where
 *   its code belongs (runs/, analysis/). Listed in cli/job-runners.ts, which only `motlab job`
 *   loads. test/runs/jobs.test.ts checks that the two tables name the same kinds.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { z } from 'zod';
import type { RunControl } from '../../common/vocabulary.ts';
import type { RunEvent } from '../run-events.ts';

/** What a running job gets besides its input. */
export interface JobContext {
  jobId: string;
  /** The run folder the job works on. */
  runDir: string;
  /** Where result.json goes (written by the host from `run`'s return value); the job may put other files here. */
  outputDir: string;
  /** Aborted when the job is cancelled: stop promptly (the host marks the job cancelled). */
  signal: AbortSignal;
  /** Report the fraction done (0–1) and what is happening. */
  progress(fraction: number, message?: string): void;
  /** Report a run event (training's metrics, checkpoints, statuses); the API forwards these as run events. */
  report(event: RunEvent): void;
  /**
   * Listen to pause / resume / stop. A kind that does not listen treats 'stop' (also sent on
   * SIGINT/SIGTERM and when the app quits) as a cancel.
   */
  onControl(listener: (action: RunControl) => void): void;
}

export interface JobKind<I = unknown> {
  /** Lowercase letters, digits and dashes: it names the folder of the results. */
  readonly name: string;
  /** Validates the input (in the parent before starting, and again in the child). */
  readonly input: z.ZodType<I>;
  /** Started only by the run service (startRun, continueRun), never through the API's startJob. */
  readonly internal?: boolean;
  /** The job's output folder; default `<run>/analyses/<kind>/<hash of the input>`. */
  outputDir?(runDir: string, input: I): string;
  /** Where the job process's output goes, inside the output folder (default job.log). */
  readonly logFile?: string;
}

export interface JobRunner<I = unknown, R = unknown> {
  readonly kind: JobKind<I>;
  /** Do the work; a returned value other than undefined is written atomically to `<outputDir>/result.json`. */
  run(input: I, ctx: JobContext): Promise<R | undefined>;
}

/** A declaration, its types taken from its schema. */
export function defineJobKind<S extends z.ZodType>(kind: JobKind<z.output<S>> & { input: S }): JobKind<z.output<S>> {
  return kind;
}

/** The runner of a declared kind, its input typed by the kind's schema. */
export function defineJobRunner<I, R>(kind: JobKind<I>, run: (input: I, ctx: JobContext) => Promise<R | undefined>): JobRunner<I, R> {
  return { kind, run };
}

export const RESULT_FILE = 'result.json';
const DEFAULT_LOG_FILE = 'job.log';
/** Hex digits of the input hash in an output folder's name. */
const INPUT_HASH_LENGTH = 16;

/** JSON with object keys sorted, so that equal inputs hash equally. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

export function jobInputHash(input: unknown): string {
  return createHash('sha256').update(canonicalJson(input)).digest('hex').slice(0, INPUT_HASH_LENGTH);
}

export function jobOutputDir<I>(kind: JobKind<I>, runDir: string, input: I): string {
  return kind.outputDir ? kind.outputDir(runDir, input) : join(runDir, 'analyses', kind.name, jobInputHash(input));
}

export function jobLogFile<I>(kind: JobKind<I>, runDir: string, input: I): string {
  return join(jobOutputDir(kind, runDir, input), kind.logFile ?? DEFAULT_LOG_FILE);
}
