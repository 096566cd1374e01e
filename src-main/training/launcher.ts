/**
 * Starts training processes and talks to them. Training runs in a child process (the CLI's
 * `motlab train`, forked with an IPC channel) so the UI process stays responsive and a run
 * outlives a closed window. Control protocol (both directions) is described in the type
 * definitions below; everything a child reports is also on disk in its run folder.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsRecord } from '../common/metrics.ts';
import type { RunStatus } from '../common/vocabulary.ts';

/** Parent → child. `stop` = write a checkpoint, set status 'stopped', exit 0. */
export type ControlMessage = { type: 'pause' } | { type: 'resume' } | { type: 'stop' };

/** Child → parent ('created' on the wire is reported as 'starting'). */
export type ChildMessage =
  | { type: 'metrics'; record: MetricsRecord }
  | { type: 'status'; status: Exclude<RunStatus, 'interrupted'>; message?: string }
  | { type: 'checkpoint'; step: number }
  | { type: 'engine'; name: string; detail: string };

export type LaunchEvent = ChildMessage | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null };

export interface LauncherOptions {
  /** The CLI entry to fork (bin/motlab.mjs, or a bundled CLI in the packaged app). */
  cliPath: string;
  /** Runtime to run it with: defaults to this process's (Electron sets ELECTRON_RUN_AS_NODE). */
  execPath?: string;
  env?: NodeJS.ProcessEnv;
  onEvent: (key: string, event: LaunchEvent) => void;
}

interface Child {
  process: ChildProcess;
  status: RunStatus;
  message?: string;
  engine?: string;
  exited: Promise<void>;
  /** Control messages sent before the child said anything (it may not be listening yet). */
  queued: ControlMessage[] | null;
}

export class TrainingLauncher {
  private readonly children = new Map<string, Child>();

  constructor(private readonly options: LauncherOptions) {}

  /** Fork `motlab train <args>`; stdout and stderr go to <logDir>/train.log. */
  start(key: string, args: string[], logDir: string): void {
    if (this.children.has(key)) throw new Error(`run ${key} already has a training process`);
    mkdirSync(logDir, { recursive: true });
    const logFd = openSync(join(logDir, 'train.log'), 'a');
    const child = fork(this.options.cliPath, ['train', ...args], {
      execPath: this.options.execPath,
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', logFd, logFd, 'ipc'],
      // Not detached: when the server is stopped with Ctrl+C, the children get SIGINT too and
      // checkpoint themselves.
    });
    closeSync(logFd);
    let resolveExit!: () => void;
    const entry: Child = { process: child, status: 'starting', exited: new Promise((r) => (resolveExit = r)), queued: [] };
    this.children.set(key, entry);
    child.on('message', (raw: unknown) => {
      let message = raw as ChildMessage;
      if (!message || typeof message !== 'object' || !('type' in message)) return;
      if (entry.queued) {
        const queued = entry.queued;
        entry.queued = null;
        for (const m of queued) if (child.connected) child.send(m);
      }
      if (message.type === 'status') {
        if ((message.status as string) === 'created') message = { ...message, status: 'starting' };
        entry.status = message.status;
        entry.message = message.message;
      }
      if (message.type === 'engine') entry.engine = message.name;
      this.options.onEvent(key, message);
    });
    child.on('error', (error) => {
      entry.message = error.message;
      if (child.pid === undefined && this.children.get(key) === entry) {
        // Never started (e.g. the runtime is missing): report it as an exit.
        this.children.delete(key);
        resolveExit();
        this.options.onEvent(key, { type: 'status', status: 'failed', message: `Could not start training: ${error.message}` });
        this.options.onEvent(key, { type: 'exit', code: null, signal: null });
      }
    });
    child.on('exit', (code, signal) => {
      this.children.delete(key);
      resolveExit();
      this.options.onEvent(key, { type: 'exit', code, signal });
    });
  }

  /** How many training processes are alive. */
  get size(): number {
    return this.children.size;
  }

  has(key: string): boolean {
    return this.children.has(key);
  }

  /**
   * A child that reported a final status (stopped, completed, failed) exits moments later: wait
   * for that (bounded) so that "continue" right after "stopped" does not see it as training.
   */
  async settle(key: string, timeoutMs = 15_000): Promise<void> {
    const c = this.children.get(key);
    if (!c || !['stopped', 'completed', 'failed'].includes(c.status)) return;
    await Promise.race([c.exited, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Last status the child reported ('starting' before its first message). */
  statusOf(key: string): { status: RunStatus; message?: string; pid?: number } | undefined {
    const c = this.children.get(key);
    return c && { status: c.status, message: c.message, pid: c.process.pid };
  }

  send(key: string, message: ControlMessage): boolean {
    const c = this.children.get(key);
    if (!c || !c.process.connected) return false;
    if (c.queued) c.queued.push(message);
    else c.process.send(message);
    return true;
  }

  /** Ask every child to stop (each writes a checkpoint); SIGKILL what is left after `graceMs`. */
  async stopAll(graceMs = 30_000): Promise<void> {
    const all = [...this.children.values()];
    for (const c of all) {
      if (c.process.connected) c.process.send({ type: 'stop' } satisfies ControlMessage);
      else c.process.kill('SIGTERM');
    }
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    const done = await Promise.race([Promise.all(all.map((c) => c.exited)), timeout]);
    if (done === 'timeout') for (const c of all) c.process.kill('SIGKILL');
    await Promise.all(all.map((c) => c.exited));
  }
}
