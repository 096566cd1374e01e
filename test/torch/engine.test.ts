/**
 * The torch engine from the lab: `motlab train --engine torch` starts the PyTorch trainer (found
 * past a python3 without torch on PATH), with N processes, and its losses are those of the
 * trainer run directly; no Python with torch is one clear line; the trainer takes the lab's run
 * lock (a second writer, the lab's or its own, is refused; the lab stops it through the lock; a
 * stale lock is taken over); a run folder written by an outside PyTorch process appears in the
 * API and updates live, and one synced from another host shows as training; `motlab
 * torch-command` prints the torchrun plan.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { acquireRunLock, inspectRunLock, LOCK_FILE, processIdentity } from '../../src-main/runs/lock.ts';
import { clientFor, startTestServer } from '../api/harness.ts';
import { isAlive, MOTLAB } from '../training/helpers.ts';
import { motlab, PYTHON, readJson, recordsOf, REPO, torchAvailable, torchTrain } from './helpers.ts';

const skip = torchAvailable ? false : 'python3-torch is not installed (apt-get install python3-torch)';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-torch-engine-'));
const data = path.join(root, 'data');
/** A directory whose python3 cannot import torch (site-packages off), put first on PATH. */
const noTorchBin = path.join(root, 'bin');
const noTorchPython = path.join(noTorchBin, 'python3');
after(() => rmSync(root, { recursive: true, force: true }));
before(() => {
  mkdirSync(noTorchBin);
  writeFileSync(noTorchPython, `#!/bin/sh\nexec ${PYTHON} -S "$@"\n`);
  chmodSync(noTorchPython, 0o755);
  if (skip) return;
  const r = motlab(['data', 'synth', '--out', data, '--tokens', '20000', '--seed', '2']);
  assert.equal(r.status, 0, r.stderr);
});

const pathWithoutTorchFirst: NodeJS.ProcessEnv = { ...process.env, PATH: `${noTorchBin}${path.delimiter}${process.env.PATH}` };
delete pathWithoutTorchFirst.MOTLAB_PYTHON;

function lab(args: string[], env: NodeJS.ProcessEnv = pathWithoutTorchFirst) {
  const r = spawnSync(process.execPath, [MOTLAB, ...args], { encoding: 'utf8', env, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `lab` without blocking this process (the API server of a test runs in it). */
function labAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MOTLAB, ...args], { env: pathWithoutTorchFirst, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

function configFile(name: string, content: object): string {
  const file = path.join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test(
  'motlab train --engine torch --nproc 2: the losses of the PyTorch trainer run directly, past a python3 without torch',
  { skip },
  () => {
    const cfg = configFile('short', { preset: 'mot', size: 'tiny', training: { steps: 4, checkpoint_every: 2, eval_every: 2 } });
    const viaLab = path.join(root, 'via-lab');
    const r = lab(['train', '--engine', 'torch', '--nproc', '2', '--threads', '1', '--config', cfg, '--data', data, '--out', viaLab]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`training with PyTorch \\S+ on cpu \\(${PYTHON}`), 'the python3 without torch was passed over');
    assert.match(r.stdout, /engine: torch \(PyTorch .* 2 processes \(DDP over gloo\)/);
    assert.match(r.stdout, /completed/);
    const run = readJson(path.join(viaLab, 'run.json'));
    assert.equal(run.engine, 'torch');
    assert.equal(run.status, 'completed');
    assert.ok(!existsSync(path.join(viaLab, LOCK_FILE)), 'the trainer released the run lock');
    assert.ok(existsSync(path.join(viaLab, 'checkpoints', 'step-000004', 'optimizer.safetensors')));

    const direct = path.join(root, 'direct');
    const d = torchTrain(['--config', cfg, '--data', data, '--out', direct]);
    assert.equal(d.status, 0, d.stderr);
    const a = recordsOf(viaLab);
    const b = recordsOf(direct);
    assert.deepEqual([...a.train.keys()], [1, 2, 3, 4]);
    for (const [step, record] of b.train) {
      const other = a.train.get(step)!;
      for (const [k, v] of Object.entries(record.loss))
        assert.ok(Math.abs((other.loss[k] as number) - (v as number)) <= 1e-5, `step ${step} ${k}: ${other.loss[k]} vs ${v}`);
    }
  },
);

test('no Python with PyTorch: one clear line, nothing created; torch is refused where it cannot run', () => {
  const out = path.join(root, 'never');
  const r = lab(['train', '--engine', 'torch', '--python', noTorchPython, '--config', 'mot', '--data', data, '--out', out]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--python names .*python3, which cannot import PyTorch \(ModuleNotFoundError: No module named '(numpy|torch)'\)/);
  assert.ok(!existsSync(out));
  const env = { ...pathWithoutTorchFirst, MOTLAB_PYTHON: path.join(root, 'no-such-python') };
  const viaEnv = lab(['train', '--engine', 'torch', '--config', 'mot', '--data', data, '--out', out], env);
  assert.equal(viaEnv.status, 1);
  assert.match(viaEnv.stderr, /\$MOTLAB_PYTHON names .*no-such-python, which cannot import PyTorch \(not found\)/);
  const flags = lab(['train', '--engine', 'wasm', '--nproc', '2', '--config', 'mot', '--data', data, '--out', out]);
  assert.equal(flags.status, 1);
  assert.match(flags.stderr, /--nproc applies only to --engine torch/);
  const evaluate = lab(['eval', '--run', out, '--engine', 'torch']);
  assert.notEqual(evaluate.status, 0);
  assert.match(evaluate.stderr, /--engine torch only trains runs/);
});

/** `python3 -c` with the trainer package importable. */
function python(code: string) {
  return spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: path.join(REPO, 'python') } });
}

test("the trainer's lock is the lab's: refused while the lab holds it, a dead holder's lock is taken over", async () => {
  const dir = mkdtempSync(path.join(root, 'lock-'));
  const lock = await acquireRunLock(dir, 'train');
  const take = `from motlab_torch.lock import acquire_run_lock\nl = acquire_run_lock(${JSON.stringify(dir)}, "train")\nprint(open(${JSON.stringify(path.join(dir, LOCK_FILE))}).read())\nl.release()`;
  const refused = python(take);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, new RegExp(`is already being trained by process ${process.pid} on ${hostname()} \\(train, since `));
  await lock.release();

  const dead = spawnSync(PYTHON, ['-c', 'import os; print(os.getpid())'], { encoding: 'utf8' });
  const holder = {
    pid: Number(dead.stdout),
    identity: 'x/1',
    host: hostname(),
    nonce: 'old',
    since: new Date().toISOString(),
    purpose: 'train',
  };
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(holder));
  const taken = python(take);
  assert.equal(taken.status, 0, taken.stderr);
  const written = JSON.parse(taken.stdout);
  assert.deepEqual(Object.keys(written), ['pid', 'identity', 'host', 'nonce', 'since', 'purpose']);
  assert.equal(written.host, hostname());
  assert.notEqual(written.nonce, 'old');
  assert.deepEqual(await inspectRunLock(dir), { state: 'free' }, 'released');
});

test(
  'an outside PyTorch run: locked by the trainer, a second writer refused, listed and read live by the API, stopped through the lock',
  { skip, timeout: 300_000 },
  async () => {
    const ctx = await startTestServer();
    let trainer: ReturnType<typeof spawn> | undefined;
    try {
      const client = clientFor(ctx.server);
      const name = 'outside-torch';
      const runDir = path.join(ctx.workspace, 'runs', name);
      const cfg = configFile('long', { preset: 'mot', size: 'tiny', training: { steps: 5000, checkpoint_every: 1000, eval_every: 1000 } });
      const child = spawn(
        PYTHON,
        ['-m', 'motlab_torch.train', '--config', cfg, '--data', data, '--out', runDir, '--threads', '1', '--progress-jsonl'],
        { env: { ...process.env, PYTHONPATH: path.join(REPO, 'python') }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      trainer = child;
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

      await waitUntil('the run is listed as running', async () =>
        (await client.listRuns({})).some((r) => r.name === name && r.status === 'running'),
      );
      const lock = await inspectRunLock(runDir);
      assert.equal(lock.state, 'held');
      assert.equal(lock.state === 'held' && lock.holder.pid, child.pid, 'the trainer holds the lock itself');
      assert.equal(lock.state === 'held' && lock.holder.identity, processIdentity(child.pid!));

      // Its metrics grow as it trains.
      await waitUntil('two steps are read', async () => (await client.readMetrics({ run: name, offset: 0 })).records.length >= 3);
      const first = await client.readMetrics({ run: name, offset: 0 });
      await waitUntil(
        'more steps are read',
        async () => (await client.readMetrics({ run: name, offset: first.nextOffset })).records.length > 0,
      );
      const summary = await client.getRun({ run: name });
      assert.equal(summary.engine, 'torch');
      assert.ok(summary.step >= 2);

      // Second writers: the lab's own trainer and another PyTorch trainer are refused.
      const labResume = await labAsync(['train', '--out', runDir, '--resume', '--engine', 'wasm']);
      assert.notEqual(labResume.status, 0);
      assert.match(labResume.stderr, new RegExp(`already being trained by process ${child.pid} on `));
      const torchResume = await labAsync(['train', '--out', runDir, '--resume', '--engine', 'torch', '--threads', '1']);
      assert.notEqual(torchResume.status, 0);
      assert.match(torchResume.stderr, new RegExp(`already being trained by process ${child.pid} on `));

      // Stopped through the lock (SIGTERM to its owner): a checkpoint, status stopped, lock gone.
      await client.stopRun({ run: name });
      assert.equal(await exited, 0, stderr);
      const run = readJson(path.join(runDir, 'run.json'));
      assert.equal(run.status, 'stopped');
      assert.deepEqual(await inspectRunLock(runDir), { state: 'free' });
      assert.equal((await client.getRun({ run: name })).status, 'stopped');
      assert.ok((await client.listCheckpoints({ run: name })).length >= 1);
      assert.ok(!isAlive(child.pid!));
    } finally {
      if (trainer && trainer.exitCode === null && trainer.signalCode === null) {
        const gone = new Promise((resolve) => trainer!.once('close', resolve));
        trainer.kill('SIGKILL');
        await gone;
      }
      await ctx.cleanup();
    }
  },
);

test('a run folder synced from another host while it trains shows as training there, and its metrics update', { skip }, async () => {
  const ctx = await startTestServer();
  try {
    const client = clientFor(ctx.server);
    const name = 'from-cluster';
    const runDir = path.join(ctx.workspace, 'runs', name);
    const cfg = configFile('cluster', { preset: 'dense', size: 'tiny', training: { steps: 2, checkpoint_every: 2 } });
    const r = torchTrain(['--config', cfg, '--data', data, '--out', runDir]);
    assert.equal(r.status, 0, r.stderr);
    // What an rsync shows mid-run: run.json says running, the lock names a process on the cluster.
    const runJson = readJson(path.join(runDir, 'run.json'));
    writeFileSync(path.join(runDir, 'run.json'), JSON.stringify({ ...runJson, status: 'running', pid: 4242 }));
    const holder = {
      pid: 4242,
      identity: 'b/1',
      host: 'gpu-node-7.cluster.example',
      nonce: 'c1',
      since: '2026-01-01T00:00:00.000Z',
      purpose: 'train',
    };
    writeFileSync(path.join(runDir, LOCK_FILE), JSON.stringify(holder));
    const shown = await client.getRun({ run: name });
    assert.equal(shown.status, 'running');
    assert.match(shown.message ?? '', /Trained by process 4242 on gpu-node-7\.cluster\.example/);
    await assert.rejects(client.stopRun({ run: name }), /trained on gpu-node-7\.cluster\.example \(process 4242\); stop it there/);
    const before = await client.readMetrics({ run: name, offset: 0 });
    const lines = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    const last = JSON.parse(lines.filter((l) => JSON.parse(l).type === 'train').at(-1)!);
    appendFileSync(path.join(runDir, 'metrics.jsonl'), JSON.stringify({ ...last, step: 3 }) + '\n'); // the next sync
    const next = await client.readMetrics({ run: name, offset: before.nextOffset });
    assert.deepEqual(
      next.records.map((x) => [x.type, x.step]),
      [['train', 3]],
    );
    assert.equal((await client.getRun({ run: name })).step, 3);
  } finally {
    await ctx.cleanup();
  }
});

test('motlab torch-command prints the torchrun plan and the files to copy', { skip: !existsSync(PYTHON) && 'no python3' }, () => {
  const r = lab(
    [
      'torch-command',
      '--config',
      'mot',
      '--size',
      'tiny',
      '--data',
      path.join(REPO, 'assets', 'datasets', 'fashion-tri'),
      '--nproc-per-node',
      '4',
      '--host',
      'gpu.example.org',
      '--json',
    ],
    process.env,
  );
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.deepEqual(plan.command.slice(0, 5), ['torchrun', '--standalone', '--nproc-per-node=4', '-m', 'motlab_torch.train']);
  assert.equal(plan.files[0].local, path.join(REPO, 'python', 'motlab_torch'));
  assert.match(plan.fetch, /^rsync -a gpu\.example\.org:motlab-job\/runs\/mot-tiny\/ /);
  const text = lab(['torch-command', '--config', 'mot', '--data', path.join(root, 'missing')], process.env);
  assert.notEqual(text.status, 0);
  assert.match(text.stderr, /missing\/dataset\.json is missing or unreadable/);
});
