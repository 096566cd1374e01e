/**
 * Running one job, wherever it runs: in a job child (child.ts) or in the process that asks for it
 * (the CLI). Validates the input with the kind's schema, hands the kind its context, and writes
 * the kind's result atomically to `<outputDir>/result.json`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { parseOrThrow } from '../../common/validate.ts';
import type { RunControl } from '../../common/vocabulary.ts';
import { writeFileAtomic } from '../../checkpoints/atomic.ts';
import type { RunEvent } from '../run-events.ts';
import { jobOutputDir, RESULT_FILE, type JobContext, type JobKind, type JobRunner } from './kind.ts';
import type { JobOutcome, JobSpec } from './protocol.ts';

/** pause / resume / stop for a job; with no listener, 'stop' cancels. */
export class JobControls {
  private readonly listeners: ((action: RunControl) => void)[] = [];
  constructor(private readonly abort: AbortController) {}

  listen(listener: (action: RunControl) => void): void {
    this.listeners.push(listener);
  }

  dispatch(action: RunControl): void {
    if (this.listeners.length > 0) for (const listener of this.listeners) listener(action);
    else if (action === 'stop') this.abort.abort();
  }
}

export interface JobHooks {
  abort: AbortController;
  controls: JobControls;
  progress(fraction: number, message?: string): void;
  report(event: RunEvent): void;
}

/** The kind called `name`, or a MotlabError listing the kinds there are. */
export function findJobKind(kinds: readonly JobKind[], name: string): JobKind {
  const kind = kinds.find((k) => k.name === name);
  if (!kind) throw new MotlabError('invalid_request', `No job kind "${name}" (kinds: ${kinds.map((k) => k.name).join(', ')})`);
  return kind;
}

export function parseJobInput(kind: JobKind, input: unknown): unknown {
  return parseOrThrow(kind.input, input, `${kind.name} job input`, 'invalid_request');
}

export async function runJob(runners: readonly JobRunner[], spec: JobSpec, hooks: JobHooks): Promise<JobOutcome> {
  const kind = findJobKind(
    runners.map((r) => r.kind),
    spec.kind,
  );
  const runner = runners.find((r) => r.kind === kind)!;
  const input = parseJobInput(kind, spec.input);
  const outputDir = jobOutputDir(kind, spec.runDir, input);
  await mkdir(outputDir, { recursive: true });
  let lastMessage: string | undefined;
  const ctx: JobContext = {
    jobId: spec.id,
    runDir: spec.runDir,
    outputDir,
    signal: hooks.abort.signal,
    progress: (fraction, message) => {
      lastMessage = message ?? lastMessage;
      hooks.progress(Math.min(1, Math.max(0, fraction)), message);
    },
    report: hooks.report,
    onControl: (listener) => hooks.controls.listen(listener),
  };
  let result: unknown;
  try {
    result = await runner.run(input, ctx);
  } catch (error) {
    if (hooks.abort.signal.aborted) return { status: 'cancelled', resultPath: null, message: 'cancelled' };
    throw error;
  }
  if (hooks.abort.signal.aborted) return { status: 'cancelled', resultPath: null, message: 'cancelled' };
  if (result === undefined) return { status: 'completed', resultPath: null, message: lastMessage };
  const resultPath = join(outputDir, RESULT_FILE);
  const file = { format: 'motlab-job-result', kind: kind.name, input, finished: new Date().toISOString(), result };
  await writeFileAtomic(resultPath, JSON.stringify(file, null, 2) + '\n');
  return { status: 'completed', resultPath, message: lastMessage };
}
