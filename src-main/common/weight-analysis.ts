/**
 * The result of the weight-space analyses (analysis/weights.ts, weights-collect.ts) as the API,
 * the CLI and the UI see it, and its tidy table form for CSV. Browser-safe.
 */

/**
 * Tensors under our names, read one at a time: a run's checkpoint (analysis/weights-collect.ts)
 * or a checkpoint from elsewhere seen through a name mapping (importers/inspect.ts).
 */
export interface WeightSource {
  /** The run folder or checkpoint (shown in results and messages). */
  label: string;
  step: number | null;
  /** Our names → shapes. */
  shapes: ReadonlyMap<string, number[]>;
  read(name: string): Promise<Float32Array>;
  /** Elements [first, first + count) of a tensor (into `into` when given): streamed statistics need no whole tensor. */
  readRange(name: string, first: number, count: number, into?: Float32Array): Promise<Float32Array>;
  /** The tower layout when the model config is known: tower labels then name modalities. */
  config: { towers: Record<'attention' | 'ffn' | 'norm', string[][]> } | null;
  close(): Promise<void>;
}

export type WeightComponent = 'embedding' | 'attention' | 'ffn' | 'norm' | 'output';

export interface WeightTensorStats {
  /** Our tensor name (docs/architecture.md §5). */
  name: string;
  component: WeightComponent;
  /** null for the embedding, the output head and the final norm. */
  layer: number | null;
  /** "wq", "w1", "attention_norm", "final_norm", "expert 2 w1", "wq bias", … */
  weight: string;
  tower: number | null;
  /** The tower's modalities joined by "+" (or its index when the config is unknown). */
  towerLabel: string | null;
  shape: number[];
  frobenius: number;
  /** The largest singular values, descending (matrices only, when asked for). */
  singularValues: number[] | null;
  /** Bound on the singular values' relative error (0: exact to rounding). */
  singularValueErrorBound: number | null;
  /** ‖W‖²_F / σ₁². */
  stableRank: number | null;
}

export interface WeightDriftStats {
  layer: number | null;
  component: WeightComponent;
  weight: string;
  towers: [number, number];
  labels: [string, string];
  cosine: number | null;
  /** Linear CKA with output units as examples; null for vectors or when not asked for. */
  cka: number | null;
}

export interface WeightAnalysis {
  /** The run folder or checkpoint analysed. */
  source: string;
  step: number | null;
  /** Tower labels per component. */
  towers: { attention: string[]; ffn: string[]; norm: string[] };
  singularValuesPerMatrix: number;
  metrics: ('cosine' | 'cka')[];
  tensors: WeightTensorStats[];
  drift: WeightDriftStats[];
  /** Tensors whose names are not in the lab's table (left out). */
  skipped: string[];
}

export const WEIGHT_CSV_COLUMNS = ['layer', 'component', 'weight', 'tower', 'other_tower', 'metric', 'value'] as const;

/** One row per number: frobenius, sigma_1…k, stable_rank per tensor; cosine and cka per tower pair. */
export function weightAnalysisRows(analysis: WeightAnalysis): (string | number)[][] {
  const rows: (string | number)[][] = [];
  const layer = (l: number | null) => (l === null ? '' : l);
  for (const t of analysis.tensors) {
    const base = [layer(t.layer), t.component, t.weight, t.towerLabel ?? '', ''];
    rows.push([...base, 'frobenius', t.frobenius]);
    t.singularValues?.forEach((s, i) => rows.push([...base, `sigma_${i + 1}`, s]));
    if (t.stableRank !== null) rows.push([...base, 'stable_rank', t.stableRank]);
  }
  for (const d of analysis.drift) {
    const base = [layer(d.layer), d.component, d.weight, d.labels[0], d.labels[1]];
    if (d.cosine !== null) rows.push([...base, 'cosine', d.cosine]);
    if (d.cka !== null) rows.push([...base, 'cka', d.cka]);
  }
  return rows;
}
