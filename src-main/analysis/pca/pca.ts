/**
 * Exact PCA of a feature matrix (pure: no fs, no tfjs).
 *
 * ml-pca's own SVD takes ~16 s on 20000×256 here (field-notes.md), so we form the centred
 * covariance ourselves — a blocked, symmetric XᵀX with float64 accumulation — and hand ml-pca
 * the d×d matrix (`isCovarianceMatrix: true`) for its symmetric eigendecomposition. When there
 * are fewer rows than features (n < d) the n×n Gram matrix of the centred rows has the same
 * non-zero spectrum and is smaller: we decompose that instead and map its eigenvectors back
 * (v = Xcᵀu / √((n−1)λ)). Both are exact up to floating-point rounding.
 *
 * Definitions follow scikit-learn's PCA: features are centred (not scaled); the variance along a
 * component uses the n − 1 denominator; explained-variance ratios divide by the total variance
 * (the covariance's trace, i.e. the sum of all eigenvalues, not only the k kept).
 *
 * Sign convention: each component is flipped so that its entry of largest magnitude is positive
 * (the first such entry on ties) — scikit-learn's `svd_flip(u_based_decision=False)`, which PCA
 * uses from scikit-learn 1.5 on. scikit-learn 1.2 (Debian's) instead makes the largest-|score|
 * sample positive (u_based_decision=True); that rule depends on the data projected, ours on the
 * basis alone, so a basis keeps its signs whatever data it is applied to.
 */
import { PCA } from 'ml-pca';
import { MotlabError } from '../../common/errors.ts';
import { symmetricCrossProduct } from './cross-product.ts';

/** An affine basis: centre on `mean`, then take dot products with the `k` unit rows. */
export interface PcaBasis {
  /** Feature dimension. */
  d: number;
  /** Number of components. */
  k: number;
  /** The centre, length d. */
  mean: Float64Array;
  /** Unit, mutually orthogonal rows, row-major [k, d]. */
  components: Float64Array;
}

export interface PcaFit extends PcaBasis {
  /** Rows the basis was fitted on. */
  n: number;
  /** Variance along each component (eigenvalues of the covariance, denominator n − 1), length k. */
  explainedVariance: Float64Array;
  /** explainedVariance / totalVariance, length k. */
  explainedVarianceRatio: Float64Array;
  /** Sum of the per-feature variances (denominator n − 1). */
  totalVariance: number;
  /** The n rows in the basis (projectOnto), row-major [n, k]. */
  projection: Float32Array;
}

/**
 * Fit k principal components to the n rows of `x` (row-major [n, d]). Needs n ≥ 2 and
 * 1 ≤ k ≤ min(n − 1, d) (centred data has rank at most n − 1).
 */
export function fitPca(x: Float32Array, n: number, d: number, k: number): PcaFit {
  checkShape(x, n, d, 'fitPca');
  if (n < 2) throw new MotlabError('invalid_request', `PCA needs at least 2 rows, got ${n}`);
  if (!Number.isInteger(k) || k < 1 || k > Math.min(n - 1, d))
    throw new MotlabError('invalid_request', `PCA of ${n}×${d} features can have 1 to ${Math.min(n - 1, d)} components, asked for ${k}`);
  const mean = columnMeans(x, n, d);
  const dual = n < d;
  const size = dual ? n : d;
  const scatter = dual ? centredGram(x, n, d, mean) : centredScatter(x, n, d, mean);
  let trace = 0;
  for (let i = 0; i < size; i++) trace += scatter[i * size + i];
  const totalVariance = trace / (n - 1);
  if (!(totalVariance > 0))
    throw new MotlabError('invalid_request', `PCA of ${n}×${d} features: every feature is constant (zero variance)`);

  const rows: number[][] = [];
  for (let i = 0; i < size; i++) rows.push(Array.from(scatter.subarray(i * size, (i + 1) * size), (v) => v / (n - 1)));
  const pca = new PCA(rows, { isCovarianceMatrix: true });
  const eigenvalues = pca.getEigenvalues();
  const vectors = pca.getEigenvectors(); // columns, in decreasing order of eigenvalue

  // Through the Gram matrix a component is Xcᵀu/√((n−1)λ): undefined where λ vanishes.
  if (dual && !(eigenvalues[k - 1] > 1e-12 * eigenvalues[0]))
    throw new MotlabError(
      'invalid_request',
      `PCA of ${n}×${d} features: the data has fewer than ${k} directions of non-zero variance, so component ${k} is undefined`,
    );
  const components = new Float64Array(k * d);
  const explainedVariance = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    explainedVariance[c] = Math.max(0, eigenvalues[c]);
    const row = components.subarray(c * d, (c + 1) * d);
    if (dual) {
      // v = Xcᵀ u, normalised (its norm is √((n−1)λ) up to rounding).
      for (let i = 0; i < n; i++) {
        const u = vectors.get(i, c);
        const o = i * d;
        for (let j = 0; j < d; j++) row[j] += (x[o + j] - mean[j]) * u;
      }
    } else {
      for (let j = 0; j < d; j++) row[j] = vectors.get(j, c);
    }
    normaliseAndFlip(row);
  }
  const explainedVarianceRatio = explainedVariance.map((v) => v / totalVariance);
  const basis: PcaBasis = { d, k, mean, components };
  return { ...basis, n, explainedVariance, explainedVarianceRatio, totalVariance, projection: projectOnto(basis, x, n, d) };
}

/** Coordinates of the n rows of `x` (row-major [n, d]) in `basis`: row-major [n, k], (x − mean)·componentᵢ. */
export function projectOnto(basis: PcaBasis, x: Float32Array, n: number, d: number): Float32Array {
  return Float32Array.from(coordinates(basis, x, n, d));
}

/** projectOnto in float64. */
function coordinates(basis: PcaBasis, x: Float32Array, n: number, d: number): Float64Array {
  checkShape(x, n, d, 'projectOnto');
  if (d !== basis.d) throw new MotlabError('invalid_request', `projectOnto: features have ${d} dimensions, the basis ${basis.d}`);
  const { k, mean, components } = basis;
  const out = new Float64Array(n * k);
  const centred = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) centred[j] = x[o + j] - mean[j];
    // Four components per pass over the row: one load of each centred value per four products.
    let c = 0;
    for (; c + 4 <= k; c += 4) {
      const w0 = c * d;
      const w1 = w0 + d;
      const w2 = w1 + d;
      const w3 = w2 + d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = 0; j < d; j++) {
        const v = centred[j];
        s0 += v * components[w0 + j];
        s1 += v * components[w1 + j];
        s2 += v * components[w2 + j];
        s3 += v * components[w3 + j];
      }
      const p = i * k + c;
      out[p] = s0;
      out[p + 1] = s1;
      out[p + 2] = s2;
      out[p + 3] = s3;
    }
    for (; c < k; c++) {
      const w = c * d;
      let s = 0;
      for (let j = 0; j < d; j++) s += centred[j] * components[w + j];
      out[i * k + c] = s;
    }
  }
  return out;
}

export interface AppliedBasis {
  /** projectOnto(basis, x, n, d). */
  projection: Float32Array;
  /** Variance of the data along each basis direction (about the data's own mean) / the data's total variance. */
  explainedVarianceRatio: Float64Array;
  totalVariance: number;
}

/**
 * A basis fitted elsewhere (say at a reference checkpoint) applied to other data: the projection,
 * centred on the basis's mean so that drift of the cloud shows, and the share of this data's
 * variance each direction captures (ratios need not decrease, and sum to at most 1).
 */
export function applyBasis(basis: PcaBasis, x: Float32Array, n: number, d: number): AppliedBasis {
  const coords = coordinates(basis, x, n, d);
  if (n < 2) throw new MotlabError('invalid_request', `applyBasis needs at least 2 rows, got ${n}`);
  const mean = columnMeans(x, n, d);
  let totalVariance = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) totalVariance += (x[o + j] - mean[j]) ** 2;
  }
  totalVariance /= n - 1;
  const { k } = basis;
  const explainedVarianceRatio = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += coords[i * k + c];
    const centre = sum / n;
    let squares = 0;
    for (let i = 0; i < n; i++) squares += (coords[i * k + c] - centre) ** 2;
    explainedVarianceRatio[c] = squares / (n - 1) / totalVariance;
  }
  return { projection: Float32Array.from(coords), explainedVarianceRatio, totalVariance };
}

/** Column means in float64; also where a NaN or ±Infinity is found and reported. */
export function columnMeans(x: Float32Array, n: number, d: number): Float64Array {
  const sum = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) sum[j] += x[o + j];
  }
  for (let j = 0; j < d; j++) {
    if (!Number.isFinite(sum[j])) {
      for (let i = 0; i < n; i++) {
        const v = x[i * d + j];
        if (!Number.isFinite(v)) throw new MotlabError('invalid_request', `features: row ${i}, column ${j} is ${v}`);
      }
    }
    sum[j] /= n;
  }
  return sum;
}

/** Σᵢ (xᵢ − mean)(xᵢ − mean)ᵀ, d×d row-major, float64 (centred rows, block by block, into cross-product.ts). */
export function centredScatter(x: Float32Array, n: number, d: number, mean: Float64Array): Float64Array {
  return symmetricCrossProduct(n, d, (block, first, count, width) => {
    for (let r = 0; r < count; r++) {
      const o = (first + r) * d;
      const p = r * width;
      for (let j = 0; j < d; j++) block[p + j] = x[o + j] - mean[j];
    }
  });
}

/** Σⱼ (x·ⱼ − meanⱼ)(x·ⱼ − meanⱼ)ᵀ over features j: the n×n Gram matrix of the centred rows. */
export function centredGram(x: Float32Array, n: number, d: number, mean: Float64Array): Float64Array {
  return symmetricCrossProduct(d, n, (block, first, count, width) => {
    for (let r = 0; r < count; r++) {
      const j = first + r;
      const m = mean[j];
      const p = r * width;
      for (let i = 0; i < n; i++) block[p + i] = x[i * d + j] - m;
    }
  });
}

/** Scale to unit length and make the largest-magnitude entry (the first on ties) positive. */
function normaliseAndFlip(row: Float64Array): void {
  let norm = 0;
  let largest = 0;
  for (let j = 0; j < row.length; j++) {
    norm += row[j] * row[j];
    if (Math.abs(row[j]) > Math.abs(row[largest])) largest = j;
  }
  const scale = (row[largest] < 0 ? -1 : 1) / Math.sqrt(norm);
  for (let j = 0; j < row.length; j++) row[j] *= scale;
}

function checkShape(x: Float32Array, n: number, d: number, where: string): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d < 1 || x.length !== n * d)
    throw new MotlabError('invalid_request', `${where}: ${x.length} values do not form a ${n}×${d} matrix`);
}
