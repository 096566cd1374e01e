/**
 * Data-parallel training on worker threads (docs/workers.md): the reference is the trainer's own
 * thread (`workers 1`, the path test/torch checks against PyTorch); 2 workers must give the same
 * gradients and losses up to float reassociation, resume bit for bit, and stop cleanly (with a
 * checkpoint and a message, never a hang) when a worker throws, dies or hangs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src-main/engine/engine.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import { initParams, prepareBatch } from '../../src-main/model/mot.ts';
import { loadDataset, sampleTrainBatch } from '../../src-main/data/dataset.ts';
import { writeSyntheticDataset } from '../../src-main/data/synthetic.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { addMicroBatchGradients } from '../../src-main/training/gradients.ts';
import { evaluateLoss } from '../../src-main/training/evaluate.ts';
import { TRAINING_DEFAULTS, type TrainingConfig } from '../../src-main/training/config.ts';
import { trainRun, TrainingControl, type MetricsRecord } from '../../src-main/training/trainer.ts';
import { WorkerPool } from '../../src-main/training/workers/pool.ts';
import { planWorkers } from '../../src-main/training/workers/count.ts';
import { metricsOf, motlab, motlabAsync, resumeArgs, tinyTrainArgs, trainLosses } from './helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-workers-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));

before(async () => {
  await writeSyntheticDataset(data, { tokens: 60_000, seed: 3 });
  await initEngine('wasm');
});

const tinyMot = async () => buildModelConfig('mot', 'tiny', (await loadDataset(data)).spec);

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += a[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

test('2 workers: the gradients of a step equal the one-thread gradients to 1e-6 relative', async () => {
  const config = await tinyMot();
  const dataset = await loadDataset(data);
  const params = new Map(Object.entries(initParams(config, 5)).map(([name, t]) => [name, tf.variable(t, true, `g.${name}`)]));
  const varList = [...params.values()];
  // 3 windows: shards of 2 and 1, so the shares of the loss differ (2/3 and 1/3).
  const batchSize = 3;
  const rng = new Rng(17);
  const micro = [0, 1].map(() => sampleTrainBatch(dataset.splits.train!, config.seq_len, batchSize, rng));

  let expected: tf.Tensor[] | null = null;
  const expectedLosses: number[] = [];
  for (const { inputs, targets } of micro) {
    const batch = prepareBatch(config, inputs, targets, batchSize);
    const out = await addMicroBatchGradients(config, Object.fromEntries(params), varList, batch, expected);
    expected = out.sum;
    expectedLosses.push(out.loss);
    batch.dispose();
  }

  const pool = await WorkerPool.start(2, 'wasm', config, params);
  try {
    const pooled = await pool.stepGradients(1, micro, batchSize);
    pooled.microLosses.forEach((loss, j) => assert.ok(Math.abs(loss - expectedLosses[j]) <= 1e-6 * expectedLosses[j], `micro ${j}`));
    pool.layout.forEach((slot, i) => {
      const want = expected![i].dataSync();
      const got = pooled.flat.subarray(slot.offset, slot.offset + slot.size);
      const err = relativeError(want, got);
      assert.ok(err <= 1e-6, `${slot.name}: relative error ${err}`);
    });
    // The evaluation on the workers adds the same float32 sums in the same order: equal bits.
    const val = dataset.splits.val!;
    assert.deepEqual(await pool.evaluate(val, 12), evaluateLoss(config, Object.fromEntries(params), val, 12));
  } finally {
    await pool.close();
    expected!.forEach((g) => g.dispose());
    params.forEach((p) => p.dispose());
  }
});

async function trainInProcess(
  runDir: string,
  workers: number,
  training: Partial<TrainingConfig>,
  options: { resume?: boolean; stopAfter?: number } = {},
): Promise<MetricsRecord[]> {
  mkdirSync(runDir, { recursive: true });
  const records: MetricsRecord[] = [];
  const control = new TrainingControl();
  await trainRun({
    runDir,
    spec: { model: await tinyMot(), training: { ...TRAINING_DEFAULTS.tiny, ...training }, datasetPath: data },
    engine: 'wasm',
    workers,
    resume: options.resume ?? false,
    control,
    onEvent: (event) => {
      if (event.type !== 'metrics') return;
      records.push(event.record);
      if (event.record.type === 'train' && event.record.step === options.stopAfter) control.stop();
    },
  });
  return records;
}

const lossesOf = (records: MetricsRecord[], type: 'train' | 'eval') =>
  new Map(records.filter((r) => r.type === type).map((r) => [r.step, r.loss.all as number]));

test('2 workers: 20 steps (2 micro-batches each) give the one-thread losses to 1e-5; resumed on 1 worker they go on alike', async () => {
  const training = { steps: 20, batch_size: 4, grad_accum: 2, eval_every: 10, checkpoint_every: 10, seed: 4 };
  const one = await trainInProcess(path.join(root, 'one'), 1, training);
  const two = await trainInProcess(path.join(root, 'two'), 2, training);
  const [a, b] = [lossesOf(one, 'train'), lossesOf(two, 'train')];
  assert.equal(a.size, 20);
  for (const [step, loss] of a) assert.ok(Math.abs(b.get(step)! - loss) <= 1e-5 * loss, `step ${step}: ${loss} vs ${b.get(step)}`);
  // Before any update the weights are the same: the validation loss is the same to the bit.
  assert.equal(lossesOf(two, 'eval').get(0), lossesOf(one, 'eval').get(0));
  for (const [step, loss] of lossesOf(one, 'eval')) assert.ok(Math.abs(lossesOf(two, 'eval').get(step)! - loss) <= 1e-5 * loss);

  // Trained on 2 workers to step 10, resumed on 1: the same run, up to reassociation.
  const switched = path.join(root, 'switched');
  await trainInProcess(switched, 2, training, { stopAfter: 10 });
  const rest = lossesOf(await trainInProcess(switched, 1, training, { resume: true }), 'train');
  assert.deepEqual([...rest.keys()], [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  for (const [step, loss] of rest) assert.ok(Math.abs(a.get(step)! - loss) <= 1e-5 * loss, `step ${step}`);
});

test('a run killed with SIGKILL and resumed on 2 workers reproduces every loss bit for bit', async () => {
  const steps = ['--steps', '16', '--checkpoint-every', '4', '--eval-every', '6', '--seed', '11', '--workers', '2'];
  const full = path.join(root, 'cli-full');
  const uninterrupted = motlab(tinyTrainArgs(data, full, steps));
  assert.equal(uninterrupted.status, 0, uninterrupted.stderr);
  assert.equal(JSON.parse(readFileSync(path.join(full, 'run.json'), 'utf8')).workers, 2);

  const killed = path.join(root, 'cli-killed');
  const child = motlabAsync(tinyTrainArgs(data, killed, steps));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  while (trainLosses(killed).get(6) === undefined) {
    await new Promise((r) => setTimeout(r, 20));
    if (child.exitCode !== null) assert.fail('the run finished before it could be killed');
  }
  child.kill('SIGKILL');
  await exited;
  assert.ok(!readdirSync(path.join(killed, 'checkpoints')).includes('step-000016'));

  // No --workers: the run's recorded 2 workers.
  const resumed = motlab(resumeArgs(killed));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual([...trainLosses(killed)], [...trainLosses(full)]);
  const evals = (dir: string) => metricsOf(dir).filter((r) => r.type === 'eval');
  assert.deepEqual(
    evals(killed).map((r) => [r.step, r.loss]),
    evals(full).map((r) => [r.step, r.loss]),
  );
});

test('motlab eval on 2 workers gives the one-thread losses to the bit', () => {
  // The run trained by the SIGKILL test; 40 windows are 5 forward passes: rounds of 2, 2, 1.
  const run = path.join(root, 'cli-full');
  const evaluate = (workers: string) => {
    const r = motlab(['eval', '--run', run, '--windows', '40', '--engine', 'wasm', '--workers', workers, '--json']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  };
  const one = evaluate('1');
  assert.equal(one.windows, 40);
  assert.deepEqual(evaluate('2'), one);
});

const faultMessages = {
  throw: /worker thread 1 of 2 failed: injected fault at step 3.*stopped after step 2; checkpoint step 2/s,
  exit: /worker thread 1 of 2 exited unexpectedly \(exit code 3\).*stopped after step 2; checkpoint step 2/s,
  // Blocked for ever: stopped after max(1.5 s, 10× the slowest of steps 1 and 2).
  hang: /worker thread 1 of 2 did not answer a gradients request within [\d.]+ s \(10× the slowest recent one, at least 1\.5 s;.*and was stopped.*stopped after step 2; checkpoint step 2/s,
};
for (const fault of ['throw', 'exit', 'hang'] as const) {
  test(`a worker that ${{ throw: 'throws', exit: 'dies', hang: 'hangs' }[fault]} stops the run with a checkpoint and a clear message`, async () => {
    const runDir = path.join(root, `fault-${fault}`);
    process.env.MOTLAB_WORKER_FAULT = `${fault}:3`; // read by the workers when they start
    process.env.MOTLAB_WORKER_MIN_TIMEOUT_MS = '1500'; // read by the pool when it starts
    try {
      await assert.rejects(trainInProcess(runDir, 2, { steps: 6, checkpoint_every: 100, eval_every: 100 }), faultMessages[fault]);
    } finally {
      delete process.env.MOTLAB_WORKER_FAULT;
      delete process.env.MOTLAB_WORKER_MIN_TIMEOUT_MS;
    }
    assert.ok(readdirSync(path.join(runDir, 'checkpoints')).includes('step-000002'));
  });
}

test('worker count: the cores or the number asked, capped by the batch; 1 for MoE and for native engines', async () => {
  const config = await tinyMot();
  assert.deepEqual(planWorkers(4, 'wasm', config, 8), { count: 4, reason: null });
  assert.equal(planWorkers(4, 'wasm', config, 3).count, 3);
  assert.match(planWorkers(4, 'wasm', config, 3).reason!, /at least one of the batch's 3 windows/);
  const moe = buildModelConfig('moe4x', 'tiny', (await loadDataset(data)).spec);
  assert.equal(planWorkers(2, 'wasm', moe, 8).count, 1);
  assert.match(planWorkers(2, 'wasm', moe, 8).reason!, /MoE routing is decided over the whole batch/);
  assert.deepEqual(planWorkers('auto', 'tensorflow', config, 8), { count: 1, reason: null });
  assert.equal(planWorkers(1, 'wasm', config, 8).count, 1);
});
