/**
 * The run page's derived figures (src-renderer/lib/run-stats.ts) against hand computations:
 * the bias-corrected EMA as an explicitly weighted mean, the best smoothed value, the recent
 * speed and the time left.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bestValue, ema, etaSeconds, progressFraction, secondsPerStep, smoothed, smoothingFor } from '../../src-renderer/lib/run-stats.ts';

const close = (actual: number[], expected: number[], tolerance = 1e-12) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) =>
    Number.isNaN(expected[i])
      ? assert.ok(Number.isNaN(a), `[${i}] is NaN`)
      : assert.ok(Math.abs(a - expected[i]) <= tolerance, `[${i}] ${a} ≈ ${expected[i]}`),
  );
};

test('ema: the bias-corrected average is the β-weighted mean of the values so far', () => {
  // β = 0.5: weights 1 | 0.5, 1 | 0.25, 0.5, 1 on the values 1, 2, 3.
  close(ema([1, 2, 3], 0.5), [1, (0.5 * 1 + 2) / 1.5, (0.25 * 1 + 0.5 * 2 + 3) / 1.75]);
  // β = 0.9 over four values: (0.729·4 + 0.81·8 + 0.9·6 + 1·2) / (0.729 + 0.81 + 0.9 + 1).
  assert.ok(Math.abs(ema([4, 8, 6, 2], 0.9)[3] - (0.729 * 4 + 0.81 * 8 + 0.9 * 6 + 2) / 3.439) < 1e-12);
  // A constant stays constant from the first point (no pull towards 0).
  close(ema([5, 5, 5, 5], 0.9), [5, 5, 5, 5]);
  assert.deepEqual(ema([], 0.9), []);
});

test('ema: missing values (NaN) are skipped, neither counted nor decaying the average', () => {
  // 2 then 4 with β = 0.5: (0.5·2 + 1·4) / 1.5; before the first value there is none.
  close(ema([NaN, 2, NaN, 4], 0.5), [NaN, 2, 2, 5 / 1.5]);
  close(ema([NaN, NaN], 0.5), [NaN, NaN]);
});

test('smoothing: none up to 12 points, 0.6 up to 40, 0.9 beyond; the drawn curve is that EMA', () => {
  assert.deepEqual([1, 12, 13, 40, 41, 5000].map(smoothingFor), [0, 0, 0.6, 0.6, 0.9, 0.9]);
  const few = [3, 1, 2];
  assert.deepEqual(smoothed(few), few);
  assert.notEqual(smoothed(few), few, 'a copy, not the input');
  const thirteen = Array.from({ length: 13 }, (_, i) => (i % 2 ? 1 : 3));
  close(smoothed(thirteen), ema(thirteen, 0.6));
});

test('bestValue: the lowest point of the smoothed curve', () => {
  // Unsmoothed (3 points): the raw minimum.
  assert.equal(bestValue([3, 1, 2]), 1);
  // 13 alternating points 3,1,3,…,3 at β = 0.6: at every odd index the weighted mean is
  // Σβ²ʲ·(1 + 3β) / Σβ²ʲ·(1 + β) = 2.8 / 1.6 = 1.75; at even indices it is above 2.
  const alternating = Array.from({ length: 13 }, (_, i) => (i % 2 ? 1 : 3));
  assert.ok(Math.abs(bestValue(alternating)! - 1.75) < 1e-12);
  assert.equal(bestValue([]), null);
  assert.equal(bestValue([NaN, NaN]), null);
  assert.equal(bestValue([NaN, 2.5]), 2.5);
});

test('secondsPerStep: recent speed over the last 20 logged records', () => {
  // Steps 1..30: 0.5 s per step up to step 10, then 2 s per step.
  const train = Array.from({ length: 30 }, (_, i) => {
    const step = i + 1;
    return { step, elapsed_s: step <= 10 ? 0.5 * step : 5 + 2 * (step - 10) };
  });
  // The last 20 records are steps 11..30: elapsed 7 → 45, so 38 s over 19 steps.
  assert.equal(secondsPerStep(train), 2);
  // Over all 30: (45 − 0.5) / 29.
  assert.equal(secondsPerStep(train, 30), 44.5 / 29);
  // Records logged every 10 steps: 5 s per 10 steps.
  assert.equal(
    secondsPerStep([
      { step: 10, elapsed_s: 5 },
      { step: 20, elapsed_s: 10 },
      { step: 30, elapsed_s: 15 },
    ]),
    0.5,
  );
  assert.equal(secondsPerStep([{ step: 1, elapsed_s: 1 }]), null);
  assert.equal(secondsPerStep([]), null);
  assert.equal(
    secondsPerStep([
      { step: 4, elapsed_s: 1 },
      { step: 4, elapsed_s: 2 },
    ]),
    null,
  );
});

test('etaSeconds: steps left times the recent speed', () => {
  const train = Array.from({ length: 30 }, (_, i) => ({ step: i + 1, elapsed_s: 2 * (i + 1) }));
  assert.equal(etaSeconds(train, 100), 70 * 2);
  assert.equal(etaSeconds(train, 30), null, 'done');
  assert.equal(etaSeconds(train.slice(0, 1), 100), null, 'speed unknown');
  assert.equal(etaSeconds([], 100), null);
});

test('progressFraction: done share, clamped; 0 without a total', () => {
  assert.equal(progressFraction(250, 1000), 0.25);
  assert.equal(progressFraction(1200, 1000), 1);
  assert.equal(progressFraction(5, 0), 0);
  assert.equal(progressFraction(5, null), 0);
});
