/**
 * What the routing and towers analyses return (analysis/routing-collect.ts, towers-collect.ts),
 * as plain JSON-friendly data for the API, the CLI's --json and the views. Browser-safe.
 */
import type { Component } from './vocabulary.ts';

/** One MoE tower of one layer over training; matrices are [expert][step index]. */
export interface RoutingSeries {
  layer: number;
  tower: number;
  routing: 'expert_choice' | 'token_choice';
  experts: number;
  steps: number[];
  /** Share of the processed token rows each expert took (columns sum to 1; uniform = 1/E). */
  load: number[][];
  /** Share of tokens whose highest-probability expert is e (f_e). */
  firstChoiceShare: number[][];
  /** Mean router probability of each expert (P_e). */
  meanProb: number[][];
  /** E·Σ f_e P_e (1 when balanced), before the coefficient. */
  loadBalance: number[];
  /** α·E·Σ f_e P_e: the auxiliary loss added to training (token-choice; expert-choice adds none). */
  auxLoss: number[];
  /** mean(logsumexp(logits)²), before the coefficient. */
  zLoss: number[];
  /** Entropy (nats) of the mean router distribution P: log E when uniform, 0 when collapsed. */
  routerEntropy: number[];
  /** Entropy (nats) of the first-choice shares f. */
  firstChoiceEntropy: number[];
  droppedRate: number[];
}

export interface DropRateRow {
  label: string;
  tokens: number;
  dropped: number;
  rate: number;
}

/** One MoE tower of one layer at one checkpoint, on the probe tokens of that tower. */
export interface CheckpointRouting {
  step: number;
  layer: number;
  tower: number;
  experts: number;
  tokens: number;
  affinity: {
    /** [expert][modality] token counts (dropped tokens excluded). */
    counts: number[][];
    expertGivenModality: number[][];
    modalityGivenExpert: number[][];
    dropped: number[];
  };
  mutualInformation: { nats: number; bits: number; modalityEntropyNats: number; fractionOfModalityEntropy: number };
  locality: { sameExpertRate: number; pairs: number; uniformBaseline: number; marginalBaseline: number };
  droppedByModality: DropRateRow[];
  droppedByPosition: DropRateRow[];
  /** Against the previous chosen checkpoint; null at the first. */
  agreementWithPrevious: { agreement: number; tokens: number; uniformBaseline: number; previousStep: number } | null;
}

export interface RoutingReport {
  runDir: string;
  experts: number;
  routing: 'expert_choice' | 'token_choice';
  modalities: string[];
  probe: { split: string; windows: number; seqLen: number; tokens: number };
  overTraining: RoutingSeries[];
  checkpoints: number[];
  atCheckpoints: CheckpointRouting[];
}

export interface TowerTokens {
  component: Component;
  tower: number;
  /** The tower's modalities joined with "+". */
  name: string;
  tokens: number;
  share: number;
}

export interface GradNormSeries {
  /** e.g. "ffn.image" (component.tower name, as the trainer writes it). */
  key: string;
  steps: number[];
  values: number[];
}

export interface DriftTableData {
  metric: 'cosine' | 'cka';
  layers: number[];
  checkpoints: number[];
  pairs: [string, string][];
  /** values[layer index][checkpoint index][pair index]. */
  values: number[][][];
}

export interface DriftPair {
  cosine: DriftTableData;
  cka: DriftTableData;
}

export interface TowersReport {
  runDir: string;
  layers: number;
  modalities: string[];
  /** Per component tower; the same in every layer. */
  tokensPerTower: TowerTokens[];
  gradNorms: GradNormSeries[];
  checkpoints: number[];
  probe: { split: string; windows: number; outputRows: number };
  /** Components with more than one dense tower. */
  weights: { attention?: DriftPair; ffn?: DriftPair };
  outputs: { ffn?: DriftPair };
}
