/**
 * Messages between the trainer and its gradient workers (./pool.ts ↔ ./gradient-worker.ts).
 * Weights and gradients do not travel in messages: they live in shared memory laid out by
 * `ParamLayout` (one float32 block per tensor, in the trainer's parameter order).
 */
import type { InProcessEngineName } from '../../common/vocabulary.ts';
import type { MotlabErrorCode } from '../../common/errors.ts';
import type { ModelConfig } from '../../model/config.ts';

export interface ParamSlot {
  name: string;
  shape: number[];
  /** First float of the tensor in the shared buffers. */
  offset: number;
  size: number;
}
export type ParamLayout = ParamSlot[];

/** Windows of one micro-batch given to one worker: [n·S] inputs and targets, row-major. */
export interface Shard {
  inputs: Int32Array;
  targets: Int32Array;
  windows: number;
  /** The shard's share of its micro-batch (n / B): its loss is scaled by this. */
  scale: number;
}

export type ToWorker =
  | {
      type: 'init';
      id: number;
      engine: InProcessEngineName;
      config: ModelConfig;
      layout: ParamLayout;
      /** The weights, written by the trainer after every update (float32, `layout`). */
      weights: SharedArrayBuffer;
      /** This worker's gradient sum for the step (float32, `layout`). */
      gradients: SharedArrayBuffer;
      /** Every worker's gradient buffer, in worker order, and the step's sum of them (./gradient-sum.ts). */
      allGradients: SharedArrayBuffer[];
      summed: SharedArrayBuffer;
    }
  | { type: 'gradients'; id: number; weightsVersion: number; step: number; micro: Shard[] }
  /** Sum the floats [first, end) of every worker's gradients into the summed buffer (all workers have answered 'gradients'). */
  | { type: 'sum'; id: number; first: number; end: number }
  | { type: 'evaluate'; id: number; weightsVersion: number; batches: { inputs: Int32Array; targets: Int32Array; windows: number }[] }
  | ({ type: 'capture'; id: number; weightsVersion: number } & CapturePass);

/**
 * One forward pass of feature capture (analysis/pca-collect.ts): `count` windows ([count·S]
 * tokens), and the rows to send back, each a window of the pass (0-based) and an offset in it.
 */
export interface CapturePass {
  windows: Int32Array;
  count: number;
  rows: { window: Int32Array; offset: Int32Array };
}

export type FromWorker =
  | { type: 'ready'; id: number; detail: string }
  | {
      type: 'gradients';
      id: number;
      /** Per micro-batch: the shard's scaled loss. */
      losses: number[];
      /** Per micro-batch: Σ CE per modality and the targets per modality. */
      modalitySums: Float32Array[];
      modalityCounts: number[][];
    }
  | { type: 'summed'; id: number }
  | { type: 'evaluate'; id: number; sums: Float32Array[]; counts: number[][] }
  /** Per layer (0 … L-1): the residual stream after the block at the pass's rows, [rows, d], in the request's row order. */
  | { type: 'capture'; id: number; layers: Float32Array[] }
  | { type: 'failed'; id: number; code: MotlabErrorCode | null; message: string };

/** A request before the pool numbers it. */
export type WorkerRequest = ToWorker extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;
