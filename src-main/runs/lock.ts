/**
 * The run lock: `<run>/.lock` names the one process that may write the run (train, resume,
 * re-write checkpoints), so that a second writer is refused and a stop signal reaches the
 * trainer and nothing else.
 *
 * The lock file holds the owner's pid, its identity (on Linux the boot id and the process start
 * time from /proc/<pid>/stat, which together name one process for ever, unlike a pid that the
 * system hands out again), the host, a random nonce and when it was taken. It appears at once
 * and complete: written to a private file, then hard-linked to `.lock`, which fails if one
 * exists (the O_EXCL of links). A lock whose process is gone, or whose pid now belongs to
 * another process, is stale and is taken over; where no identity can be read (no /proc), a
 * live pid counts as the owner. A lock from another host cannot be checked from here and is
 * left alone. The PyTorch trainer takes the same lock (python/motlab_torch/lock.py). docs/runs.md
 * has the whole story.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { MotlabError } from '../common/errors.ts';
import { fsyncDir } from '../checkpoints/atomic.ts';

export const LOCK_FILE = '.lock';
/** Held for milliseconds while a stale lock is replaced; one older than this was left by a kill. */
const BREAK_GUARD_STALE_MS = 10_000;
/** Attempts to take the lock when others take and break it at the same moment. */
const ACQUIRE_ATTEMPTS = 5;

const lockHolderSchema = z.object({
  pid: z.number().int().positive(),
  identity: z.string().nullable(),
  host: z.string(),
  nonce: z.string().min(1),
  since: z.string(),
  purpose: z.string(),
});
export type LockHolder = z.infer<typeof lockHolderSchema>;

export type LockState =
  | { state: 'free' }
  /** A live process owns the run. */
  | { state: 'held'; holder: LockHolder }
  /** The owner is gone (or the file is unreadable): the next writer takes over. */
  | { state: 'stale'; holder: LockHolder | null; reason: string }
  /** Taken on another host: nothing here can tell whether it still trains. */
  | { state: 'foreign'; holder: LockHolder };

/**
 * What names process `pid` beyond its number: `<boot id>/<start time in clock ticks>` on Linux,
 * null where /proc is not there to ask, undefined when there is no such process.
 */
export function processIdentity(pid: number): string | null | undefined {
  let stat: string;
  let bootId: string;
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces; field 22 is the start time.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return `${bootId}/${fields[22 - 3]}`;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why `holder` no longer owns its run, or null when it does. */
function whyGone(holder: LockHolder): string | null {
  if (!pidExists(holder.pid)) return `process ${holder.pid} has ended`;
  if (holder.identity === null) return null;
  const now = processIdentity(holder.pid);
  if (now === undefined) return `process ${holder.pid} has ended`;
  if (now !== null && now !== holder.identity) return `pid ${holder.pid} now belongs to another process`;
  return null;
}

async function readHolder(file: string): Promise<LockHolder | null | 'missing'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw e;
  }
  try {
    const parsed = lockHolderSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Who owns the run in `runDir`, if anyone (reads only). */
export async function inspectRunLock(runDir: string): Promise<LockState> {
  const holder = await readHolder(join(runDir, LOCK_FILE));
  if (holder === 'missing') return { state: 'free' };
  if (holder === null) return { state: 'stale', holder: null, reason: `${join(runDir, LOCK_FILE)} is unreadable` };
  if (holder.host !== hostname()) return { state: 'foreign', holder };
  const reason = whyGone(holder);
  return reason === null ? { state: 'held', holder } : { state: 'stale', holder, reason };
}

/**
 * A run whose run.json says a process trains it but that has no lock file was written by a
 * trainer that takes no lock (an earlier lab or PyTorch trainer): run.json's pid is all there
 * is to go on, and only whether such a process exists can be checked. The lab shows such a run
 * as training and refuses to write it, but never signals that pid.
 */
export function unlockedTrainerAlive(lock: LockState, runJsonPid: number | undefined): boolean {
  return lock.state === 'free' && runJsonPid !== undefined && runJsonPid !== process.pid && pidExists(runJsonPid);
}

/** The run's lock, held by this process until `release`. */
export class RunLock {
  constructor(
    readonly runDir: string,
    readonly holder: LockHolder,
  ) {}

  /** Remove the lock file if it is still ours. */
  async release(): Promise<void> {
    const file = join(this.runDir, LOCK_FILE);
    const current = await readHolder(file);
    if (current !== 'missing' && current?.nonce === this.holder.nonce) await unlink(file).catch(() => undefined);
  }
}

/** Link a complete lock file into place; false when one is there already. */
async function tryCreate(file: string, holder: LockHolder): Promise<boolean> {
  const temp = `${file}.${holder.pid}.${holder.nonce}`;
  await writeFile(temp, JSON.stringify(holder) + '\n', { flag: 'wx' });
  try {
    await link(temp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/**
 * Remove a stale lock, but only the one that was judged stale (matched by nonce): two processes
 * breaking it at once take turns through a guard file, so neither removes a fresh lock.
 */
async function breakStaleLock(file: string, staleNonce: string | null): Promise<void> {
  const guard = `${file}.break`;
  let handle;
  try {
    handle = await open(guard, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const age =
      Date.now() -
      (await stat(guard).then(
        (s) => s.mtimeMs,
        () => Date.now(),
      ));
    if (age > BREAK_GUARD_STALE_MS) await unlink(guard).catch(() => undefined);
    return;
  }
  try {
    const current = await readHolder(file);
    if (current !== 'missing' && (current?.nonce ?? null) === staleNonce) await unlink(file);
  } finally {
    await handle.close();
    await unlink(guard).catch(() => undefined);
  }
}

export function ownerDescription(holder: LockHolder): string {
  return `process ${holder.pid} on ${holder.host} (${holder.purpose}, since ${holder.since})`;
}

/**
 * Take the run's lock for `purpose` (e.g. "train"), taking over a stale one. A MotlabError
 * 'conflict' when a live process, or one on another host, holds it.
 */
export async function acquireRunLock(runDir: string, purpose: string): Promise<RunLock> {
  const file = join(runDir, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    identity: processIdentity(process.pid) ?? null,
    host: hostname(),
    nonce: randomBytes(8).toString('hex'),
    since: new Date().toISOString(),
    purpose,
  };
  for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
    if (await tryCreate(file, holder)) {
      await fsyncDir(runDir);
      return new RunLock(runDir, holder);
    }
    const current = await inspectRunLock(runDir);
    if (current.state === 'held')
      throw new MotlabError('conflict', `${runDir} is already being trained by ${ownerDescription(current.holder)}; stop it first`);
    if (current.state === 'foreign')
      throw new MotlabError(
        'conflict',
        `${runDir} is locked by ${ownerDescription(current.holder)}, which cannot be checked from ${hostname()}; ` +
          `if nothing trains it there any more, delete ${file}`,
      );
    if (current.state === 'stale') await breakStaleLock(file, current.holder?.nonce ?? null);
  }
  throw new MotlabError('conflict', `${runDir}: could not take ${file} (other processes keep taking it)`);
}

/**
 * Send `signal` to the process that owns the run, after checking that it is still that process
 * (never to a process that inherited a stale pid). The holder signalled, or null when none.
 */
export async function signalRunOwner(runDir: string, signal: NodeJS.Signals): Promise<LockHolder | null> {
  const lock = await inspectRunLock(runDir);
  if (lock.state !== 'held') return null;
  process.kill(lock.holder.pid, signal);
  return lock.holder;
}
