/**
 * Zoom and pan of a chart's x domain (src-renderer/lib/zoom.ts) and the read-out's point lookup
 * (src-renderer/lib/readout.ts), against hand computations and a brute-force search.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clampDomain, coversLimits, panDomain, readRange, spanRatio, within, zoomDomain } from '../../src-renderer/lib/zoom.ts';
import { nearestIndex, readIndex } from '../../src-renderer/lib/readout.ts';

const near = (a: readonly number[], b: readonly number[], tol = 1e-9) =>
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${a} ≈ ${b}`));

test('zooming keeps the point under the pointer where it is (linear and log)', () => {
  // [0, 100] zoomed ×0.5 about 80: 80 − 80·0.5 = 40 … 80 + 20·0.5 = 90.
  near(zoomDomain([0, 100], 80, 0.5, 'linear', [0, 1000]), [40, 90]);
  // Log: [1, 10⁴] about 100 (log-midpoint) ×0.5 → [10, 10³].
  near(zoomDomain([1, 1e4], 100, 0.5, 'log', [1, 1e6]), [10, 1000]);
  // Zooming out past the limits shows exactly the limits.
  near(zoomDomain([10, 20], 15, 100, 'linear', [0, 50]), [0, 50]);
  assert.ok(coversLimits([0, 50], [0, 50], 'linear'));
  assert.ok(!coversLimits([0, 49], [0, 50], 'linear'));
});

test('panning moves by a fraction of the span and stops at the limits, keeping the span', () => {
  near(panDomain([10, 20], 0.5, 'linear', [0, 100]), [15, 25]);
  near(panDomain([10, 20], -5, 'linear', [0, 100]), [0, 10]);
  near(panDomain([80, 95], 1, 'linear', [0, 100]), [85, 100]);
  // Log: one decade wide, half a decade to the right.
  near(panDomain([10, 100], 0.5, 'log', [1, 1e5]), [10 ** 1.5, 10 ** 2.5]);
  // A log axis whose limits reach 0 has no lower limit it can use: only the upper one holds.
  near(panDomain([10, 100], -1, 'log', [0, 1e5]), [1, 10]);
});

test('domains never collapse and stay inside the limits', () => {
  const tiny = clampDomain([5, 5], 'linear', [0, 10]);
  assert.ok(tiny[1] > tiny[0]);
  near(clampDomain([-5, 3], 'linear', [0, 100]), [0, 8]);
  near(clampDomain([2, 3], 'linear', null), [2, 3]);
});

test('the range read for a zoom reaches beyond the visible domain by the margin, within the limits', () => {
  near(readRange([40, 60], 0.5, 'linear', [0, 100]), [30, 70]);
  near(readRange([5, 60], 0.5, 'linear', [0, 100]), [0, 87.5]);
  near(readRange([10, 100], 0.5, 'log', [1, 1e4]), [10 ** 0.5, 10 ** 2.5]);
  assert.ok(within([35, 60], [30, 70]) && !within([25, 60], [30, 70]) && !within([35, 60], null));
  near([spanRatio([30, 70], [40, 60], 'linear'), spanRatio([1, 1000], [10, 100], 'log')], [2, 3]);
});

test('the read-out takes the nearest point, and none beyond a series’ ends', () => {
  const xs = [0, 1, 2, 5, 9, 10, 30];
  for (let x = -3; x <= 33; x += 0.25) {
    const brute = xs.reduce((best, v, i) => (Math.abs(v - x) < Math.abs(xs[best] - x) ? i : best), 0);
    assert.equal(Math.abs(xs[nearestIndex(xs, x)] - x), Math.abs(xs[brute] - x), `x = ${x}`);
  }
  assert.equal(nearestIndex([], 3), -1);
  assert.equal(readIndex(xs, 31, 0), -1);
  assert.equal(readIndex(xs, 31, 2), 6);
  assert.equal(readIndex(xs, -0.5, 0), -1);
  assert.equal(readIndex(xs, 7.5, 0), 4);
});
