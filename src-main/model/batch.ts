/**
 * A batch prepared for the forward pass: the tokens plus every index and mask it needs,
 * computed once per batch in plain JS (not differentiated).
 *
 * The paper's Algorithm 1 groups tokens by modality so that each modality's weights apply to
 * its own tokens. Here the batch is flattened to N = B·S rows and the rows are kept *grouped by
 * tower* — sorted by (attention tower, ffn tower, norm tower, position). A component's towers are
 * then contiguous runs of rows ("segments"): each tower's weights run on its own slice only.
 * Only attention, which mixes positions, needs sequence order (toSequenceOrder / toTowerOrder).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MotlabError } from '../common/errors.ts';
import { COMPONENTS, type Component } from '../common/vocabulary.ts';
import { towerTable, type ModelConfig } from './config.ts';

/** A run of consecutive rows (in tower order) served by one tower of a component. */
export interface Segment {
  tower: number;
  start: number;
  size: number;
}

export interface PreparedBatch {
  batchSize: number;
  seqLen: number;
  /**
   * Tower order: row r of every [N, ·] tensor inside the model is position order[r] (b·S+s) of
   * the batch, rows sorted by (attention tower, ffn tower, norm tower, position).
   */
  order: Int32Array;
  /** `order` and its inverse as int32 tensors; null when order is 0, 1, 2, … (a dense model). */
  permutation: { order: tf.Tensor1D; inverse: tf.Tensor1D } | null;
  /** Each component's towers as contiguous segments of the tower order. */
  segments: Record<Component, Segment[]>;
  tokens: tf.Tensor1D; // [N] int32 input tokens, tower order
  /** Modality index (dataset order) of each input and target token, sequence order. */
  inputModality: Int32Array;
  targetModality: Int32Array;
  targetOneHot: tf.Tensor2D; // [N, V], tower order
  /** [M, N]: 1 where the target token is of modality m, tower order. */
  targetMasks: tf.Tensor2D;
  /** Targets of each modality in the batch. */
  modalityCounts: number[];
  dispose(): void;
}

function modalityLookup(config: ModelConfig): Int32Array {
  const table = new Int32Array(config.vocab_size).fill(-1);
  config.modalities.forEach((m, i) => table.fill(i, m.start, m.end));
  return table;
}

function modalitiesOf(tokens: Int32Array, table: Int32Array, what: string): Int32Array {
  return tokens.map((token, i) => {
    const m = token >= 0 && token < table.length ? table[token] : -1;
    if (m < 0)
      throw new MotlabError(
        'invalid_dataset',
        `${what} token ${token} at position ${i} is outside every modality's id range (vocab ${table.length})`,
      );
    return m;
  });
}

/** Runs of equal values in `towerOfRow` (already in tower order). */
function segmentsOf(towerOfRow: ArrayLike<number>): Segment[] {
  const segments: Segment[] = [];
  for (let r = 0; r < towerOfRow.length; r++) {
    const last = segments.at(-1);
    if (last && last.tower === towerOfRow[r]) last.size++;
    else segments.push({ tower: towerOfRow[r], start: r, size: 1 });
  }
  return segments;
}

/**
 * Some rows of a batch, where only their outputs are wanted (a capture's probed positions): their
 * indices in tower order, ascending, so that they stay grouped by tower, with each component's
 * segments and positions recounted for them.
 */
export interface RowSubset {
  /** Tower-order indices into the batch's rows, ascending. */
  rows: Int32Array;
  /** `rows` as an int32 tensor, to gather them. */
  index: tf.Tensor1D;
  /** The batch position (b·S+s) of each row of the subset. */
  order: Int32Array;
  segments: Record<Component, Segment[]>;
  dispose(): void;
}

/** The subset of `batch` made of `rows` (tower-order indices, ascending). */
export function rowSubset(batch: PreparedBatch, rows: Int32Array): RowSubset {
  const N = batch.order.length;
  for (let i = 0; i < rows.length; i++)
    if (!(rows[i] >= 0 && rows[i] < N && (i === 0 || rows[i] >= rows[i - 1])))
      throw new MotlabError('invalid_request', `row subset: rows must be ascending indices below ${N}; row ${i} is ${rows[i]}`);
  // A segment [start, start + size) of the batch keeps the subset's rows that fall in it.
  const recount = (segments: Segment[]): Segment[] => {
    const out: Segment[] = [];
    let i = 0;
    for (const s of segments) {
      const start = i;
      while (i < rows.length && rows[i] < s.start + s.size) i++;
      if (i > start) out.push({ tower: s.tower, start, size: i - start });
    }
    return out;
  };
  const index = tf.tensor1d(rows, 'int32');
  return {
    rows,
    index,
    order: rows.map((r) => batch.order[r]),
    segments: Object.fromEntries(COMPONENTS.map((c) => [c, recount(batch.segments[c])])) as Record<Component, Segment[]>,
    dispose: () => index.dispose(),
  };
}

/** Tensors and indices for one batch of `batchSize` windows (inputs/targets: [B·S] row-major). */
export function prepareBatch(config: ModelConfig, inputs: Int32Array, targets: Int32Array, batchSize: number): PreparedBatch {
  const S = config.seq_len;
  const N = batchSize * S;
  if (inputs.length !== N || targets.length !== N)
    throw new MotlabError(
      'invalid_request',
      `a batch of ${batchSize}×${S} needs ${N} inputs and targets, got ${inputs.length} and ${targets.length}`,
    );
  const table = modalityLookup(config);
  const inputModality = modalitiesOf(inputs, table, 'input');
  const targetModality = modalitiesOf(targets, table, 'target');

  // Tower order: sort positions by their (attention, ffn, norm) towers, then by position.
  const tables = COMPONENTS.map((c) => towerTable(config, c));
  const rank = config.modalities.map((_, m) => tables.reduce((r, t, k) => r * (config.towers[COMPONENTS[k]].length + 1) + t[m], 0));
  const order = Int32Array.from({ length: N }, (_, i) => i).sort((i, j) => rank[inputModality[i]] - rank[inputModality[j]] || i - j);
  const identity = order.every((p, r) => p === r);
  const inverse = new Int32Array(N);
  order.forEach((p, r) => (inverse[p] = r));
  const segments = Object.fromEntries(
    COMPONENTS.map((c, k) => [c, segmentsOf(Array.from(order, (p) => tables[k][inputModality[p]]))]),
  ) as Record<Component, Segment[]>;

  const M = config.modalities.length;
  const masks = new Float32Array(M * N);
  const modalityCounts = new Array<number>(M).fill(0);
  order.forEach((p, r) => {
    masks[targetModality[p] * N + r] = 1;
    modalityCounts[targetModality[p]]++;
  });
  const tokens = tf.tensor1d(
    Array.from(order, (p) => inputs[p]),
    'int32',
  );
  const targetOneHot = tf.tidy(() => {
    const ids = tf.tensor1d(
      Array.from(order, (p) => targets[p]),
      'int32',
    );
    return tf.cast(tf.oneHot(ids, config.vocab_size), 'float32') as tf.Tensor2D;
  });
  const targetMasks = tf.tensor2d(masks, [M, N]);
  const permutation = identity ? null : { order: tf.tensor1d(order, 'int32'), inverse: tf.tensor1d(inverse, 'int32') };

  return {
    batchSize,
    seqLen: S,
    order,
    permutation,
    segments,
    tokens,
    inputModality,
    targetModality,
    targetOneHot,
    targetMasks,
    modalityCounts,
    dispose: () => [tokens, targetOneHot, targetMasks, permutation?.order, permutation?.inverse].forEach((t) => t?.dispose()),
  };
}

/**
 * Row r of the result is row index[r] of x, for a permutation `index` with inverse `inverse`:
 * tf.gather(x, index), with the gradient written as the inverse gather (a row copy) rather than
 * tf.gather's generic scatter-add.
 */
function permuteRows(x: tf.Tensor2D, index: tf.Tensor1D, inverse: tf.Tensor1D): tf.Tensor2D {
  const permute = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [rows] = args as [tf.Tensor2D];
    const value: tf.Tensor2D = tf.gather(rows, index);
    return { value, gradFunc: (dy: tf.Tensor2D) => tf.gather(dy, inverse) };
  });
  return permute(x);
}

/** Rows from sequence order to tower order and back (no-ops for a dense model). */
export function toTowerOrder(x: tf.Tensor2D, batch: PreparedBatch): tf.Tensor2D {
  return batch.permutation ? permuteRows(x, batch.permutation.order, batch.permutation.inverse) : x;
}
export function toSequenceOrder(x: tf.Tensor2D, batch: PreparedBatch): tf.Tensor2D {
  return batch.permutation ? permuteRows(x, batch.permutation.inverse, batch.permutation.order) : x;
}
