/**
 * Aligned bases across checkpoints: synthetic sequences whose true correspondence is known,
 * then hidden behind random permutations and sign flips; the matching against SciPy's
 * linear_sum_assignment; and the fixed-basis mode reproducing the reference exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignBases, alignFits, applyAlignment } from '../../src-main/analysis/pca/align.ts';
import { greedyAssignment, minCostAssignment } from '../../src-main/analysis/pca/assignment.ts';
import { applyBasis, fitPca, projectOnto, type PcaBasis } from '../../src-main/analysis/pca/pca.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { correlatedFeatures } from './features.ts';
import { runPython, skipUnlessPython } from './python.ts';

function dot(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let e = 0; e < d; e++) s += a[i * d + e] * b[j * d + e];
  return s;
}

/** Gram–Schmidt on the rows (k ≤ d), in place. */
function orthonormaliseRows(rows: Float64Array, k: number, d: number): Float64Array {
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < i; j++) {
      const p = dot(rows, i, rows, j, d);
      for (let e = 0; e < d; e++) rows[i * d + e] -= p * rows[j * d + e];
    }
    const norm = Math.sqrt(dot(rows, i, rows, i, d));
    for (let e = 0; e < d; e++) rows[i * d + e] /= norm;
  }
  return rows;
}

function basisOf(components: Float64Array, k: number, d: number): PcaBasis {
  return { d, k, mean: new Float64Array(d), components };
}

/** The true bases drift slowly; what a PCA would report is each one shuffled and sign-flipped. */
function driftingSequence(seed: number, steps: number, k: number, d: number, drift: number) {
  const rng = new Rng(seed);
  const truth: Float64Array[] = [
    orthonormaliseRows(
      Float64Array.from({ length: k * d }, () => rng.normal()),
      k,
      d,
    ),
  ];
  for (let t = 1; t < steps; t++) {
    const next = truth[t - 1].map((v) => v + drift * rng.normal());
    truth.push(orthonormaliseRows(next, k, d));
  }
  const observed = truth.map((rows) => {
    const permutation = Array.from({ length: k }, (_, i) => i);
    for (let i = k - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [permutation[i], permutation[j]] = [permutation[j], permutation[i]];
    }
    const out = new Float64Array(k * d);
    permutation.forEach((from, i) => {
      const sign = rng.uniform() < 0.5 ? -1 : 1;
      for (let e = 0; e < d; e++) out[i * d + e] = sign * rows[from * d + e];
    });
    return out;
  });
  return { truth, observed };
}

function alignedComponents(observed: Float64Array[], k: number, d: number, alignments: ReturnType<typeof alignBases>): Float64Array[] {
  return observed.map((rows, t) => {
    const { permutation, signs } = alignments[t];
    const out = new Float64Array(k * d);
    for (let i = 0; i < k; i++) for (let e = 0; e < d; e++) out[i * d + e] = signs[i] * rows[permutation[i] * d + e];
    return out;
  });
}

for (const mode of ['reference', 'chain'] as const) {
  test(`${mode} alignment undoes random permutations and sign flips; no component flips between consecutive checkpoints`, () => {
    const k = 6;
    const d = 20;
    const steps = 15;
    const reference = 5;
    const { truth, observed } = driftingSequence(11, steps, k, d, 0.04);
    const alignments = alignBases(
      observed.map((c) => basisOf(c, k, d)),
      { reference, mode },
    );
    const aligned = alignedComponents(observed, k, d, alignments);
    // The reference is kept as observed; every other checkpoint's position i must hold the true
    // component that the reference's position i holds, with the matching sign.
    for (let i = 0; i < k; i++) {
      let trueIndex = -1;
      let trueSign = 0;
      for (let j = 0; j < k; j++) {
        const c = dot(observed[reference], i, truth[reference], j, d);
        if (Math.abs(c) > 0.999) [trueIndex, trueSign] = [j, Math.sign(c)];
      }
      assert.ok(trueIndex >= 0);
      for (let t = 0; t < steps; t++) {
        const c = trueSign * dot(aligned[t], i, truth[t], trueIndex, d);
        assert.ok(c > 0.999, `checkpoint ${t}, position ${i}: cosine with the true component ${c}`);
      }
    }
    for (let t = 0; t + 1 < steps; t++)
      for (let i = 0; i < k; i++)
        assert.ok(dot(aligned[t], i, aligned[t + 1], i, d) > 0, `PC${i + 1} flips between checkpoints ${t} and ${t + 1}`);
    assert.equal(alignments[reference].target, null);
    for (let t = 0; t < steps; t++)
      if (t !== reference) assert.equal(alignments[t].target, mode === 'chain' ? (t < reference ? t + 1 : t - 1) : reference);
  });
}

test('a basis rotating far from the reference: chain mode follows it, reference mode swaps axes past 45°', () => {
  // PC1 = (cos θ, sin θ, 0), PC2 = (−sin θ, cos θ, 0), θ from 0° to 170° in 10° steps.
  const d = 3;
  const k = 2;
  const angles = Array.from({ length: 18 }, (_, t) => (t * 10 * Math.PI) / 180);
  const bases = angles.map((a) => basisOf(Float64Array.of(Math.cos(a), Math.sin(a), 0, -Math.sin(a), Math.cos(a), 0), k, d));
  const chain = alignedComponents(
    bases.map((b) => b.components),
    k,
    d,
    alignBases(bases, { reference: 0, mode: 'chain' }),
  );
  chain.forEach((rows, t) => {
    // Chain alignment follows the rotation: position 0 stays the rotating PC1 with its sign.
    assert.ok(Math.abs(rows[0] - Math.cos(angles[t])) < 1e-12 && Math.abs(rows[1] - Math.sin(angles[t])) < 1e-12, `checkpoint ${t}`);
  });
  const fixedRef = alignBases(bases, { reference: 0, mode: 'reference' });
  // |cos 40°| = 0.77 > |sin 40°| = 0.64: still matched; at 50° the other axis is closer.
  assert.deepEqual(Array.from(fixedRef[4].permutation), [0, 1]);
  assert.deepEqual(Array.from(fixedRef[5].permutation), [1, 0]);
  assert.ok(Math.abs(fixedRef[5].cosine[0] - Math.sin((50 * Math.PI) / 180)) < 1e-12);
});

test('aligned fits: projections follow their components exactly; fixed mode reproduces the reference', () => {
  const n = 400;
  const d = 10;
  const k = 4;
  // Checkpoints whose features drift: each is the previous plus a little fresh structure.
  const base = correlatedFeatures(21, n, d, 0.7);
  const features = Array.from({ length: 6 }, (_, t) => {
    const noise = correlatedFeatures(100 + t, n, d, 0.7, 0);
    return base.map((v, i) => v + 0.1 * t * noise[i]);
  });
  const fits = features.map((x) => fitPca(x, n, d, k));
  const { fits: aligned, alignments } = alignFits(fits, { reference: 2, mode: 'chain' });
  aligned.forEach((fit, t) => {
    assert.deepEqual(fit.projection, projectOnto(fit, features[t], n, d), `checkpoint ${t}`);
    for (let i = 0; i < k; i++) {
      assert.equal(fit.explainedVariance[i], fits[t].explainedVariance[alignments[t].permutation[i]]);
      if (t > 0) assert.ok(dot(fit.components, i, aligned[t - 1].components, i, d) > 0);
    }
  });
  assert.deepEqual(aligned[2].projection, fits[2].projection);
  assert.deepEqual(aligned[2].components, fits[2].components);
  // Fixed mode: the reference basis applied to every checkpoint; at the reference, exactly its fit.
  assert.deepEqual(applyBasis(fits[2], features[2], n, d).projection, fits[2].projection);
  assert.notDeepEqual(applyBasis(fits[2], features[5], n, d).projection, fits[5].projection);
  assert.deepEqual(applyAlignment(fits[0], alignments[0]).components, aligned[0].components);
});

test(
  'the Hungarian matching agrees with SciPy’s linear_sum_assignment',
  { skip: skipUnlessPython('numpy, scipy', 'python3-scipy') },
  () => {
    const rng = new Rng(5);
    const sizes = [1, 2, 3, 5, 8, 13, 30];
    const costs = sizes.map((n) => Float64Array.from({ length: n * n }, () => rng.normal()));
    const flat = new Float64Array(costs.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of costs) {
      flat.set(c, at);
      at += c.length;
    }
    const expected = runPython<number[][]>(
      `
from scipy.optimize import linear_sum_assignment
flat, out, at = load('costs'), [], 0
for n in params['sizes']:
    rows, cols = linear_sum_assignment(flat[at:at + n * n].reshape(n, n))
    out.append(cols[np.argsort(rows)]); at += n * n
emit(out)
`,
      { costs: flat },
      { sizes },
    );
    sizes.forEach((n, s) => assert.deepEqual(Array.from(minCostAssignment(costs[s], n)), expected[s], `size ${n}`));
  },
);

test('greedy matching takes the best pair first, even when that is not optimal (hand example)', () => {
  const cost = Float64Array.of(-0.9, -0.8, -0.85, -0.1);
  assert.deepEqual(Array.from(greedyAssignment(cost, 2)), [0, 1]); // total −1.0
  assert.deepEqual(Array.from(minCostAssignment(cost, 2)), [1, 0]); // total −1.65
});
