/**
 * How far MoT towers drift apart: cosine similarity between two towers' weight matrices and
 * linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited")
 * between two towers' weights or activations, tabulated per layer × checkpoint × tower pair.
 * Pure float64 arithmetic over row-major arrays (no Node, no tfjs).
 */
import { MotlabError } from '../common/errors.ts';

/** A row-major matrix: `rows` examples (or output units) × `columns` features. */
export interface Matrix {
  rows: number;
  columns: number;
  data: ArrayLike<number>;
}

function checkMatrix(m: Matrix, name: string): void {
  if (m.data.length !== m.rows * m.columns) {
    throw new MotlabError('invalid_request', `${name}: ${m.data.length} values for a ${m.rows}×${m.columns} matrix`);
  }
}

/** ⟨a, b⟩ / (‖a‖‖b‖) of two equally shaped weight tensors, flattened; NaN if either is zero. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new MotlabError('invalid_request', `cosine similarity: ${a.length} values against ${b.length}`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : NaN;
}

/** Columns centred (float64 copy). */
function centred(m: Matrix): Float64Array {
  const out = Float64Array.from(m.data);
  for (let c = 0; c < m.columns; c++) {
    let mean = 0;
    for (let r = 0; r < m.rows; r++) mean += out[r * m.columns + c];
    mean /= m.rows;
    for (let r = 0; r < m.rows; r++) out[r * m.columns + c] -= mean;
  }
  return out;
}

/** ‖Aᵀ B‖²_F for row-major A [n, p], B [n, q], accumulated as the p×q cross-product. */
function crossFrobeniusSquared(a: Float64Array, p: number, b: Float64Array, q: number, n: number): number {
  const cross = new Float64Array(p * q);
  for (let r = 0; r < n; r++) {
    const ar = r * p;
    const br = r * q;
    for (let i = 0; i < p; i++) {
      const v = a[ar + i];
      if (v === 0) continue;
      const row = i * q;
      for (let j = 0; j < q; j++) cross[row + j] += v * b[br + j];
    }
  }
  let s = 0;
  for (let i = 0; i < cross.length; i++) s += cross[i] * cross[i];
  return s;
}

/** Example-space Gram matrix A Aᵀ of row-major A [n, p]; ⟨A Aᵀ, B Bᵀ⟩_F = ‖Aᵀ B‖²_F. */
function gram(a: Float64Array, n: number, p: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < p; k++) s += a[i * p + k] * a[j * p + k];
      g[i * n + j] = s;
      g[j * n + i] = s;
    }
  }
  return g;
}

function frobeniusInner(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Linear CKA between X [n, p] and Y [n, q] (the same n examples, any widths), after centring
 * each column: ‖YᵀX‖²_F / (‖XᵀX‖_F · ‖YᵀY‖_F). 1 for X against itself; invariant to
 * orthogonal transforms and isotropic scaling of either side; near 0 for independent data.
 * Works in feature space or example space (Gram matrices), whichever is smaller.
 * NaN when either side is constant.
 */
export function linearCka(x: Matrix, y: Matrix): number {
  checkMatrix(x, 'CKA X');
  checkMatrix(y, 'CKA Y');
  if (x.rows !== y.rows) throw new MotlabError('invalid_request', `CKA: ${x.rows} examples against ${y.rows}`);
  const n = x.rows;
  const p = x.columns;
  const q = y.columns;
  const xc = centred(x);
  const yc = centred(y);
  let xy: number;
  let xx: number;
  let yy: number;
  if (p * q + p * p + q * q <= n * (p + q + 3)) {
    xy = crossFrobeniusSquared(yc, q, xc, p, n);
    xx = crossFrobeniusSquared(xc, p, xc, p, n);
    yy = crossFrobeniusSquared(yc, q, yc, q, n);
  } else {
    const k = gram(xc, n, p);
    const l = gram(yc, n, q);
    xy = frobeniusInner(k, l);
    xx = frobeniusInner(k, k);
    yy = frobeniusInner(l, l);
  }
  return xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : NaN;
}

// ---------------------------------------------------------------------------------------------
// Drift tables

export type DriftMetric = 'cosine' | 'cka';

/** One tower's matrix (a weight, or its outputs on the probe set) at a layer and checkpoint. */
export interface DriftEntry {
  layer: number;
  checkpoint: number;
  tower: string;
  matrix: Matrix;
}

export interface DriftTable {
  metric: DriftMetric;
  layers: number[];
  checkpoints: number[];
  /** Tower pairs in a fixed order (towers sorted as first seen). */
  pairs: [string, string][];
  /** values[layer index][checkpoint index][pair index]; NaN where a tower was missing. */
  values: number[][][];
}

/** Similarity of every pair of towers per layer and checkpoint. */
export function towerDrift(entries: readonly DriftEntry[], metric: DriftMetric): DriftTable {
  const layers = [...new Set(entries.map((e) => e.layer))].sort((a, b) => a - b);
  const checkpoints = [...new Set(entries.map((e) => e.checkpoint))].sort((a, b) => a - b);
  const towers = [...new Set(entries.map((e) => e.tower))];
  const pairs: [string, string][] = [];
  for (let i = 0; i < towers.length; i++) for (let j = i + 1; j < towers.length; j++) pairs.push([towers[i], towers[j]]);
  const lookup = new Map<string, Matrix>();
  for (const e of entries) {
    const key = `${e.layer}|${e.checkpoint}|${e.tower}`;
    if (lookup.has(key))
      throw new MotlabError(
        'invalid_request',
        `tower drift: two matrices for layer ${e.layer}, checkpoint ${e.checkpoint}, tower ${e.tower}`,
      );
    lookup.set(key, e.matrix);
  }
  const similarity = (a: Matrix, b: Matrix): number => {
    if (metric === 'cka') return linearCka(a, b);
    checkMatrix(a, 'cosine A');
    checkMatrix(b, 'cosine B');
    if (a.rows !== b.rows || a.columns !== b.columns) {
      throw new MotlabError('invalid_request', `cosine similarity: ${a.rows}×${a.columns} against ${b.rows}×${b.columns}`);
    }
    return cosineSimilarity(a.data, b.data);
  };
  const values = layers.map((layer) =>
    checkpoints.map((checkpoint) =>
      pairs.map(([ta, tb]) => {
        const a = lookup.get(`${layer}|${checkpoint}|${ta}`);
        const b = lookup.get(`${layer}|${checkpoint}|${tb}`);
        return a && b ? similarity(a, b) : NaN;
      }),
    ),
  );
  return { metric, layers, checkpoints, pairs, values };
}

/** One tower pair's similarities as a layers × checkpoints matrix (for a heatmap). */
export function driftMatrix(table: DriftTable, pairIndex: number): number[][] {
  if (!(pairIndex >= 0 && pairIndex < table.pairs.length)) throw new MotlabError('invalid_request', `tower drift: no pair ${pairIndex}`);
  return table.values.map((row) => row.map((cell) => cell[pairIndex]));
}
