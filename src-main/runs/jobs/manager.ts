/**
 * The parent side of jobs: starts each job as a `motlab job` child process, follows it through
 * the protocol (protocol.ts), cancels it, and keeps the list. Owned by the app's main process or
 * by `motlab serve`, not by a window: a window that closes and comes back finds its jobs by id.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { isActiveJobStatus, type RunControl } from '../../common/vocabulary.ts';
import type { JobInfo } from '../../common/api/types.ts';
import type { RunEvent } from '../run-events.ts';
import { jobLogFile, type JobKind } from './kind.ts';
import { findJobKind, parseJobInput } from './host.ts';
import { isChildMessage, type ChildMessage, type ParentMessage } from './protocol.ts';

/** How long a cancelled job may take to end on its own before it is killed. */
export const CANCEL_GRACE_MS = 3_000;
/** How long jobs asked to stop (the app quits) may take to write their checkpoints. */
const STOP_ALL_GRACE_MS = 30_000;
/** A job that reported its end exits moments later; wait at most this long for it. */
const SETTLE_TIMEOUT_MS = 15_000;
/** Finished jobs kept in the list (the oldest go first). */
const FINISHED_JOBS_KEPT = 200;

export interface JobManagerOptions {
  /** The CLI entry to fork as `motlab job` (bin/motlab.mjs, or the bundled CLI of the packaged app). */
  cliPath: string;
  /** Runtime to run it with: defaults to this process's (Electron sets ELECTRON_RUN_AS_NODE). */
  execPath?: string;
  env?: NodeJS.ProcessEnv;
  kinds: readonly JobKind[];
  onEvent(event: JobEvent): void;
}

export type JobEvent =
  | { type: 'job-status'; job: JobInfo; runDir: string }
  | { type: 'job-progress'; job: JobInfo; runDir: string; fraction: number; message?: string }
  | { type: 'run-event'; job: JobInfo; runDir: string; event: RunEvent };

export interface StartJobRequest {
  kind: string;
  input: unknown;
  runDir: string;
  /** For the run service's own kinds (training). */
  allowInternal?: boolean;
}

interface Job {
  info: JobInfo;
  runDir: string;
  process: ChildProcess;
  /** Messages for the child until it says ready. */
  queued: ParentMessage[] | null;
  exited: Promise<void>;
  /** Resolved with the final record when the job ends (completed, failed or cancelled). */
  finished: Promise<JobInfo>;
  markFinished(info: JobInfo): void;
  alive: boolean;
  cancelRequested: boolean;
}

export class JobManager {
  private readonly jobs = new Map<string, Job>();

  constructor(private readonly options: JobManagerOptions) {}

  /** Validate and start a job; its status and progress arrive through `onEvent`. */
  start(request: StartJobRequest): JobInfo {
    const kind = findJobKind(this.options.kinds, request.kind);
    if (kind.internal && !request.allowInternal)
      throw new MotlabError('invalid_request', `"${kind.name}" jobs are started by the run service (startRun, continueRun)`);
    const input = parseJobInput(kind, request.input);
    const id = `${kind.name}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const info: JobInfo = {
      id,
      kind: kind.name,
      run: basename(request.runDir),
      status: 'starting',
      progress: null,
      input: input as Record<string, unknown>,
      started: new Date().toISOString(),
    };
    const child = this.fork(jobLogFile(kind, request.runDir, input));
    info.pid = child.pid;
    let exited!: () => void;
    let finished!: (info: JobInfo) => void;
    const job: Job = {
      info,
      runDir: request.runDir,
      process: child,
      queued: [{ type: 'start', job: { id, kind: kind.name, input, runDir: request.runDir } }],
      exited: new Promise((r) => (exited = r)),
      finished: new Promise((r) => (finished = r)),
      markFinished: (info) => finished(info),
      alive: true,
      cancelRequested: false,
    };
    this.jobs.set(id, job);
    child.on('message', (raw: unknown) => isChildMessage(raw) && this.onMessage(job, raw));
    child.on('error', (error) => {
      if (child.pid === undefined) this.onExit(job, null, null, `could not start the job process: ${error.message}`, exited);
    });
    // 'close', not 'exit': it comes once the IPC channel is closed too, so every message has arrived.
    child.on('close', (code, signal) => this.onExit(job, code, signal, undefined, exited));
    this.emitStatus(job);
    return { ...info };
  }

  /** `motlab job`, its output appended to `logFile`. */
  private fork(logFile: string): ChildProcess {
    mkdirSync(dirname(logFile), { recursive: true });
    const logFd = openSync(logFile, 'a');
    try {
      return fork(this.options.cliPath, ['job'], {
        execPath: this.options.execPath,
        env: { ...process.env, ...this.options.env },
        stdio: ['ignore', logFd, logFd, 'ipc'],
        // Not detached: when the server is stopped with Ctrl+C, the children get SIGINT too and
        // end properly (training writes a checkpoint).
      });
    } finally {
      closeSync(logFd);
    }
  }

  private onMessage(job: Job, message: ChildMessage): void {
    const { info } = job;
    switch (message.type) {
      case 'ready': {
        const queued = job.queued ?? [];
        job.queued = null;
        for (const m of queued) this.send(job, m);
        info.status = 'running';
        return this.emitStatus(job);
      }
      case 'progress':
        info.progress = message.fraction;
        if (message.message !== undefined) info.message = message.message;
        return this.options.onEvent({
          type: 'job-progress',
          job: { ...info },
          runDir: job.runDir,
          fraction: message.fraction,
          message: message.message,
        });
      case 'run-event':
        return this.options.onEvent({ type: 'run-event', job: { ...info }, runDir: job.runDir, event: message.event });
      case 'finished':
        return this.finish(job, {
          status: message.outcome.status,
          message: message.outcome.message ?? info.message,
          resultPath: message.outcome.resultPath ?? undefined,
          ...(message.outcome.status === 'completed' ? { progress: 1 } : {}),
        });
      case 'failed':
        return this.finish(job, { status: 'failed', message: message.error.message, error: message.error });
    }
  }

  private finish(job: Job, patch: Partial<JobInfo>): void {
    if (!isActiveJobStatus(job.info.status)) return;
    Object.assign(job.info, patch, { finished: new Date().toISOString() });
    delete job.info.pid;
    this.emitStatus(job);
    job.markFinished({ ...job.info });
    this.forgetOldJobs();
  }

  private onExit(job: Job, code: number | null, signal: NodeJS.Signals | null, why: string | undefined, exited: () => void): void {
    if (isActiveJobStatus(job.info.status)) {
      // Ended without its last word: killed after a cancel, or crashed.
      if (job.cancelRequested) this.finish(job, { status: 'cancelled', message: 'cancelled' });
      else {
        const message = why ?? `the job process ended (${signal ? `signal ${signal}` : `exit code ${code}`}) before finishing`;
        this.finish(job, { status: 'failed', message, error: { code: 'internal', message } });
      }
    }
    job.alive = false;
    exited();
  }

  private send(job: Job, message: ParentMessage): boolean {
    if (job.queued) {
      job.queued.push(message);
      return true;
    }
    if (!job.process.connected) return false;
    job.process.send(message, undefined, undefined, () => undefined);
    return true;
  }

  private emitStatus(job: Job): void {
    this.options.onEvent({ type: 'job-status', job: { ...job.info }, runDir: job.runDir });
  }

  private forgetOldJobs(): void {
    const finished = [...this.jobs.values()].filter((j) => !isActiveJobStatus(j.info.status));
    for (const job of finished.slice(0, Math.max(0, finished.length - FINISHED_JOBS_KEPT))) this.jobs.delete(job.info.id);
  }

  private job(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new MotlabError('not_found', `No job "${id}" (jobs are listed by listJobs)`);
    return job;
  }

  get(id: string): JobInfo {
    return { ...this.job(id).info };
  }

  /** Newest first; only those of `runDir` when given. */
  list(runDir?: string): JobInfo[] {
    return [...this.jobs.values()]
      .filter((j) => runDir === undefined || j.runDir === runDir)
      .map((j) => ({ ...j.info }))
      .reverse();
  }

  /** The active job of `kind` on `runDir`, if any. */
  activeFor(runDir: string, kind: string): JobInfo | undefined {
    const job = [...this.jobs.values()].find((j) => j.runDir === runDir && j.info.kind === kind && j.alive);
    return job && { ...job.info };
  }

  /** Cancel: the job is told to stop at once, and killed if it has not ended after CANCEL_GRACE_MS. */
  cancel(id: string): JobInfo {
    const job = this.job(id);
    if (!isActiveJobStatus(job.info.status)) return { ...job.info };
    job.cancelRequested = true;
    if (!this.send(job, { type: 'cancel' })) job.process.kill('SIGKILL');
    const timer = setTimeout(() => job.process.kill('SIGKILL'), CANCEL_GRACE_MS);
    timer.unref();
    void job.exited.then(() => clearTimeout(timer));
    return { ...job.info };
  }

  /** Pause, resume or stop a job (training); false when it is not running. */
  control(id: string, action: RunControl): boolean {
    const job = this.job(id);
    return isActiveJobStatus(job.info.status) && this.send(job, { type: 'control', action });
  }

  /** The job's final record, once it has ended (completed, failed or cancelled). */
  whenFinished(id: string): Promise<JobInfo> {
    return this.job(id).finished;
  }

  /** Wait (bounded) for a job that reported its end to exit. */
  async settle(id: string): Promise<void> {
    const job = this.jobs.get(id);
    if (!job) return;
    await Promise.race([job.exited, new Promise((r) => setTimeout(r, SETTLE_TIMEOUT_MS).unref())]);
  }

  /** Jobs (of `kind`, or all) whose process is alive. */
  activeCount(kind?: string): number {
    return [...this.jobs.values()].filter((j) => j.alive && (kind === undefined || j.info.kind === kind)).length;
  }

  /** Ask every job to stop (training writes a checkpoint; others cancel); kill what is left after `graceMs`. */
  async stopAll(graceMs = STOP_ALL_GRACE_MS): Promise<void> {
    const alive = [...this.jobs.values()].filter((j) => j.alive);
    for (const job of alive) if (!this.send(job, { type: 'control', action: 'stop' })) job.process.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([Promise.all(alive.map((j) => j.exited)), timeout])) === 'timeout')
      for (const job of alive) job.process.kill('SIGKILL');
    await Promise.all(alive.map((j) => j.exited));
  }
}
