/**
 * Real training through the API over the real server: a tiny MoT run is started, its
 * progress arrives over the WebSocket, it is paused, resumed and stopped, its checkpoints are
 * read back (and decoded independently of our safetensors reader), it is continued from its
 * checkpoint, and a killed process shows as 'interrupted'.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApiEvent } from '../../src-main/common/api/types.ts';
import type { MetricsRecord } from '../../src-main/common/metrics.ts';
import type { RunStatus } from '../../src-main/common/vocabulary.ts';
import { clientFor, connected, EventLog, startTestServer } from './harness.ts';

type StatusEvent = Extract<ApiEvent, { type: 'run-status' }>;
type MetricsEvent = Extract<ApiEvent, { type: 'run-metrics' }>;

const RUN = 'api-tiny';
let ctx: Awaited<ReturnType<typeof startTestServer>>;

before(async () => {
  ctx = await startTestServer();
});
after(async () => {
  await ctx.cleanup();
});

const isStatus =
  (status: RunStatus, run = RUN) =>
  (e: ApiEvent): e is StatusEvent =>
    e.type === 'run-status' && e.run === run && e.status === status;
const isTrainMetrics =
  (run = RUN) =>
  (e: ApiEvent): e is MetricsEvent =>
    e.type === 'run-metrics' && e.run === run && e.record.type === 'train';

/** Independent safetensors header parse: 8-byte little-endian length, then JSON. */
function safetensorsHeader(file: string): Record<string, { dtype?: string; shape?: number[] } & Record<string, unknown>> {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
}

test('start, watch, pause, resume, stop, read checkpoints, continue', { timeout: 300_000 }, async () => {
  const client = clientFor(ctx.server);
  const log = new EventLog(client);
  await connected(client);

  const started = await client.startRun({
    name: RUN,
    preset: 'mot',
    size: 'tiny',
    dataset: 'example-synth',
    steps: 5000,
    checkpointEvery: 1000,
    evalEvery: 1000,
    seed: 3,
    workers: 2,
  });
  assert.equal(started.name, RUN);
  assert.equal(started.controllable, true);

  // Progress arrives over the WebSocket.
  await log.waitFor(isStatus('running'), 0, 'running');
  const firstMetrics = await log.waitFor(isTrainMetrics(), 0, 'first metrics');
  assert.equal(firstMetrics.record.step, 1);
  await log.waitFor((e) => isTrainMetrics()(e) && e.record.step >= 3, 0, 'step 3');
  const record = firstMetrics.record as Extract<MetricsRecord, { type: 'train' }>;
  assert.deepEqual(Object.keys(record.loss).sort(), ['all', 'image', 'speech', 'text']);
  for (const v of Object.values(record.loss)) assert.ok(v !== null && Number.isFinite(v) && v > 0);

  // Pause: the process stays, no new steps are logged while paused.
  let mark = log.events.length;
  await client.pauseRun({ run: RUN });
  await log.waitFor(isStatus('paused'), mark, 'paused');
  const runPaused = await client.getRun({ run: RUN });
  assert.equal(runPaused.status, 'paused');
  assert.equal(runPaused.workers, 2, 'the gradient workers asked for, recorded in run.json and shown');
  const atPause = await client.readMetrics({ run: RUN, offset: 0 });
  await new Promise((r) => setTimeout(r, 1500));
  const whilePaused = await client.readMetrics({ run: RUN, offset: atPause.nextOffset });
  assert.deepEqual(whilePaused.records, [], 'no steps while paused');
  assert.equal(whilePaused.nextOffset, atPause.nextOffset);

  // Resume: steps continue after the paused one.
  const lastPausedStep = Math.max(...atPause.records.filter((r) => r.type === 'train').map((r) => r.step));
  mark = log.events.length;
  await client.resumeRun({ run: RUN });
  await log.waitFor(isStatus('running'), mark, 'running again');
  const after = await log.waitFor(
    (e): e is MetricsEvent => isTrainMetrics()(e) && e.record.step > lastPausedStep,
    mark,
    'a step after resume',
  );
  assert.equal(after.record.step, lastPausedStep + 1);

  // Stop: a checkpoint at the last step, status stopped.
  mark = log.events.length;
  await client.stopRun({ run: RUN });
  const checkpointEvent = await log.waitFor(
    (e): e is Extract<ApiEvent, { type: 'run-checkpoint' }> => e.type === 'run-checkpoint' && e.run === RUN,
    mark,
    'checkpoint',
  );
  await log.waitFor(isStatus('stopped'), mark, 'stopped');

  // Metrics on disk = metrics pushed (same steps, same numbers), read incrementally.
  const all = await client.readMetrics({ run: RUN, offset: 0 });
  const diskTrain = all.records.filter((r) => r.type === 'train');
  const pushed = log.events.filter(isTrainMetrics()).map((e) => e.record);
  assert.deepEqual(pushed, diskTrain);
  const lastStep = diskTrain.at(-1)!.step;
  assert.equal(checkpointEvent.step, lastStep);
  const half = await client.readMetrics({ run: RUN, offset: 0 });
  assert.deepEqual((await client.readMetrics({ run: RUN, offset: half.nextOffset })).records, []);

  const checkpoints = await client.listCheckpoints({ run: RUN });
  assert.deepEqual(
    checkpoints.map((c) => c.step),
    [lastStep],
  );
  const ckpt = checkpoints[0];
  assert.equal(ckpt.hasOptimizer, true);
  assert.equal(ckpt.state?.step, lastStep);
  const header = safetensorsHeader(join(ckpt.path, 'model.safetensors'));
  const meta = header.__metadata__ as unknown as { format: string; config: string };
  assert.equal(meta.format, 'motlab');
  const config = JSON.parse(meta.config) as { d_model: number; vocab_size: number; towers: { attention: string[][] } };
  assert.deepEqual(header['embed.weight'].shape, [config.vocab_size, config.d_model]);
  // MoT: one attention tower per modality.
  assert.equal(config.towers.attention.length, 3);
  assert.deepEqual(header['layers.0.attention.wq.2.weight'].shape, [config.d_model, config.d_model]);

  const runs = await client.listRuns({});
  const summary = runs.find((r) => r.name === RUN)!;
  assert.equal(summary.status, 'stopped');
  assert.equal(summary.step, lastStep);
  assert.equal(summary.modelKind, 'MoT');
  assert.equal(summary.totalSteps, 5000);
  assert.deepEqual(summary.latestLoss, diskTrain.at(-1)!.loss);

  // Continue from the checkpoint to a nearby end: it completes at exactly that step.
  mark = log.events.length;
  await client.continueRun({ run: RUN, steps: lastStep + 3 });
  await log.waitFor(isStatus('completed'), mark, 'completed after continue');
  const done = await client.getRun({ run: RUN });
  assert.equal(done.status, 'completed');
  assert.equal(done.step, lastStep + 3);
  const resumedSteps = log.events
    .slice(mark)
    .filter(isTrainMetrics())
    .map((e) => e.record.step);
  assert.deepEqual(resumedSteps, [lastStep + 1, lastStep + 2, lastStep + 3]);

  // CSV export has one row per record and a loss column per modality.
  const csv = await client.exportMetrics({ run: RUN, format: 'csv' });
  const lines = csv.text.trim().split('\r\n');
  const finalRecords = (await client.readMetrics({ run: RUN, offset: 0 })).records;
  assert.equal(lines.length, finalRecords.length + 1);
  assert.match(lines[0], /loss_all,loss_text,loss_image,loss_speech$/);

  // Starting the same name twice is a conflict, not a second process.
  await assert.rejects(client.startRun({ name: RUN, preset: 'mot', size: 'tiny', dataset: 'example-synth' }), /already exists/);
  client.transport.close?.();
});

test('a training process that dies shows as interrupted and can be continued', { timeout: 300_000 }, async () => {
  const client = clientFor(ctx.server);
  const log = new EventLog(client);
  await connected(client);
  const name = 'api-killed';
  await client.startRun({
    name,
    preset: 'dense',
    size: 'tiny',
    dataset: 'example-synth',
    steps: 5000,
    checkpointEvery: 2,
    evalEvery: 1000,
  });
  await log.waitFor((e) => e.type === 'run-checkpoint' && e.run === name, 0, 'a checkpoint');
  const runJson = JSON.parse(readFileSync(join(ctx.workspace, 'runs', name, 'run.json'), 'utf8')) as { pid: number; status: string };
  assert.equal(runJson.status, 'running');
  process.kill(runJson.pid, 'SIGKILL');
  await log.waitFor(isStatus('interrupted', name), 0, 'interrupted');
  const run = await client.getRun({ run: name });
  assert.equal(run.status, 'interrupted');
  assert.equal(run.controllable, false);
  await assert.rejects(client.pauseRun({ run: name }), /not training/);

  // A stale pid: run.json and the lock left by the killed trainer now name a live, unrelated
  // process (as after a reboot or a copied folder). Stop must not signal it.
  if (process.platform === 'linux') {
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => bystander.once('spawn', r));
      const dir = join(ctx.workspace, 'runs', name);
      for (const file of ['run.json', '.lock']) {
        const json = JSON.parse(readFileSync(join(dir, file), 'utf8'));
        writeFileSync(join(dir, file), JSON.stringify({ ...json, pid: bystander.pid }));
      }
      assert.equal((await client.getRun({ run: name })).status, 'interrupted');
      await assert.rejects(client.stopRun({ run: name }), /is not training \(status: interrupted\)/);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(bystander.exitCode, null, 'the unrelated process was not signalled');
      assert.equal(bystander.signalCode, null);
    } finally {
      bystander.kill('SIGKILL');
    }
  }

  const checkpoints = await client.listCheckpoints({ run: name });
  assert.ok(checkpoints.length >= 1);
  const from = checkpoints.at(-1)!.step;
  const mark = log.events.length;
  await client.continueRun({ run: name, steps: from + 2 });
  await log.waitFor(isStatus('completed', name), mark, 'completed');
  assert.equal((await client.getRun({ run: name })).step, from + 2);
  client.transport.close?.();
});

test('jobs over the API: an evaluation with progress events, listed and found by id; restart archives', { timeout: 300_000 }, async () => {
  const client = clientFor(ctx.server);
  const log = new EventLog(client);
  await connected(client);
  type JobStatusEvent = Extract<ApiEvent, { type: 'job-status' }>;

  const job = await client.startJob({ kind: 'evaluate', run: RUN, input: { windows: 24, engine: 'wasm' } });
  assert.equal(job.run, RUN);
  assert.deepEqual(job.input, { checkpoint: 'latest', split: 'val', windows: 24, engine: 'wasm' });
  const ended = await log.waitFor(
    (e): e is JobStatusEvent => e.type === 'job-status' && e.job.id === job.id && e.job.status === 'completed',
    0,
    'the job to complete',
  );
  const progress = log.events.filter((e) => e.type === 'job-progress' && e.job === job.id);
  assert.ok(progress.length >= 3, `progress events: ${progress.length}`);
  const result = JSON.parse(readFileSync(ended.job.resultPath!, 'utf8'));
  assert.equal(result.result.windows, 24);
  assert.equal(result.result.step, (await client.getRun({ run: RUN })).step);
  assert.deepEqual(await client.getJob({ id: job.id }), ended.job);
  assert.deepEqual((await client.listJobs({ run: RUN })).map((j) => j.id).slice(0, 1), [job.id]);
  assert.deepEqual(await client.cancelJob({ id: job.id }), ended.job, 'cancelling a finished job changes nothing');
  await assert.rejects(client.startJob({ kind: 'train', run: RUN, input: {} }), /started by the run service/);
  await assert.rejects(client.startJob({ kind: 'evaluate', run: 'no-such-run', input: {} }), /No run named "no-such-run"/);
  await assert.rejects(client.getJob({ id: 'evaluate-0-00' }), /No job "evaluate-0-00"/);

  // Restart: training again from step 0, the old history moved to archive/.
  const mark = log.events.length;
  await client.continueRun({ run: RUN, steps: 2, restart: true });
  await log.waitFor(isStatus('completed'), mark, 'completed after restart');
  assert.equal((await client.getRun({ run: RUN })).step, 2);
  const archive = join(ctx.workspace, 'runs', RUN, 'archive');
  assert.equal(readdirSync(archive).length, 1);
  assert.ok(existsSync(join(archive, readdirSync(archive)[0], 'metrics.jsonl')));
  client.transport.close?.();
});
