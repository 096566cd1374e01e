/**
 * The records of a run's metrics.jsonl, one JSON object per line. Plain data: the API hands
 * them to the renderer unchanged, so this file imports types only.
 */
import type { RoutingStats } from '../model/mot.ts';

/** Mean loss per modality (null when the batch or split had no target of it), and `all`. */
export interface LossByModality {
  all: number;
  [modality: string]: number | null;
}

/** One optimizer step. */
export interface TrainRecord {
  type: 'train';
  step: number;
  /** Unix time in ms when the step finished. */
  time: number;
  /** Training seconds so far (excluding pauses and evaluation). */
  elapsed_s: number;
  tokens: number;
  flops: number;
  lr: number;
  loss: LossByModality;
  grad_norm: number;
  /** Gradient norm per component tower, e.g. "ffn.image", "attention.text+speech". */
  grad_norm_towers: Record<string, number>;
  tokens_per_s: number;
  step_ms: number;
  /** MoE router statistics per layer (MoE models only). */
  moe?: RoutingStats[];
}

/** A validation pass over the evaluation windows of a split. */
export interface EvalRecord {
  type: 'eval';
  step: number;
  time: number;
  split: string;
  windows: number;
  loss: LossByModality;
}

export type MetricsRecord = TrainRecord | EvalRecord;
