/**
 * Modality separability on planted data (separated: near 1; one shared distribution: near
 * chance), and each metric against scikit-learn / numpy on the same rows, split and subsample.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitLogistic } from '../../src-main/analysis/pca/logistic.ts';
import { fitPca } from '../../src-main/analysis/pca/pca.ts';
import { stratifiedSplit, stratifiedSubsample } from '../../src-main/analysis/pca/sampling.ts';
import { betweenWithinRatio, separability, silhouetteScore } from '../../src-main/analysis/pca/separability.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { plantedModalities } from './features.ts';
import { runPython, skipUnlessPython } from './python.ts';

const skipWithoutSklearn = skipUnlessPython('numpy, sklearn', 'python3-sklearn');

test('separated modalities score near 1; modalities drawn from one distribution score near chance', () => {
  const d = 24;
  const apart = plantedModalities(1, 300, 3, d, 12);
  const together = plantedModalities(2, 300, 3, d, 0);
  const separated = separability(apart.x, apart.n, d, apart.labels, { seed: 3 });
  const mixed = separability(together.x, together.n, d, together.labels, { seed: 3 });
  assert.ok(separated.probeAccuracy >= 0.99, `probe ${separated.probeAccuracy}`);
  assert.ok(separated.silhouette > 0.6, `silhouette ${separated.silhouette}`);
  assert.ok(separated.betweenWithinRatio > 3, `ratio ${separated.betweenWithinRatio}`);
  // Chance is 1/3 here (equal modalities); 225 test rows put 2 standard errors at ±0.063.
  assert.equal(mixed.probe.chanceAccuracy, 75 / 225);
  assert.ok(Math.abs(mixed.probeAccuracy - 1 / 3) < 0.09, `probe ${mixed.probeAccuracy}`);
  assert.ok(Math.abs(mixed.silhouette) < 0.03, `silhouette ${mixed.silhouette}`);
  // E[ratio] = (K − 1)·d / ((n − K)·d) ≈ 2/897 for one shared distribution.
  assert.ok(mixed.betweenWithinRatio < 0.01, `ratio ${mixed.betweenWithinRatio}`);
  assert.equal(separated.probe.testCount, 225);
  assert.equal(separated.probe.trainCount, 675);
  assert.equal(separated.silhouetteSample.sampleSize, 900);
  assert.equal(separated.silhouetteSample.components, 10);
  assert.ok(separated.probe.converged);
});

test('the recorded split is stratified, seeded and reproducible', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
  const a = stratifiedSplit(labels, 0.2, new Rng(7)).testIndices;
  const b = stratifiedSplit(labels, 0.2, new Rng(7)).testIndices;
  const c = stratifiedSplit(labels, 0.2, new Rng(8)).testIndices;
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const perLabel = [0, 0, 0];
  for (const i of a) perLabel[labels[i]]++;
  assert.deepEqual(perLabel, [120, 60, 20]);
  assert.ok(
    a.every((v, i) => i === 0 || v > a[i - 1]),
    'ascending, no repeats',
  );
  const sample = stratifiedSubsample(labels, 7, new Rng(1));
  const sampled = [0, 0, 0];
  for (const i of sample) sampled[labels[i]]++;
  // Shares 4.2, 2.1, 0.7: floors 4, 2, 0, the one left goes to the largest remainder (label 2).
  assert.deepEqual(sampled, [4, 2, 1]);
});

test('the logistic probe finds scikit-learn’s optimum and its held-out accuracy', { skip: skipWithoutSklearn }, () => {
  const d = 16;
  const { x, labels, n } = plantedModalities(4, 200, 3, d, 2.2);
  const result = separability(x, n, d, labels, { seed: 9 });
  const expected = runPython<{ accuracy: number; coef: number[][]; intercept: number[]; standardised: number[] }>(
    `
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
n, d = params['n'], params['d']
X, y, test = load('x').reshape(n, d).astype(np.float64), load('labels'), load('test')
train = np.setdiff1d(np.arange(n), test)
scaler = StandardScaler().fit(X[train])
model = LogisticRegression(C=1.0, multi_class='multinomial', solver='lbfgs', tol=1e-10, max_iter=10000)
model.fit(scaler.transform(X[train]), y[train])
emit({'accuracy': model.score(scaler.transform(X[test]), y[test]), 'coef': model.coef_, 'intercept': model.intercept_,
      'standardised': scaler.transform(X[train]).ravel()})
`,
    { x, labels, test: result.probe.testIndices },
    { n, d },
  );
  // Same convex objective, both optimised to convergence: the same predictions up to a row or two on the boundary.
  assert.ok(
    Math.abs(result.probeAccuracy - expected.accuracy) <= 2 / result.probe.testCount,
    `${result.probeAccuracy} vs ${expected.accuracy}`,
  );
  assert.ok(
    result.probeAccuracy > 0.5 && result.probeAccuracy < 0.99,
    `a probe that is neither trivial nor perfect: ${result.probeAccuracy}`,
  );
  // The optimum itself, from the same standardised rows. sklearn's multinomial weights are
  // defined up to a common shift, fixed by the penalty, so coefficients compare directly.
  const trainLabels = Int32Array.from(
    Array.from({ length: n }, (_, i) => i).filter((i) => !result.probe.testIndices.includes(i)),
    (i) => labels[i],
  );
  const model = fitLogistic(Float64Array.from(expected.standardised), trainLabels.length, d, trainLabels, 3, {
    tolerance: 1e-8,
    maxIterations: 2000,
  });
  assert.ok(model.converged, `not converged after ${model.iterations} iterations`);
  let scale = 0;
  let worst = 0;
  for (let k = 0; k < 3; k++) {
    for (let j = 0; j < d; j++) {
      scale = Math.max(scale, Math.abs(expected.coef[k][j]));
      worst = Math.max(worst, Math.abs(model.weights[k * d + j] - expected.coef[k][j]));
    }
    worst = Math.max(worst, Math.abs(model.intercepts[k] - expected.intercept[k]));
  }
  // scikit-learn stops on scipy's relative-decrease criterion (ftol 2.2e-9) before its gradient
  // tolerance; here that leaves it ~2e-5 (relative) from the optimum ours reaches.
  assert.ok(worst < 1e-4 * scale, `coefficients differ by ${worst} (scale ${scale})`);
});

/**
 * A badly conditioned probe problem: `d` features that are noisy copies of a few class-dependent
 * latent variables (so the standardised columns are strongly correlated), each then scaled by
 * 10^(−3…3) and shifted (so standardisation matters).
 */
function illConditioned(seed: number, perClass: number, classes: number, d: number): { x: Float32Array; labels: Int32Array; n: number } {
  const rng = new Rng(seed);
  const latent = 3;
  const centres = Float64Array.from({ length: classes * latent }, () => rng.normal());
  const mixing = Float64Array.from({ length: latent * d }, () => rng.normal());
  const n = perClass * classes;
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  const z = new Float64Array(latent);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let t = 0; t < latent; t++) z[t] = centres[c * latent + t] + rng.normal();
    for (let j = 0; j < d; j++) {
      let s = 0.05 * rng.normal();
      for (let t = 0; t < latent; t++) s += z[t] * mixing[t * d + j];
      x[i * d + j] = 10 ** (-3 + (6 * j) / (d - 1)) * s + 100 * (j % 3);
    }
  }
  return { x, labels, n };
}

test('on correlated features of very different scales the probe reaches scikit-learn’s optimum', { skip: skipWithoutSklearn }, () => {
  // Four modalities: three class contrasts, so the probe's lone last contrast is exercised too.
  const d = 12;
  const classes = 4;
  const { x, labels, n } = illConditioned(6, 150, classes, d);
  const result = separability(x, n, d, labels, { seed: 4 });
  const expected = runPython<{
    accuracy: number;
    coef: number[][];
    intercept: number[];
    standardised: number[];
    condition: number;
    gradient: number;
    sklearnGap: number;
  }>(
    `
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
n, d = params['n'], params['d']
X, y, test = load('x').reshape(n, d).astype(np.float64), load('labels'), load('test')
train = np.setdiff1d(np.arange(n), test)
scaler = StandardScaler().fit(X[train])
Z = scaler.transform(X[train])
model = LogisticRegression(C=1.0, multi_class='multinomial', solver='lbfgs', tol=1e-10, max_iter=100000).fit(Z, y[train])
# scikit-learn stops on scipy's relative decrease (ftol) before its tolerance on this problem;
# Newton's method from its solution finishes the job (same objective, exact Hessian; the
# intercepts' common shift is flat, lstsq takes the minimum-norm step that keeps it fixed).
A, Y, K = np.hstack([Z, np.ones((len(Z), 1))]), np.eye(params['classes'])[y[train]], params['classes']
theta = np.hstack([model.coef_, model.intercept_[:, None]])
penalty = np.ones(d + 1); penalty[-1] = 0
for _ in range(20):
    S = A @ theta.T
    P = np.exp(S - S.max(axis=1, keepdims=True)); P /= P.sum(axis=1, keepdims=True)
    grad = ((P - Y).T @ A + theta * penalty).ravel()
    H = np.zeros((K * (d + 1), K * (d + 1)))
    for k in range(K):
        for l in range(K):
            w = P[:, k] * ((k == l) - P[:, l])
            H[k*(d+1):(k+1)*(d+1), l*(d+1):(l+1)*(d+1)] = (A * w[:, None]).T @ A + (np.diag(penalty) if k == l else 0)
    theta = theta - np.linalg.lstsq(H, grad, rcond=None)[0].reshape(K, d + 1)
emit({'accuracy': model.score(scaler.transform(X[test]), y[test]), 'coef': theta[:, :d], 'intercept': theta[:, d],
      'standardised': Z.ravel(), 'condition': np.linalg.cond(Z.T @ Z), 'gradient': np.abs(grad).max(),
      'sklearnGap': np.abs(np.hstack([model.coef_, model.intercept_[:, None]]) - theta).max()})
`,
    { x, labels, test: result.probe.testIndices },
    { n, d, classes },
  );
  assert.ok(expected.condition > 1e4, `the standardised problem is badly conditioned: cond(ZᵀZ) = ${expected.condition}`);
  assert.ok(result.probe.converged, `not converged after ${result.probe.iterations} iterations`);
  assert.ok(
    Math.abs(result.probeAccuracy - expected.accuracy) <= 2 / result.probe.testCount,
    `${result.probeAccuracy} vs ${expected.accuracy}`,
  );
  assert.ok(result.probeAccuracy > 0.4 && result.probeAccuracy < 0.99, `neither chance nor perfect: ${result.probeAccuracy}`);
  const trainLabels = Int32Array.from(
    Array.from({ length: n }, (_, i) => i).filter((i) => !result.probe.testIndices.includes(i)),
    (i) => labels[i],
  );
  const model = fitLogistic(Float64Array.from(expected.standardised), trainLabels.length, d, trainLabels, classes, {
    tolerance: 1e-8,
    maxIterations: 5000,
  });
  assert.ok(model.converged, `not converged after ${model.iterations} iterations`);
  let scale = 0;
  let worst = 0;
  for (let k = 0; k < classes; k++) {
    for (let j = 0; j < d; j++) {
      scale = Math.max(scale, Math.abs(expected.coef[k][j]));
      worst = Math.max(worst, Math.abs(model.weights[k * d + j] - expected.coef[k][j]));
    }
    worst = Math.max(worst, Math.abs(model.intercepts[k] - expected.intercept[k]));
  }
  // The reference is the optimum to rounding (Newton's gradient ~1e-14); scikit-learn alone stops
  // ~1e-3 (relative) short of it here, ours with tolerance 1e-8 within ~1e-8.
  assert.ok(expected.gradient < 1e-9, `the reference is not at the optimum: gradient ${expected.gradient}`);
  assert.ok(worst < 1e-6 * scale, `coefficients differ by ${worst} (scale ${scale}; scikit-learn's own gap ${expected.sklearnGap})`);
});

test('silhouette agrees with sklearn.metrics.silhouette_score on the same subsample', { skip: skipWithoutSklearn }, () => {
  const d = 20;
  const { x, labels, n } = plantedModalities(5, 500, 3, d, 4);
  const fit = fitPca(x, n, d, 10);
  const result = separability(x, n, d, labels, { seed: 2, silhouetteSampleSize: 700, projection: { data: fit.projection, k: 10 } });
  assert.equal(result.silhouetteSample.sampleSize, 700);
  const expected = runPython<{ silhouette: number; direct: number; ratio: number }>(
    `
from sklearn.metrics import silhouette_score
n, d, k = params['n'], params['d'], params['k']
P, y, rows = load('projection').reshape(n, k).astype(np.float64), load('labels'), load('rows')
X = load('x').reshape(n, d).astype(np.float64)
mu = X.mean(axis=0)
between = sum((y == c).sum() * np.sum((X[y == c].mean(axis=0) - mu) ** 2) for c in np.unique(y))
within = sum(np.sum((X[y == c] - X[y == c].mean(axis=0)) ** 2) for c in np.unique(y))
small = load('small').reshape(-1, 3).astype(np.float64)
emit({'silhouette': silhouette_score(P[rows], y[rows]), 'direct': silhouette_score(small, load('smallLabels')),
      'ratio': between / within})
`,
    {
      projection: fit.projection,
      labels,
      rows: result.silhouetteSample.indices,
      x,
      small: Float32Array.of(0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 5, 5, 6, 5, 5, 5, 7, 1),
      smallLabels: Int32Array.of(0, 0, 1, 1, 1, 2),
    },
    { n, d, k: 10 },
  );
  assert.ok(Math.abs(result.silhouette - expected.silhouette) < 1e-6, `${result.silhouette} vs ${expected.silhouette}`);
  // A hand-sized case with a singleton label (scored 0, as scikit-learn does).
  const direct = silhouetteScore(
    Float32Array.of(0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 5, 5, 6, 5, 5, 5, 7, 1),
    6,
    3,
    Int32Array.of(0, 0, 1, 1, 1, 2),
  );
  assert.ok(Math.abs(direct - expected.direct) < 1e-12, `${direct} vs ${expected.direct}`);
  assert.ok(Math.abs(result.betweenWithinRatio / expected.ratio - 1) < 1e-9);
  assert.ok(Math.abs(betweenWithinRatio(x, n, d, labels) / expected.ratio - 1) < 1e-9);
});

test('separability refuses data with fewer than two modalities', () => {
  const x = new Float32Array(40).map((_, i) => i % 7);
  assert.throws(
    () => separability(x, 10, 4, new Int32Array(10)),
    (e: unknown) => e instanceof MotlabError && /at least two modalities.*rows per label: 0: 10/.test(e.message),
  );
  assert.throws(
    () => separability(x, 10, 4, Int32Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 1)),
    (e: unknown) => e instanceof MotlabError && /0: 9, 1: 1/.test(e.message),
  );
});
