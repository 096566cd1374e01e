import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  downsampleIndices,
  EmaSmoother,
  lossCurves,
  prepareCurve,
  smoothEma,
  stepToAxis,
  summarizeLosses,
} from '../../src-main/analysis/curves.ts';
import type { EvalRecord, MetricsRecord, TrainRecord } from '../../src-main/common/metrics.ts';
import { withTinyRun } from './tiny-run.ts';

const close = (a: number | null, b: number, tol = 1e-12): void => assert.ok(a !== null && Math.abs(a - b) <= tol, `${a} ≠ ${b}`);

test('EMA with bias correction matches a hand computation (weight 0.6)', () => {
  // s1 = 0.4·1 = 0.4 → 0.4/(1-0.6) = 1
  // s2 = 0.6·0.4 + 0.4·2 = 1.04 → 1.04/(1-0.36) = 1.625
  // s3 = 0.6·1.04 + 0.4·3 = 1.824 → 1.824/(1-0.216) = 2.3265306…
  const out = smoothEma([1, 2, 3], 0.6);
  close(out[0], 1);
  close(out[1], 1.625);
  close(out[2], 1.824 / 0.784);
});

test('gaps stay gaps and do not count towards the bias correction', () => {
  // [1, null, NaN, 2] smooths like [1, 2] with the gaps kept in place.
  const out = smoothEma([1, null, NaN, 2], 0.6);
  close(out[0], 1);
  assert.equal(out[1], null);
  assert.equal(out[2], null);
  close(out[3], 1.625);
});

test('weight 0 is no smoothing; a constant series stays constant; a bad weight is refused', () => {
  assert.deepEqual(smoothEma([3, 1, 2], 0), [3, 1, 2]);
  for (const v of smoothEma(Array(50).fill(2.5), 0.9)) close(v, 2.5, 1e-12);
  assert.throws(() => smoothEma([1], 1), /smoothing weight/);
  assert.throws(() => smoothEma([1], -0.1), /smoothing weight/);
});

test('appending points never changes values already smoothed', () => {
  const values = Array.from({ length: 200 }, (_, i) => (i % 7 === 3 ? null : Math.sin(i) + 5 / (1 + i)));
  const full = smoothEma(values, 0.8);
  const live = new EmaSmoother(0.8);
  const prefix = values.slice(0, 120).map((v) => live.push(v));
  assert.deepEqual(prefix, full.slice(0, 120));
  assert.deepEqual(smoothEma(values.slice(0, 77), 0.8), full.slice(0, 77));
  const rest = values.slice(120).map((v) => live.push(v));
  assert.deepEqual([...prefix, ...rest], full);
});

test('down-sampling keeps first, last, and every bucket’s minimum, maximum and first gap', () => {
  const n = 10_000;
  const x = Array.from({ length: n }, (_, i) => i);
  // A deterministic noisy curve with planted spikes and gaps.
  const y: (number | null)[] = x.map((i) => 3 / (1 + i / 500) + 0.1 * Math.sin(i * 12.9898) * Math.sin(i * 0.37));
  y[1234] = 9;
  y[8765] = -4;
  y[4000] = null;
  y[4001] = null;
  const buckets = 50;
  const keep = downsampleIndices(x, [y], buckets);
  assert.ok(keep.length <= buckets * 5, `${keep.length} points kept`);
  assert.equal(keep[0], 0);
  assert.equal(keep.at(-1), n - 1);
  assert.ok(keep.includes(1234) && keep.includes(8765), 'planted spikes survive');
  assert.ok(keep.includes(4000), 'the gap survives');
  const kept = new Set(keep);
  // Independent check: brute-force extremes of each equal-width bucket over [0, n-1].
  for (let b = 0; b < buckets; b++) {
    const members = x.filter((i) => Math.min(buckets - 1, Math.floor((i / (n - 1)) * buckets)) === b && y[i] !== null);
    const values = members.map((i) => y[i] as number);
    const min = members[values.indexOf(Math.min(...values))];
    const max = members[values.indexOf(Math.max(...values))];
    assert.ok(kept.has(min) && kept.has(max), `bucket ${b}`);
  }
  // Short series come back whole.
  assert.deepEqual(downsampleIndices([1, 2, 3], [[1, 2, 3]], 10), [0, 1, 2]);
});

test('down-sampling a range keeps one point beyond each edge, so lines reach the frame', () => {
  const x = Array.from({ length: 100 }, (_, i) => i * 10);
  const keep = downsampleIndices(x, [x.map(() => 1)], 1000, { range: [205, 395] });
  assert.deepEqual(
    keep,
    Array.from({ length: 21 }, (_, i) => 20 + i),
  ); // 200 … 400
});

test('log-axis buckets are equal in log x', () => {
  const x = Array.from({ length: 1000 }, (_, i) => i + 1);
  const y = x.map((v) => (v === 3 ? 100 : 1 / v));
  const keep = downsampleIndices(x, [y], 3, { transform: Math.log10 });
  // With 3 buckets over log10 [0, 3]: 1–9, 10–99, 100–1000; each keeps first/last/min/max.
  for (const i of [0, 2, 8, 9, 98, 99, 999]) assert.ok(keep.includes(i), `index ${i}`);
});

function train(step: number, loss: Record<string, number | null>): TrainRecord {
  return {
    type: 'train',
    step,
    time: 1_700_000_000_000 + step * 1000,
    elapsed_s: step * 0.5,
    tokens: step * 512,
    flops: step * 1e9,
    lr: 1e-3,
    loss: { all: loss.all ?? 0, ...loss } as TrainRecord['loss'],
    grad_norm: 1,
    grad_norm_towers: {},
    tokens_per_s: 1000,
    step_ms: 500,
  };
}

function evaluation(step: number, loss: Record<string, number | null>, split = 'val'): EvalRecord {
  return { type: 'eval', step, time: 0, split, windows: 4, loss: { all: loss.all ?? 0, ...loss } as EvalRecord['loss'] };
}

test('x axes: steps, tokens, FLOPs and training time; evaluations interpolate between training records', () => {
  const records: MetricsRecord[] = [
    evaluation(0, { all: 5, text: 5 }),
    train(10, { all: 4, text: 4, image: null }),
    train(20, { all: 3, text: 3, image: 2 }),
    evaluation(15, { all: 3.5, text: 3.4 }),
    evaluation(20, { all: 3.1, text: 3.0 }, 'test'),
  ];
  const tokens = lossCurves(records, { kind: 'train' }, 'tokens');
  assert.deepEqual(
    tokens.map((c) => c.modality),
    ['all', 'text', 'image'],
  );
  assert.deepEqual(tokens[0].x, [5120, 10240]);
  assert.deepEqual(tokens[2].loss, [null, 2]);
  const flops = lossCurves(records, { kind: 'eval', split: 'val' }, 'flops');
  assert.deepEqual(flops[0].steps, [0, 15]);
  assert.deepEqual(flops[0].x, [0, 15e9]); // step 15 lies halfway between 10 (1e10) and 20 (2e10)
  assert.equal(
    flops.find((c) => c.modality === 'image')?.loss.every((v) => v === null),
    true,
  );
  const wall = lossCurves(records, { kind: 'train' }, 'wall');
  assert.deepEqual(wall[0].x, [5, 10]);
  assert.equal(stepToAxis([train(10, {}), train(20, {})], 'tokens')(30), 15360); // extrapolated at the last rate
});

test('a re-trained step (resume from an earlier checkpoint) replaces the first record of it', () => {
  const records: MetricsRecord[] = [train(1, { all: 5 }), train(2, { all: 9 }), train(2, { all: 4 }), train(3, { all: 3 })];
  const [all] = lossCurves(records, { kind: 'train' }, 'steps');
  assert.deepEqual(all.steps, [1, 2, 3]);
  assert.deepEqual(all.loss, [5, 4, 3]);
});

test('prepareCurve smooths at full resolution before down-sampling', () => {
  const n = 2000;
  const loss = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 2 : 4));
  const curve = { modality: 'all', steps: loss.map((_, i) => i + 1), x: loss.map((_, i) => i + 1), loss };
  const prepared = prepareCurve(curve, { smoothing: 0.6, buckets: 20 });
  const full = smoothEma(loss, 0.6);
  assert.ok(prepared.x.length < n / 10);
  prepared.steps.forEach((step, k) => assert.equal(prepared.smoothed[k], full[step - 1]));
  assert.equal(prepared.raw[0], 2);
  assert.equal(prepared.steps.at(-1), n);
});

test('final and best losses per modality (best on the smoothed curve)', () => {
  const curve = { modality: 'text', steps: [1, 2, 3, 4], x: [1, 2, 3, 4], loss: [4, 1, 3, null] };
  const [raw] = summarizeLosses([curve], 0);
  assert.deepEqual(raw, { modality: 'text', points: 3, finalStep: 3, finalLoss: 3, finalSmoothed: 3, bestStep: 2, bestLoss: 1 });
  // Smoothed with 0.5: 4, (0.5·2+0.5·1)/(0.75) = 2, (0.5·1.5+0.5·3)/(0.875)= 2.5714…
  const [smooth] = summarizeLosses([curve], 0.5);
  assert.equal(smooth.bestStep, 2);
  close(smooth.bestLoss, 2);
  close(smooth.finalSmoothed, 2.25 / 0.875);
  const [empty] = summarizeLosses([{ modality: 'x', steps: [1], x: [1], loss: [null] }]);
  assert.equal(empty.finalLoss, null);
  assert.equal(empty.points, 0);
});

test('on a real tiny run: curves per modality on every x axis, evaluations placed at their training step', () => {
  withTinyRun('dense', 4, 2, ({ records, model }) => {
    const train = records.filter((x): x is TrainRecord => x.type === 'train');
    const modalities = ['all', ...(model.modalities as { name: string }[]).map((m) => m.name)];
    const tokens = lossCurves(records, { kind: 'train' }, 'tokens');
    assert.deepEqual(
      tokens.map((c) => c.modality),
      modalities,
    );
    assert.deepEqual(
      tokens[0].x,
      train.map((x) => x.tokens),
    );
    const evalFlops = lossCurves(records, { kind: 'eval', split: 'val' }, 'flops');
    assert.deepEqual(evalFlops[0].steps, [0, 2, 4]);
    assert.deepEqual(evalFlops[0].x, [0, train.find((x) => x.step === 2)!.flops, train.find((x) => x.step === 4)!.flops]);
    const [summary] = summarizeLosses(evalFlops, 0);
    assert.equal(summary.finalStep, 4);
    assert.equal(summary.bestLoss, Math.min(...(evalFlops[0].loss as number[])));
  });
});
