/**
 * How separable the modalities are in one layer's features at one checkpoint: the quantitative
 * companion of a PCA picture (pure: no fs, no tfjs). Three numbers:
 *
 * - probeAccuracy: held-out accuracy of a multinomial logistic-regression probe on the full
 *   features (logistic.ts: L2 with scikit-learn's C = 1, L-BFGS). Features are standardised with
 *   the training rows' mean and standard deviation (population, ddof 0; constant features
 *   left unscaled). The train/test split is stratified by modality and seeded; the test rows
 *   are recorded. Chance is about the largest modality's share of the test rows (recorded too).
 * - silhouette: the mean silhouette coefficient (Euclidean) of the modality labels in the top-k
 *   PC coordinates of this checkpoint (k = 10 by default), computed exactly — all pairwise
 *   distances, O(m²·k) — on a seeded subsample of m ≤ 2000 rows stratified by modality (each
 *   modality keeps its share, largest remainders rounded up). A point alone in its modality
 *   scores 0, as in scikit-learn. Permuting or flipping PCs does not change it.
 * - betweenWithinRatio: trace(between-modality scatter) / trace(within-modality scatter) on the
 *   full features, Σ_c n_c‖μ_c − μ‖² / Σᵢ‖xᵢ − μ_{yᵢ}‖²: large when modalities sit apart,
 *   about (K − 1)/(n − K) when they share one distribution.
 */
import { MotlabError } from '../../common/errors.ts';
import { Rng } from '../../util/rng.ts';
import { fitLogistic, predictLogistic } from './logistic.ts';
import { fitPca } from './pca.ts';
import { stratifiedSplit, stratifiedSubsample } from './sampling.ts';

export interface SeparabilityOptions {
  /** Seeds the train/test split and the silhouette subsample. Default 0. */
  seed?: number;
  /** Share of each modality's rows held out for testing the probe. Default 0.25. */
  testFraction?: number;
  /** The probe's inverse regularisation strength (scikit-learn's C). Default 1. */
  c?: number;
  /** The probe's L-BFGS iterations at most. Default 300. */
  maxIterations?: number;
  /** PCs spanning the silhouette's space. Default 10 (fewer when the data allow fewer). */
  silhouetteComponents?: number;
  /** Rows in the silhouette's subsample at most. Default 2000. */
  silhouetteSampleSize?: number;
  /**
   * This checkpoint's PCA coordinates of the same rows (row-major [n, k], k ≥ the silhouette's
   * components), e.g. PcaFit.projection; computed with fitPca when absent.
   */
  projection?: { data: Float32Array; k: number };
}

export interface ProbeSplit {
  seed: number;
  testFraction: number;
  trainCount: number;
  testCount: number;
  /** Rows held out, ascending; the others trained the probe. */
  testIndices: Int32Array;
}

export interface SeparabilityResult {
  probeAccuracy: number;
  silhouette: number;
  betweenWithinRatio: number;
  probe: ProbeSplit & {
    c: number;
    iterations: number;
    converged: boolean;
    /** The largest modality's share of the test rows: what always guessing it would score. */
    chanceAccuracy: number;
  };
  silhouetteSample: {
    seed: number;
    components: number;
    sampleSize: number;
    /** Rows of the subsample, ascending. */
    indices: Int32Array;
  };
}

/**
 * Separability of the modality `labels` (integers ≥ 0, one per row) in the n rows of `x`
 * (row-major [n, d]). Needs at least two modalities with at least two rows each.
 */
export function separability(
  x: Float32Array,
  n: number,
  d: number,
  labels: Int32Array,
  options: SeparabilityOptions = {},
): SeparabilityResult {
  const { seed = 0, testFraction = 0.25, c = 1, maxIterations = 300, silhouetteComponents = 10, silhouetteSampleSize = 2000 } = options;
  if (x.length !== n * d) throw new MotlabError('invalid_request', `separability: ${x.length} values do not form a ${n}×${d} matrix`);
  const classes = checkLabels(labels, n);
  const rng = new Rng(seed);
  const splitRng = rng.fork();
  const sampleRng = rng.fork();

  const split = stratifiedSplit(labels, testFraction, splitRng);
  const probe = probeAccuracy(x, n, d, labels, classes, split.testIndices, { c, maxIterations });

  const k = Math.min(silhouetteComponents, n - 1, d);
  let coords: Float32Array;
  let stride: number;
  if (options.projection) {
    if (options.projection.k < k || options.projection.data.length !== n * options.projection.k)
      throw new MotlabError('invalid_request', `separability: the projection given must be ${n}×(at least ${k}) coordinates`);
    coords = options.projection.data;
    stride = options.projection.k;
  } else {
    coords = fitPca(x, n, d, k).projection;
    stride = k;
  }
  const sample = stratifiedSubsample(labels, Math.min(n, silhouetteSampleSize), sampleRng);
  const sampleCoords = new Float32Array(sample.length * k);
  const sampleLabels = new Int32Array(sample.length);
  sample.forEach((row, i) => {
    for (let e = 0; e < k; e++) sampleCoords[i * k + e] = coords[row * stride + e];
    sampleLabels[i] = labels[row];
  });

  return {
    probeAccuracy: probe.accuracy,
    silhouette: silhouetteScore(sampleCoords, sample.length, k, sampleLabels),
    betweenWithinRatio: betweenWithinRatio(x, n, d, labels),
    probe: {
      seed,
      testFraction,
      trainCount: n - split.testIndices.length,
      testCount: split.testIndices.length,
      testIndices: split.testIndices,
      c,
      iterations: probe.iterations,
      converged: probe.converged,
      chanceAccuracy: probe.chanceAccuracy,
    },
    silhouetteSample: { seed, components: k, sampleSize: sample.length, indices: sample },
  };
}

let scratch = new Float64Array(0);

/** A Float64Array of `length` (contents undefined) reused from call to call, grown when needed. */
function scratchFloat64(length: number): Float64Array {
  if (scratch.length < length) scratch = new Float64Array(length);
  return scratch.subarray(0, length);
}

/**
 * Held-out accuracy of the logistic probe trained on every row not in `testIndices`, after
 * standardising with the training rows' statistics.
 */
export function probeAccuracy(
  x: Float32Array,
  n: number,
  d: number,
  labels: Int32Array,
  classes: number,
  testIndices: Int32Array,
  options: { c?: number; maxIterations?: number } = {},
): { accuracy: number; iterations: number; converged: boolean; chanceAccuracy: number } {
  const isTest = new Uint8Array(n);
  for (const i of testIndices) isTest[i] = 1;
  const train = new Int32Array(n - testIndices.length);
  for (let i = 0, t = 0; i < n; i++) if (!isTest[i]) train[t++] = i;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (const i of train) for (let j = 0, o = i * d; j < d; j++) mean[j] += x[o + j];
  for (let j = 0; j < d; j++) mean[j] /= train.length;
  for (const i of train)
    for (let j = 0, o = i * d; j < d; j++) {
      const centred = x[o + j] - mean[j];
      scale[j] += centred * centred;
    }
  for (let j = 0; j < d; j++) {
    const sd = Math.sqrt(scale[j] / train.length);
    scale[j] = sd > 0 ? sd : 1;
  }
  // Both standardised matrices live in one buffer kept from call to call: fresh multi-megabyte
  // arrays cost more in page faults than the loop that fills them (~20 ms a fit here).
  const buffer = scratchFloat64(n * d);
  let used = 0;
  const standardised = (rows: Int32Array) => {
    const out = buffer.subarray(used, used + rows.length * d);
    used += rows.length * d;
    for (let r = 0; r < rows.length; r++)
      for (let j = 0, o = rows[r] * d, p = r * d; j < d; j++) out[p + j] = (x[o + j] - mean[j]) / scale[j];
    return out;
  };
  const model = fitLogistic(
    standardised(train),
    train.length,
    d,
    Int32Array.from(train, (i) => labels[i]),
    classes,
    options,
  );
  const predicted = predictLogistic(model, standardised(testIndices), testIndices.length);
  let correct = 0;
  const testCounts = new Array<number>(classes).fill(0);
  testIndices.forEach((row, i) => {
    if (predicted[i] === labels[row]) correct++;
    testCounts[labels[row]]++;
  });
  return {
    accuracy: correct / testIndices.length,
    iterations: model.iterations,
    converged: model.converged,
    chanceAccuracy: Math.max(...testCounts) / testIndices.length,
  };
}

/**
 * Mean silhouette coefficient of the m rows of `coords` (row-major [m, k]) under `labels`,
 * Euclidean, exact: s = (b − a) / max(a, b) with a the mean distance to the other rows of the
 * same label and b the smallest mean distance to the rows of another label; 0 for a row alone
 * in its label.
 */
export function silhouetteScore(coords: Float32Array, m: number, k: number, labels: Int32Array): number {
  const classes = checkLabels(labels, m, 1);
  // Rows grouped by label (stable), in float64: each row's distances to the later rows of one
  // label form a contiguous run, summed in a local variable.
  const sizes = new Int32Array(classes);
  for (let i = 0; i < m; i++) sizes[labels[i]]++;
  const starts = new Int32Array(classes + 1);
  for (let c = 0; c < classes; c++) starts[c + 1] = starts[c] + sizes[c];
  const labelOf = new Int32Array(m);
  const rows = new Float64Array(m * k);
  const next = starts.slice(0, classes);
  for (let i = 0; i < m; i++) {
    const at = next[labels[i]]++;
    labelOf[at] = labels[i];
    for (let e = 0; e < k; e++) rows[at * k + e] = coords[i * k + e];
  }
  // sums[c·m + i]: total distance from (grouped) row i to the rows labelled c; each pair once.
  const sums = new Float64Array(classes * m);
  for (let i = 0; i < m; i++) {
    const li = labelOf[i];
    const ri = i * k;
    const toI = li * m;
    for (let c = li; c < classes; c++) {
      let total = 0;
      let j = Math.max(i + 1, starts[c]);
      const end = starts[c + 1];
      // Four rows at a time: four independent sums instead of one chain of additions.
      for (; j + 4 <= end; j += 4) {
        const r0 = j * k;
        const r1 = r0 + k;
        const r2 = r1 + k;
        const r3 = r2 + k;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let e = 0; e < k; e++) {
          const v = rows[ri + e];
          const d0 = v - rows[r0 + e];
          const d1 = v - rows[r1 + e];
          const d2 = v - rows[r2 + e];
          const d3 = v - rows[r3 + e];
          s0 += d0 * d0;
          s1 += d1 * d1;
          s2 += d2 * d2;
          s3 += d3 * d3;
        }
        const t0 = Math.sqrt(s0);
        const t1 = Math.sqrt(s1);
        const t2 = Math.sqrt(s2);
        const t3 = Math.sqrt(s3);
        sums[toI + j] += t0;
        sums[toI + j + 1] += t1;
        sums[toI + j + 2] += t2;
        sums[toI + j + 3] += t3;
        total += t0 + t1 + (t2 + t3);
      }
      for (; j < end; j++) {
        const rj = j * k;
        let s = 0;
        for (let e = 0; e < k; e++) {
          const diff = rows[ri + e] - rows[rj + e];
          s += diff * diff;
        }
        const dist = Math.sqrt(s);
        total += dist;
        sums[toI + j] += dist;
      }
      sums[c * m + i] += total;
    }
  }
  let total = 0;
  for (let i = 0; i < m; i++) {
    const own = labelOf[i];
    if (sizes[own] <= 1) continue;
    const a = sums[own * m + i] / (sizes[own] - 1);
    let b = Infinity;
    for (let c = 0; c < classes; c++) if (c !== own && sizes[c] > 0) b = Math.min(b, sums[c * m + i] / sizes[c]);
    const denominator = Math.max(a, b);
    total += denominator > 0 ? (b - a) / denominator : 0;
  }
  return total / m;
}

/** trace(between-class scatter) / trace(within-class scatter) of the n rows of `x`. */
export function betweenWithinRatio(x: Float32Array, n: number, d: number, labels: Int32Array): number {
  const classes = checkLabels(labels, n);
  const counts = new Float64Array(classes);
  const classMeans = new Float64Array(classes * d);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    counts[c]++;
    for (let j = 0; j < d; j++) {
      classMeans[c * d + j] += x[i * d + j];
      mean[j] += x[i * d + j];
    }
  }
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let c = 0; c < classes; c++) if (counts[c] > 0) for (let j = 0; j < d; j++) classMeans[c * d + j] /= counts[c];
  let between = 0;
  for (let c = 0; c < classes; c++) for (let j = 0; j < d; j++) between += counts[c] * (classMeans[c * d + j] - mean[j]) ** 2;
  let within = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) within += (x[i * d + j] - classMeans[labels[i] * d + j]) ** 2;
  return between / within;
}

/** Number of label values (max + 1); at least two present, each used by at least `minRows` rows. */
function checkLabels(labels: Int32Array, n: number, minRows = 2): number {
  if (labels.length !== n) throw new MotlabError('invalid_request', `separability: ${labels.length} labels for ${n} rows`);
  let max = -1;
  for (let i = 0; i < n; i++) {
    if (!(labels[i] >= 0)) throw new MotlabError('invalid_request', `separability: label ${labels[i]} at row ${i} is negative`);
    if (labels[i] > max) max = labels[i];
  }
  const counts = new Array<number>(max + 1).fill(0);
  for (let i = 0; i < n; i++) counts[labels[i]]++;
  const present = counts.filter((c) => c > 0);
  if (present.length < 2 || present.some((c) => c < minRows))
    throw new MotlabError(
      'invalid_request',
      `separability needs at least two modalities with at least ${minRows} row${minRows > 1 ? 's' : ''} each; ` +
        `rows per label: ${counts.map((c, l) => `${l}: ${c}`).join(', ')}`,
    );
  return max + 1;
}
