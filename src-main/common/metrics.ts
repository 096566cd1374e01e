/**
 * The records of a run's metrics.jsonl, one JSON object per line (docs/architecture.md, "Run
 * folder"), defined once for the trainer, the PyTorch trainer's output, the API and the views.
 * Plain data, browser-safe.
 */

/** Routing diagnostics of one MoE tower in one layer: plain numbers, JSON-friendly. */
export interface MoeRoutingStats {
  layer: number;
  tower: number;
  routing: 'expert_choice' | 'token_choice';
  /** Tokens of the tower in the batch. */
  tokens: number;
  /** Most tokens one expert may take. */
  capacity: number;
  /** Token rows each expert actually processed. */
  tokensPerExpert: number[];
  /** Token-choice: choices rejected for capacity. Expert-choice: tokens no expert picked. */
  dropped: number;
  /** Mean router probability per expert (P_e). */
  meanProb: number[];
  /** Share of tokens whose highest-probability expert is e (f_e). */
  firstChoiceShare: number[];
  /** Expert-choice only: how many tokens got 0, 1, …, E experts. */
  expertsPerToken: number[] | null;
  /** E·Σ f_e P_e, before α (1 = perfectly balanced). */
  loadBalance: number;
  /** mean(logsumexp(router logits)²), before β. */
  zLoss: number;
}

/** The MoE towers of one layer (empty for layers without MoE). */
export interface RoutingStats {
  layer: number;
  towers: MoeRoutingStats[];
}

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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * A parsed metrics.jsonl line as a record, or the reason it is not one. Checks what every reader
 * relies on (type, step, time, the loss object); other fields are taken as the writer wrote them.
 */
export function parseMetricsRecord(value: unknown): { record: MetricsRecord } | { problem: string } {
  if (!isObject(value)) return { problem: 'not a JSON object' };
  if (value.type !== 'train' && value.type !== 'eval') return { problem: `unknown record type ${JSON.stringify(value.type)}` };
  if (!Number.isSafeInteger(value.step) || (value.step as number) < 0) return { problem: 'step is not a whole number ≥ 0' };
  if (!isCount(value.time)) return { problem: 'time is not a number' };
  const loss = value.loss;
  if (!isObject(loss)) return { problem: 'loss is not an object' };
  for (const [name, v] of Object.entries(loss)) {
    if (v !== null && typeof v !== 'number') return { problem: `loss.${name} is not a number or null` };
  }
  if (typeof loss.all !== 'number') return { problem: 'loss.all is missing' };
  if (value.type === 'eval' && typeof value.split !== 'string') return { problem: 'split is not a string' };
  return { record: value as unknown as MetricsRecord };
}
