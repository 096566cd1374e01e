/**
 * fitPca against scikit-learn's PCA (svd_solver='full', float64), computed at test time on the
 * matrices generated here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyBasis, fitPca, projectOnto } from '../../src-main/analysis/pca/pca.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { correlatedFeatures } from './features.ts';
import { runPython, skipUnlessPython } from './python.ts';

const skipWithoutSklearn = skipUnlessPython('numpy, sklearn', 'python3-sklearn');

interface SklearnPca {
  ratio: number[];
  variance: number[];
  mean: number[];
  /** Rows flipped by svd_flip(u_based_decision=False): our documented convention. */
  components: number[][];
  /** sklearn's transform(X) with the same flips applied. */
  projection: number[][];
}

const SKLEARN_PCA = `
from sklearn.decomposition import PCA
from sklearn.utils.extmath import svd_flip
n, d, k = params['n'], params['d'], params['k']
X = load('x').reshape(n, d).astype(np.float64)
p = PCA(n_components=k, svd_solver='full').fit(X)
_, flipped = svd_flip(np.zeros((1, k)), p.components_.copy(), u_based_decision=False)
signs = np.sign(np.sum(flipped * p.components_, axis=1))
emit({'ratio': p.explained_variance_ratio_, 'variance': p.explained_variance_, 'mean': p.mean_,
      'components': flipped, 'projection': p.transform(X) * signs})
`;

function compareWithSklearn(x: Float32Array, n: number, d: number, k: number) {
  const ours = fitPca(x, n, d, k);
  const expected = runPython<SklearnPca>(SKLEARN_PCA, { x }, { n, d, k });
  assert.equal(ours.k, k);
  for (let c = 0; c < k; c++) {
    assert.ok(
      Math.abs(ours.explainedVarianceRatio[c] - expected.ratio[c]) < 1e-6,
      `ratio ${c}: ${ours.explainedVarianceRatio[c]} vs ${expected.ratio[c]}`,
    );
    assert.ok(Math.abs(ours.explainedVariance[c] / expected.variance[c] - 1) < 1e-6, `variance ${c}`);
    let norm = 0;
    let worst = 0;
    for (let j = 0; j < d; j++) {
      const v = ours.components[c * d + j];
      norm += v * v;
      // Same sign convention, so no alignment is needed: compare entries directly.
      worst = Math.max(worst, Math.abs(v - expected.components[c][j]));
    }
    assert.ok(Math.abs(norm - 1) < 1e-12, `component ${c} is not a unit row (${norm})`);
    assert.ok(worst < 1e-4, `component ${c} differs by ${worst}`);
  }
  for (let j = 0; j < d; j++) assert.ok(Math.abs(ours.mean[j] - expected.mean[j]) < 1e-9 * (1 + Math.abs(expected.mean[j])), `mean ${j}`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let c = 0; c < k; c++) {
      scale = Math.max(scale, Math.abs(expected.projection[i][c]));
      worst = Math.max(worst, Math.abs(ours.projection[i * k + c] - expected.projection[i][c]));
    }
  assert.ok(worst < 1e-4 * scale, `projection differs by ${worst} (scale ${scale})`);
  return ours;
}

test('PCA of a tall matrix (n > d, covariance path) agrees with scikit-learn', { skip: skipWithoutSklearn }, () => {
  const n = 1500;
  const d = 48;
  compareWithSklearn(correlatedFeatures(1, n, d), n, d, 10);
});

test('PCA with d not a multiple of 4 and every component kept agrees with scikit-learn', { skip: skipWithoutSklearn }, () => {
  const n = 400;
  const d = 23;
  const fit = compareWithSklearn(correlatedFeatures(2, n, d, 0.85), n, d, d);
  const sum = fit.explainedVarianceRatio.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-9, `all ratios sum to ${sum}`);
});

test('PCA of a wide matrix (n < d, Gram path) agrees with scikit-learn', { skip: skipWithoutSklearn }, () => {
  const n = 60;
  const d = 150;
  compareWithSklearn(correlatedFeatures(3, n, d, 0.9), n, d, 12);
});

test('a fitted basis applied to its own data reproduces the fit exactly', () => {
  const n = 300;
  const d = 17;
  const x = correlatedFeatures(4, n, d);
  const fit = fitPca(x, n, d, 5);
  assert.deepEqual(projectOnto(fit, x, n, d), fit.projection);
  const applied = applyBasis(fit, x, n, d);
  assert.deepEqual(applied.projection, fit.projection);
  for (let c = 0; c < 5; c++) assert.ok(Math.abs(applied.explainedVarianceRatio[c] - fit.explainedVarianceRatio[c]) < 1e-9);
  assert.ok(Math.abs(applied.totalVariance / fit.totalVariance - 1) < 1e-12);
});

test('applyBasis reports the share of the other data’s variance each direction captures (numpy)', { skip: skipWithoutSklearn }, () => {
  const n = 500;
  const d = 12;
  const fit = fitPca(correlatedFeatures(5, n, d), n, d, 4);
  const other = correlatedFeatures(6, n, d);
  const applied = applyBasis(fit, other, n, d);
  const expected = runPython<{ ratio: number[]; projection: number[] }>(
    `
n, d, k = params['n'], params['d'], params['k']
X = load('x').reshape(n, d).astype(np.float64)
W = load('w').reshape(k, d)
P = (X - load('mean')) @ W.T
emit({'ratio': P.var(axis=0, ddof=1) / X.var(axis=0, ddof=1).sum(), 'projection': P.ravel()})
`,
    { x: other, w: fit.components, mean: fit.mean },
    { n, d, k: 4 },
  );
  for (let c = 0; c < 4; c++) assert.ok(Math.abs(applied.explainedVarianceRatio[c] - expected.ratio[c]) < 1e-9, `ratio ${c}`);
  for (let i = 0; i < n * 4; i++) assert.ok(Math.abs(applied.projection[i] - expected.projection[i]) < 1e-3);
});

test('bad input is refused with a message naming the problem', () => {
  const x = correlatedFeatures(7, 20, 4);
  const refuses = (f: () => unknown, pattern: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof MotlabError && pattern.test(e.message), String(pattern));
  refuses(() => fitPca(x, 20, 4, 5), /can have 1 to 4 components, asked for 5/);
  refuses(() => fitPca(x, 20, 4, 0), /asked for 0/);
  refuses(() => fitPca(x, 21, 4, 2), /80 values do not form a 21×4 matrix/);
  refuses(() => fitPca(x.subarray(0, 4), 1, 4, 1), /at least 2 rows/);
  const withNaN = x.slice();
  withNaN[2 * 4 + 3] = NaN;
  refuses(() => fitPca(withNaN, 20, 4, 2), /row 2, column 3 is NaN/);
  const withInf = x.slice();
  withInf[7 * 4 + 1] = -Infinity;
  refuses(() => fitPca(withInf, 20, 4, 2), /row 7, column 1 is -Infinity/);
  refuses(() => fitPca(new Float32Array(40).fill(3), 10, 4, 2), /every feature is constant/);
  // Wide data whose 6 rows take only 2 distinct values: one direction of variance, not 3.
  const twoPoints = Float32Array.from({ length: 6 * 10 }, (_, i) => (Math.floor(i / 10) % 2) * ((i % 10) + 1));
  refuses(() => fitPca(twoPoints, 6, 10, 3), /fewer than 3 directions of non-zero variance/);
  assert.ok(Math.abs(fitPca(twoPoints, 6, 10, 1).explainedVarianceRatio[0] - 1) < 1e-12);
  const fit = fitPca(x, 20, 4, 2);
  refuses(() => projectOnto(fit, new Float32Array(15), 5, 3), /features have 3 dimensions, the basis 4/);
});
