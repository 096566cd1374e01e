/**
 * Jobs with real child processes (`motlab job`, forked by the JobManager as the app and the
 * server do) on a real trained run: progress arrives, the result file is written atomically and
 * says what `motlab eval` says, cancel ends the process promptly and marks the job cancelled, a
 * failing job and a crashing process are reported failed with the reason, and bad requests are
 * refused before any process starts.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { JOB_KINDS } from '../../src-main/api/job-kinds.ts';
import { JOB_RUNNERS } from '../../src-main/cli/job-runners.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import type { JobInfo } from '../../src-main/common/api/types.ts';
import { CANCEL_GRACE_MS, JobManager, type JobEvent } from '../../src-main/runs/jobs/manager.ts';
import { jobInputHash } from '../../src-main/runs/jobs/kind.ts';
import { isAlive, MOTLAB, motlab, REPO } from '../training/helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-jobs-'));
const data = path.join(root, 'data');
const run = path.join(root, 'run');
after(() => rmSync(root, { recursive: true, force: true }));

before(() => {
  // A long train split (~9,000 evaluation windows of the tiny model) gives a job worth cancelling.
  assert.equal(motlab(['data', 'synth', '--out', data, '--tokens', '300000', '--seed', '1']).status, 0);
  const r = motlab(['train', '--config', 'mot', '--size', 'tiny', '--data', data, '--out', run, '--engine', 'wasm', '--steps', '2']);
  assert.equal(r.status, 0, r.stderr);
});

/** A JobManager and every event it emitted. */
function manager(): {
  jobs: JobManager;
  events: JobEvent[];
  ended(id: string, timeoutMs?: number): Promise<JobInfo>;
  next(match: (e: JobEvent) => boolean): Promise<JobEvent>;
} {
  const events: JobEvent[] = [];
  const waiters: { match: (e: JobEvent) => boolean; resolve: (e: JobEvent) => void }[] = [];
  const jobs = new JobManager({
    cliPath: MOTLAB,
    kinds: JOB_KINDS,
    onEvent: (e) => {
      events.push(e);
      for (const w of [...waiters]) {
        if (!w.match(e)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    },
  });
  const next = (match: (e: JobEvent) => boolean) => {
    const seen = events.find(match);
    return seen ? Promise.resolve(seen) : new Promise<JobEvent>((resolve) => waiters.push({ match, resolve }));
  };
  const ended = async (id: string, timeoutMs = 120_000) => {
    const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`job ${id} did not end`)), timeoutMs).unref());
    const e = await Promise.race([
      next((x) => x.type === 'job-status' && x.job.id === id && !['starting', 'running'].includes(x.job.status)),
      timer,
    ]);
    return e.job;
  };
  return { jobs, events, ended, next };
}

test('an evaluate job reports progress and writes its result atomically, equal to motlab eval', { timeout: 180_000 }, async () => {
  const { jobs, events, ended } = manager();
  const started = jobs.start({ kind: 'evaluate', input: { split: 'val', windows: 40, engine: 'wasm' }, runDir: run });
  assert.equal(started.status, 'starting');
  assert.deepEqual(started.input, { checkpoint: 'latest', split: 'val', windows: 40, engine: 'wasm' });
  const done = await ended(started.id);
  assert.equal(done.status, 'completed', done.message);

  const fractions = events
    .filter((e) => e.type === 'job-progress' && e.job.id === started.id)
    .map((e) => (e.type === 'job-progress' ? e.fraction : -1));
  assert.ok(fractions.length >= 5, `progress: ${fractions}`); // a start, one per batch of 8 windows, the end
  assert.deepEqual(
    fractions,
    [...fractions].sort((a, b) => a - b),
    'progress only grows',
  );
  assert.equal(fractions.at(-1), 1);
  assert.deepEqual(
    events.filter((e) => e.type === 'job-status' && e.job.id === started.id).map((e) => e.type === 'job-status' && e.job.status),
    ['starting', 'running', 'completed'],
  );

  // The result file: in the run folder, alone with the job's log, complete JSON.
  assert.ok(done.resultPath);
  assert.equal(path.dirname(path.dirname(path.dirname(done.resultPath))), path.join(run, 'analyses'));
  assert.deepEqual(readdirSync(path.dirname(done.resultPath)).sort(), ['job.log', 'result.json']);
  const file = JSON.parse(readFileSync(done.resultPath, 'utf8'));
  assert.equal(file.kind, 'evaluate');
  assert.deepEqual(file.input, started.input);
  const cli = motlab(['eval', '--run', run, '--windows', '40', '--engine', 'wasm', '--json']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual({ step: file.result.step, windows: file.result.windows, loss: file.result.loss }, JSON.parse(cli.stdout));
  assert.equal(file.result.step, 2);

  // Listed and found by id afterwards (a window that comes back reconnects this way).
  assert.deepEqual(jobs.get(started.id), done);
  assert.deepEqual(
    jobs.list(run).map((j) => j.id),
    [started.id],
  );
  assert.deepEqual(jobs.list(path.join(root, 'elsewhere')), []);
});

test('cancel ends the job process promptly and marks the job cancelled, with no result', { timeout: 180_000 }, async () => {
  const { jobs, next, ended } = manager();
  const job = jobs.start({ kind: 'evaluate', input: { split: 'train', windows: 1_000_000, engine: 'wasm' }, runDir: run });
  await next((e) => e.type === 'job-progress' && e.job.id === job.id && e.fraction > 0);
  const pid = jobs.get(job.id).pid!;
  const asked = performance.now();
  jobs.cancel(job.id);
  const done = await ended(job.id, 20_000);
  const tookMs = performance.now() - asked;
  assert.equal(done.status, 'cancelled');
  assert.ok(tookMs < 10_000, `cancelled after ${Math.round(tookMs)} ms`);
  // Gone: on its own, or killed by the manager CANCEL_GRACE_MS after the cancel.
  const deadline = performance.now() + CANCEL_GRACE_MS + 2_000;
  while (isAlive(pid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(isAlive(pid), false, 'the job process is gone');
  console.log(`# cancel: marked cancelled after ${Math.round(tookMs)} ms, process gone after ${Math.round(performance.now() - asked)} ms`);
  const outputDir = path.join(run, 'analyses', 'evaluate', jobInputHash(done.input));
  assert.deepEqual(readdirSync(outputDir), ['job.log'], 'a cancelled job leaves no result');
});

test('a failing job and a crashing job process are reported failed with the reason', { timeout: 180_000 }, async () => {
  const { jobs, next, ended } = manager();
  const noSplit = jobs.start({ kind: 'evaluate', input: { split: 'test', engine: 'wasm' }, runDir: run });
  const failed = await ended(noSplit.id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error?.code, 'invalid_dataset');
  assert.match(failed.message ?? '', /has no split "test" \(it has train, val\)/);

  // A validation split shorter than one window: a clear error naming the dataset and the split.
  const shortData = path.join(root, 'short-data');
  cpSync(data, shortData, { recursive: true });
  const npyHeader = "{'descr': '<u2', 'fortran_order': False, 'shape': (10,), }";
  const header = Buffer.from(npyHeader.padEnd(117, ' ') + '\n');
  writeFileSync(
    path.join(shortData, 'val.tokens.npy'),
    Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]), header, Buffer.alloc(20)]),
  );
  const shortRun = path.join(root, 'short-run');
  cpSync(run, shortRun, { recursive: true });
  const runJson = JSON.parse(readFileSync(path.join(shortRun, 'run.json'), 'utf8'));
  writeFileSync(path.join(shortRun, 'run.json'), JSON.stringify({ ...runJson, dataset: { ...runJson.dataset, path: shortData } }));
  const short = await ended(jobs.start({ kind: 'evaluate', input: { engine: 'wasm' }, runDir: shortRun }).id);
  assert.equal(short.status, 'failed');
  assert.equal(short.error?.code, 'invalid_dataset');
  assert.match(
    short.message ?? '',
    /short-data, split "val": the split has 10 tokens, fewer than the 33 one evaluation window of seq_len 32 needs/,
  );

  // A process that dies (kill -9) without its last word.
  const crash = jobs.start({ kind: 'evaluate', input: { split: 'train', windows: 1_000_000, engine: 'wasm' }, runDir: run });
  await next((e) => e.type === 'job-progress' && e.job.id === crash.id && e.fraction > 0);
  process.kill(jobs.get(crash.id).pid!, 'SIGKILL');
  const crashed = await ended(crash.id);
  assert.equal(crashed.status, 'failed');
  assert.match(crashed.message ?? '', /the job process ended \(signal SIGKILL\) before finishing/);
});

test('bad requests are refused before any process starts', () => {
  const { jobs, events } = manager();
  const refused = (code: string, pattern: RegExp) => (e: unknown) => {
    assert.ok(e instanceof MotlabError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  };
  assert.throws(
    () => jobs.start({ kind: 'nonsense', input: {}, runDir: run }),
    refused('invalid_request', /No job kind "nonsense" \(kinds: train, evaluate, analysis\)/),
  );
  assert.throws(
    () => jobs.start({ kind: 'evaluate', input: { windows: -1 }, runDir: run }),
    refused('invalid_request', /evaluate job input: windows/),
  );
  assert.throws(
    () => jobs.start({ kind: 'evaluate', input: { split: 'val', extra: 1 }, runDir: run }),
    refused('invalid_request', /extra/),
  );
  assert.throws(
    () => jobs.start({ kind: 'train', input: { mode: 'resume' }, runDir: run }),
    refused('invalid_request', /started by the run service/),
  );
  assert.throws(() => jobs.get('evaluate-x-00'), refused('not_found', /No job "evaluate-x-00"/));
  assert.deepEqual(events, []);
  assert.equal(jobs.activeCount(), 0);
});

test('every declared job kind has its runner; the API side of jobs loads no job code', async () => {
  assert.deepEqual(
    JOB_RUNNERS.map((r) => r.kind),
    [...JOB_KINDS],
  );
  // The app's main process bundles the API: its side of jobs (the declarations, the manager, the
  // runs and jobs handlers) must not pull in the model or TensorFlow.js.
  const esbuild = await import('esbuild');
  const built = await esbuild.build({
    entryPoints: ['api/job-kinds.ts', 'api/handlers/runs.ts', 'api/handlers/jobs.ts', 'runs/jobs/manager.ts'].map((f) =>
      path.join(REPO, 'src-main', f),
    ),
    outdir: path.join(root, 'bundle'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(built.metafile.inputs);
  assert.ok(inputs.some((f) => f.endsWith('src-main/runs/evaluate-job.ts')));
  assert.deepEqual(
    inputs.filter((f) => /src-main\/(engine|model\/mot|training\/trainer|runs\/(train|evaluate)\.ts)/.test(f)),
    [],
  );
  const packages = Object.values(built.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  assert.deepEqual(
    packages.filter((p) => p.startsWith('@tensorflow/')),
    [],
  );
});
