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

const isLossValue = (v: unknown): boolean => v === null || typeof v === 'number';

/**
 * Why a parsed metrics.jsonl line cannot be used as a record, or null when it can. Records of
 * other types pass (a newer lab may log more); train and eval records must have what every
 * reader indexes: a whole-number step and a loss object of numbers (null where JSON had NaN).
 */
export function metricsRecordProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (r.type === 'train' || r.type === 'eval') {
    if (typeof r.step !== 'number' || !Number.isSafeInteger(r.step) || r.step < 0)
      return `a ${r.type} record whose "step" is not a whole number`;
    const loss = r.loss;
    if (typeof loss !== 'object' || loss === null || Array.isArray(loss) || !Object.values(loss).every(isLossValue))
      return `a ${r.type} record whose "loss" is not an object of numbers`;
  }
  return null;
}
