import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstStepReaching, matchSteps } from '../../src-main/analysis/step-matching.ts';

test('a run that learns twice as fast needs half the steps (slope 0.5)', () => {
  // loss(step) = 10 / (1 + step/100) for the reference; the other run is the same curve at 2× speed.
  const steps = Array.from({ length: 41 }, (_, i) => i * 25);
  const reference = steps.map((step) => ({ step, loss: 10 / (1 + step / 100) }));
  const other = steps.map((step) => ({ step, loss: 10 / (1 + (2 * step) / 100) }));
  const result = matchSteps(reference, other);
  // Exact answer: y = x/2; linear interpolation of a convex curve overshoots a little.
  assert.ok(result.slope !== null && Math.abs(result.slope - 0.5) < 0.01, `slope ${result.slope}`);
  assert.equal(result.matchedCount, 40);
});

test('points the other run never reaches are reported unmatched and left out of the fit', () => {
  const reference = [
    { step: 0, loss: 5 },
    { step: 10, loss: 3 },
    { step: 20, loss: 1 },
  ];
  const other = [
    { step: 0, loss: 5 },
    { step: 10, loss: 2 },
    { step: 20, loss: 1.5 },
  ];
  const result = matchSteps(reference, other);
  // Reaching 3 happens between steps 0 (5) and 10 (2): 0 + (5-3)/(5-2)·10 = 6.667.
  assert.ok(Math.abs(result.matches[0].matchedStep! - 20 / 3) < 1e-9);
  assert.equal(result.matches[1].matchedStep, null);
  assert.ok(Math.abs(result.slope! - (10 * (20 / 3)) / 100) < 1e-9);
});

test('firstStepReaching returns the first logged step when already below', () => {
  assert.equal(firstStepReaching([{ step: 3, loss: 1 }], 2), 3);
  assert.equal(firstStepReaching([], 2), null);
});
