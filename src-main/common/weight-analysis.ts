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

/** The matrices of a layer the tower view compares, in the order of docs/architecture.md §5. */
export const LAYER_MATRICES = ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] as const;

const isLayerMatrix = (t: { layer: number | null; weight: string }) =>
  t.layer !== null && (LAYER_MATRICES as readonly string[]).includes(t.weight);

export interface BlockNormSeries {
  /** "attention · text", "ffn · image+audio", or the component alone when it has one tower. */
  label: string;
  layers: number[];
  /** √(Σ ‖W‖²_F) over the block's matrices in that layer (attention: wq wk wv wo; FFN: w1 w2 w3). */
  norms: number[];
}

/** The Frobenius norm of each tower's attention and FFN block, layer by layer. */
export function blockNormsByLayer(analysis: WeightAnalysis): BlockNormSeries[] {
  const squares = new Map<string, Map<number, number>>();
  for (const t of analysis.tensors) {
    if (!isLayerMatrix(t)) continue;
    const label = t.towerLabel === null ? t.component : `${t.component} · ${t.towerLabel}`;
    const byLayer = squares.get(label) ?? new Map<number, number>();
    byLayer.set(t.layer!, (byLayer.get(t.layer!) ?? 0) + t.frobenius ** 2);
    squares.set(label, byLayer);
  }
  return [...squares].map(([label, byLayer]) => {
    const layers = [...byLayer.keys()].sort((a, b) => a - b);
    return { label, layers, norms: layers.map((l) => Math.sqrt(byLayer.get(l)!)) };
  });
}

/** The singular values of one matrix of one layer, one series per tower (empty when none were computed). */
export function spectraOf(analysis: WeightAnalysis, layer: number, weight: string): { label: string; values: number[] }[] {
  return analysis.tensors
    .filter((t) => t.layer === layer && t.weight === weight && t.singularValues !== null)
    .map((t) => ({ label: t.towerLabel ?? t.component, values: t.singularValues! }));
}

export interface DriftGrid {
  labels: [string, string];
  layers: number[];
  /** The matrices compared (columns), a subset of LAYER_MATRICES in its order. */
  weights: string[];
  /** values[layer row][weight column]; null where that pair was not compared. */
  values: (number | null)[][];
}

/**
 * Tower drift of the layers' matrices, one layer × matrix grid per pair of tower labels, in one
 * metric (attention and FFN towers with the same modalities share a grid).
 */
export function driftGrids(analysis: WeightAnalysis, metric: 'cosine' | 'cka'): DriftGrid[] {
  const drift = analysis.drift.filter((d) => isLayerMatrix(d) && d[metric] !== null);
  const pairs = new Map<string, typeof drift>();
  for (const d of drift) {
    const key = d.labels.join('\u0000');
    pairs.set(key, [...(pairs.get(key) ?? []), d]);
  }
  return [...pairs.values()].map((cells) => {
    const layers = [...new Set(cells.map((d) => d.layer!))].sort((a, b) => a - b);
    const weights = LAYER_MATRICES.filter((w) => cells.some((d) => d.weight === w));
    const values = layers.map(() => weights.map((): number | null => null));
    for (const d of cells) values[layers.indexOf(d.layer!)][weights.indexOf(d.weight as (typeof LAYER_MATRICES)[number])] = d[metric];
    return { labels: cells[0].labels, layers, weights, values };
  });
}
