/**
 * The run lock with real processes: one writer at a time, a lock left by a dead process or by a
 * pid that now belongs to another process is taken over and never signalled, a lock from
 * another host is left alone, and racing takers of a stale lock end with exactly one owner.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MotlabError } from '../../src-main/common/errors.ts';
import { isAlive } from '../training/helpers.ts';
import { acquireRunLock, inspectRunLock, LOCK_FILE, processIdentity, signalRunOwner, type LockHolder } from '../../src-main/runs/lock.ts';
import { inferRunStatus } from '../../src-main/runs/status.ts';

const root = mkdtempSync(join(tmpdir(), 'motlab-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = () => mkdtempSync(join(root, `run-${counter++}-`));
const linux = process.platform === 'linux';

function writeLock(dir: string, holder: Partial<LockHolder>): void {
  const full: LockHolder = {
    pid: 1,
    identity: null,
    host: hostname(),
    nonce: 'n0',
    since: new Date().toISOString(),
    purpose: 'train',
    ...holder,
  };
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(full));
}

/** The pid of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

const conflict = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof MotlabError, String(e));
  assert.equal(e.code, 'conflict');
  assert.match(e.message, pattern);
  return true;
};

test('one writer at a time: a second taker is refused until the lock is released', async () => {
  const dir = freshDir();
  const lock = await acquireRunLock(dir, 'train');
  const seen = await inspectRunLock(dir);
  assert.equal(seen.state, 'held');
  assert.equal(seen.state === 'held' && seen.holder.pid, process.pid);
  if (linux) assert.equal(lock.holder.identity, processIdentity(process.pid));
  await assert.rejects(acquireRunLock(dir, 'train'), conflict(new RegExp(`already being trained by process ${process.pid} on `)));
  await lock.release();
  assert.deepEqual(await inspectRunLock(dir), { state: 'free' });
  await (await acquireRunLock(dir, 'train')).release();
  assert.deepEqual(readdirSync(dir), [], 'no lock or temporary file is left');
});

test('a lock left by a process that has ended is taken over', async () => {
  const dir = freshDir();
  const pid = deadPid();
  writeLock(dir, { pid, identity: linux ? 'some-boot/123' : null });
  const seen = await inspectRunLock(dir);
  assert.equal(seen.state, 'stale');
  assert.match(seen.state === 'stale' ? seen.reason : '', new RegExp(`process ${pid} has ended`));
  const lock = await acquireRunLock(dir, 'train');
  assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).nonce, lock.holder.nonce);
  await lock.release();
});

test('a pid that now belongs to another process is not the owner and is never signalled', { skip: !linux && 'needs /proc' }, async () => {
  const dir = freshDir();
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => other.once('spawn', r));
    // The same pid with another start time: what a reused pid looks like.
    writeLock(dir, { pid: other.pid!, identity: `${processIdentity(other.pid!)}0` });
    const seen = await inspectRunLock(dir);
    assert.equal(seen.state, 'stale');
    assert.match(seen.state === 'stale' ? seen.reason : '', /now belongs to another process/);
    assert.equal(await signalRunOwner(dir, 'SIGTERM'), null);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(isAlive(other.pid!), 'the unrelated process was not signalled');

    // The lock naming that very process: it is the owner, and the signal reaches it.
    writeLock(dir, { pid: other.pid!, identity: processIdentity(other.pid!)! });
    assert.equal((await inspectRunLock(dir)).state, 'held');
    const exited = new Promise((r) => other.once('exit', (_code, signal) => r(signal)));
    assert.equal((await signalRunOwner(dir, 'SIGTERM'))?.pid, other.pid);
    assert.equal(await exited, 'SIGTERM');
  } finally {
    other.kill('SIGKILL');
  }
});

test('a lock from another host is left alone; an unreadable one is replaced', async () => {
  const dir = freshDir();
  writeLock(dir, { host: 'elsewhere.example', pid: process.pid });
  assert.equal((await inspectRunLock(dir)).state, 'foreign');
  await assert.rejects(
    acquireRunLock(dir, 'train'),
    conflict(/process \d+ on elsewhere\.example .* if nothing trains it there any more, delete .*\.lock/),
  );
  assert.match(readFileSync(join(dir, LOCK_FILE), 'utf8'), /elsewhere\.example/, 'the foreign lock is untouched');

  writeFileSync(join(dir, LOCK_FILE), '{"pid": ');
  assert.equal((await inspectRunLock(dir)).state, 'stale');
  await (await acquireRunLock(dir, 'train')).release();
});

test('takers racing for a stale lock end with exactly one owner', async () => {
  for (let round = 0; round < 5; round++) {
    const dir = freshDir();
    writeLock(dir, { pid: deadPid() });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => acquireRunLock(dir, 'train')));
    const owners = results.filter((r) => r.status === 'fulfilled');
    assert.equal(
      owners.length,
      1,
      `round ${round}: ${results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'owner')).join(' | ')}`,
    );
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof MotlabError && r.reason.code === 'conflict');
    const owner = (owners[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireRunLock>>>).value;
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).nonce, owner.holder.nonce);
    await owner.release();
  }
});

test('status: the lock decides; a run without a lock file (another trainer) is judged by its pid', async () => {
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => other.once('spawn', r));
    const dir = freshDir();
    const running = { status: 'running' as const, pid: other.pid! };
    // No lock file: a trainer that takes none (the PyTorch trainer) — its live pid counts.
    assert.equal(inferRunStatus(running, await inspectRunLock(dir)).status, 'running');
    assert.equal(inferRunStatus({ ...running, pid: deadPid() }, await inspectRunLock(dir)).status, 'interrupted');
    // A lock file left behind names another process: the run is interrupted, whatever run.json's pid.
    writeLock(dir, { pid: deadPid() });
    assert.deepEqual(inferRunStatus(running, await inspectRunLock(dir)), {
      status: 'interrupted',
      message: 'The training process ended without finishing; continue it from its last checkpoint.',
    });
    assert.equal(inferRunStatus({ status: 'created' }, await inspectRunLock(dir)).status, 'interrupted');
    assert.equal(
      inferRunStatus({ status: 'stopped', message: 'stopped at step 4 of 9' }, await inspectRunLock(dir)).message,
      'stopped at step 4 of 9',
    );
    assert.equal(
      inferRunStatus(running, await inspectRunLock(dir), { status: 'paused' }).status,
      'paused',
      'a live job of this process has the last word',
    );
  } finally {
    other.kill('SIGKILL');
  }
});
