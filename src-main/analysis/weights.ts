/**
 * Weight-space analyses: what can be said about a checkpoint from its weights alone, so they
 * apply to every checkpoint, including ones the lab cannot run (imported weights only).
 *
 * - the Frobenius norm of every weight, per layer and tower;
 * - the top singular values of every matrix (Lanczos on the Gram operator WᵀW or WWᵀ, whichever
 *   is smaller, with full reorthogonalisation; the tridiagonal eigenproblem by implicit QL), with
 *   an error bound from the Lanczos residuals;
 * - tower drift: cosine similarity and linear CKA (analysis/towers.ts) between the towers of the
 *   same weight in the same layer.
 *
 * Pure float64 arithmetic over row-major float32 arrays (no Node, no tfjs); the reading is in
 * weights-collect.ts.
 */
import { MotlabError } from '../common/errors.ts';
import type { WeightComponent } from '../common/weight-analysis.ts';
import { cosineSimilarity, linearCka, type Matrix } from './towers.ts';

// ---------------------------------------------------------------------------------------------
// Which weight a tensor name is (docs/architecture.md §5)

/** Where a tensor sits in the model: `tower` is the index within `component`'s towers. */
export interface WeightSlot {
  /** `embedding` and `output` have no towers. */
  component: WeightComponent;
  /** null for the embedding, the output head and the final norm. */
  layer: number | null;
  /** e.g. "wq", "q_norm", "attention_norm", "w1", "router", "expert 2 w1", "final_norm", "wq bias". */
  weight: string;
  tower: number | null;
}

const LAYER_PATTERNS: [RegExp, (m: RegExpExecArray) => Omit<WeightSlot, 'layer'>][] = [
  [
    /^attention\.(wq|wk|wv|wo|q_norm|k_norm)\.(\d+)\.(weight|bias)$/,
    (m) => ({ component: 'attention', weight: m[3] === 'bias' ? `${m[1]} bias` : m[1], tower: Number(m[2]) }),
  ],
  [/^(attention_norm|ffn_norm)\.(\d+)\.weight$/, (m) => ({ component: 'norm', weight: m[1], tower: Number(m[2]) })],
  [
    /^feed_forward\.(w1|w2|w3|router)\.(\d+)\.(weight|bias)$/,
    (m) => ({ component: 'ffn', weight: m[3] === 'bias' ? `${m[1]} bias` : m[1], tower: Number(m[2]) }),
  ],
  [
    /^feed_forward\.experts\.(\d+)\.(\d+)\.(w1|w2|w3)\.weight$/,
    (m) => ({ component: 'ffn', weight: `expert ${Number(m[2])} ${m[3]}`, tower: Number(m[1]) }),
  ],
];

/** The slot of one of our tensor names (the table of architecture.md, plus biases), or null. */
export function weightSlotOf(name: string): WeightSlot | null {
  if (name === 'embed.weight') return { component: 'embedding', layer: null, weight: 'embed', tower: null };
  if (name === 'output.weight') return { component: 'output', layer: null, weight: 'output', tower: null };
  const final = /^norm\.(\d+)\.weight$/.exec(name);
  if (final) return { component: 'norm', layer: null, weight: 'final_norm', tower: Number(final[1]) };
  const layer = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (!layer) return null;
  for (const [pattern, slot] of LAYER_PATTERNS) {
    const m = pattern.exec(layer[2]);
    if (m) return { layer: Number(layer[1]), ...slot(m) };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Norms

/** ‖W‖_F, accumulated in float64. */
export function frobeniusNorm(data: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i] * data[i];
  return Math.sqrt(s);
}

// ---------------------------------------------------------------------------------------------
// Symmetric tridiagonal eigenproblem (implicit QL with Wilkinson shifts, as EISPACK's tql2)

/**
 * Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix with diagonal `d`
 * and off-diagonal `e` (e[i] couples i and i+1; length n-1 or n). Vectors are the columns of the
 * row-major n×n `vectors`.
 */
export function tridiagonalEigen(
  diagonal: ArrayLike<number>,
  offDiagonal: ArrayLike<number>,
): { values: Float64Array; vectors: Float64Array } {
  const n = diagonal.length;
  const d = Float64Array.from(diagonal);
  const e = new Float64Array(n);
  for (let i = 0; i < n - 1; i++) e[i] = offDiagonal[i];
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const eps = 2 ** -52;
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      for (let iteration = 0; ; iteration++) {
        if (iteration > 60 * n) throw new MotlabError('internal', 'tridiagonal eigenproblem did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            const at = k * n;
            h = v[at + i + 1];
            v[at + i + 1] = s * v[at + i] + c * h;
            v[at + i] = c * v[at + i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]) > eps * tst1)) break;
      }
    }
    d[l] += f;
    e[l] = 0;
  }
  // Sort ascending, moving the vectors along.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) vectors[k * n + j] = v[k * n + order[j]];
  return { values, vectors };
}

// ---------------------------------------------------------------------------------------------
// Top singular values

export interface Spectrum {
  /** The largest singular values, descending (fewer when the matrix has fewer). */
  values: number[];
  /**
   * A bound on each value's relative error, from the Lanczos residuals (|θ − λ| ≤ residual for
   * the Gram eigenvalues λ = σ²): 0 when the Krylov space reached the whole space.
   */
  relativeErrorBound: number;
  /** Lanczos steps taken (each one multiplication by W and one by Wᵀ). */
  steps: number;
}

export interface SpectrumOptions {
  /** Stop when every wanted eigenvalue of the Gram operator is this close (relative to the largest). */
  tolerance?: number;
  /** Most Lanczos steps (memory: steps × min(rows, columns) float64). */
  maxSteps?: number;
  /** Seed of the deterministic starting vector. */
  seed?: number;
}

function checkMatrix(m: Matrix, what: string): void {
  if (
    !(Number.isSafeInteger(m.rows) && m.rows >= 0 && Number.isSafeInteger(m.columns) && m.columns >= 0) ||
    m.data.length !== m.rows * m.columns
  )
    throw new MotlabError('invalid_request', `${what}: ${m.data.length} values for a ${m.rows}×${m.columns} matrix`);
}

/** A deterministic pseudo-random unit-variance vector (an LCG; only its genericity matters). */
function startingVector(n: number, seed: number): Float64Array {
  let s = (seed * 2654435761 + 12345) >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * The `k` largest singular values of `m`. Lanczos on the Gram operator of the smaller side
 * (v ↦ Wᵀ(Wv) when columns ≤ rows), with full reorthogonalisation so that it stays exact to
 * rounding; it stops when the top `k` Ritz values have converged or the Krylov space is the
 * whole space (then the values are those of an exact eigendecomposition).
 */
export function topSingularValues(m: Matrix, k: number, options: SpectrumOptions = {}): Spectrum {
  checkMatrix(m, 'singular values');
  if (!(Number.isSafeInteger(k) && k >= 1))
    throw new MotlabError('invalid_request', `singular values: k must be a positive integer, got ${k}`);
  const { rows, columns } = m;
  // One element type in the hot loops (a mix of array types makes them several times slower).
  const data = m.data instanceof Float32Array ? m.data : Float32Array.from(m.data);
  const n = Math.min(rows, columns);
  if (n === 0) return { values: [], relativeErrorBound: 0, steps: 0 };
  const want = Math.min(k, n);
  const tolerance = options.tolerance ?? 1e-10;
  const maxSteps = Math.min(n, Math.max(options.maxSteps ?? 400, want));
  const byColumns = columns <= rows; // Gram operator on the column space: WᵀW (columns × columns)
  const scratch = new Float64Array(byColumns ? rows : columns);
  const apply = (x: Float64Array, out: Float64Array): void => {
    // out = Wᵀ W x  (byColumns) or W Wᵀ x.
    scratch.fill(0);
    out.fill(0);
    if (byColumns) {
      for (let r = 0; r < rows; r++) {
        let s = 0;
        const at = r * columns;
        for (let c = 0; c < columns; c++) s += data[at + c] * x[c];
        scratch[r] = s;
      }
      for (let r = 0; r < rows; r++) {
        const s = scratch[r];
        if (s === 0) continue;
        const at = r * columns;
        for (let c = 0; c < columns; c++) out[c] += data[at + c] * s;
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const xr = x[r];
        if (xr === 0) continue;
        const at = r * columns;
        for (let c = 0; c < columns; c++) scratch[c] += data[at + c] * xr;
      }
      for (let r = 0; r < rows; r++) {
        let s = 0;
        const at = r * columns;
        for (let c = 0; c < columns; c++) s += data[at + c] * scratch[c];
        out[r] = s;
      }
    }
  };

  const basis: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = []; // beta[j] couples basis j and j+1
  const orthogonalise = (w: Float64Array): void => {
    for (let pass = 0; pass < 2; pass++) {
      for (const q of basis) {
        const c = dot(w, q);
        for (let i = 0; i < n; i++) w[i] -= c * q[i];
      }
    }
  };
  const normalise = (w: Float64Array): number => {
    const norm = Math.sqrt(dot(w, w));
    if (norm > 0) for (let i = 0; i < n; i++) w[i] /= norm;
    return norm;
  };

  let seed = options.seed ?? 1;
  let q = startingVector(n, seed);
  normalise(q);
  const w = new Float64Array(n);
  let scale = 0; // a running estimate of ‖WᵀW‖ for "negligible" decisions
  let result: Spectrum | null = null;
  for (let j = 0; j < maxSteps; j++) {
    basis.push(q);
    apply(q, w);
    const a = dot(w, q);
    alpha.push(a);
    scale = Math.max(scale, Math.abs(a));
    orthogonalise(w);
    let b = normalise(w);
    const last = j === maxSteps - 1;
    // Check convergence every few steps once there are enough Ritz values, and at the end.
    if (last || (j + 1 >= want && ((j + 1) % 4 === 0 || b <= scale * 1e-14))) {
      const { values, vectors } = tridiagonalEigen(alpha, beta);
      const size = alpha.length;
      const top = values[size - 1];
      let bound = 0;
      for (let i = 0; i < want; i++) {
        const residual = Math.abs(b * vectors[(size - 1) * size + (size - 1 - i)]);
        bound = Math.max(bound, residual);
      }
      const exhausted = size === n;
      if (exhausted || last || bound <= tolerance * Math.max(top, Number.MIN_VALUE)) {
        const sigma: number[] = [];
        for (let i = 0; i < want; i++) sigma.push(Math.sqrt(Math.max(values[size - 1 - i], 0)));
        // |σ² − θ| ≤ r  ⇒  |σ − √θ| ≤ r / (σ + √θ) ≤ r / √θ; relative to σ₁.
        const relativeErrorBound = exhausted || top <= 0 ? 0 : bound / top;
        result = { values: sigma, relativeErrorBound, steps: size };
        break;
      }
    }
    if (b <= scale * 1e-14) {
      // An invariant subspace: continue from a fresh direction orthogonal to it.
      b = 0;
      let fresh: Float64Array;
      let norm = 0;
      do {
        fresh = startingVector(n, ++seed);
        orthogonalise(fresh);
        norm = normalise(fresh);
      } while (norm < 1e-8 && seed < 1000);
      q = fresh;
    } else {
      q = Float64Array.from(w);
    }
    beta.push(b);
  }
  if (!result) throw new MotlabError('internal', 'singular values: Lanczos ended without a result');
  return result;
}

/** ‖W‖²_F / σ₁²: how many directions carry the weight's energy (1 for rank one). */
export function stableRank(frobenius: number, sigma1: number): number {
  return sigma1 > 0 ? (frobenius * frobenius) / (sigma1 * sigma1) : NaN;
}

// ---------------------------------------------------------------------------------------------
// Tower drift between two towers' copies of one weight

export type WeightDriftMetric = 'cosine' | 'cka';

export interface WeightDrift {
  cosine: number | null;
  /** Linear CKA with the rows (output units) as examples; null for vectors (norm weights). */
  cka: number | null;
}

/** Similarity of two towers' copies of one weight (same shape: rows × columns, or a vector). */
export function weightDrift(a: Matrix, b: Matrix, metrics: readonly WeightDriftMetric[]): WeightDrift {
  checkMatrix(a, 'tower drift A');
  checkMatrix(b, 'tower drift B');
  if (a.rows !== b.rows || a.columns !== b.columns)
    throw new MotlabError('invalid_request', `tower drift: ${a.rows}×${a.columns} against ${b.rows}×${b.columns}`);
  const cosine = metrics.includes('cosine') ? cosineSimilarity(a.data, b.data) : null;
  const cka = metrics.includes('cka') && a.columns > 1 && a.rows > 1 ? linearCka(a, b) : null;
  return { cosine, cka };
}
