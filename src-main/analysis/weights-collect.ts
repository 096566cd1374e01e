/**
 * Collecting the weight-space analyses (weights.ts) from a checkpoint read lazily: one weight
 * of one layer at a time, its towers side by side, then dropped. Memory holds the towers of one
 * weight (e.g. three [F, D] matrices), never the model, so a checkpoint larger than memory can
 * be analysed. The source is a run folder's checkpoint (openRunWeights) or any source of our
 * tensor names (a foreign checkpoint renamed by importers/, given by the caller).
 */
import path from 'node:path';
import { MotlabError } from '../common/errors.ts';
import { COMPONENTS, type Component } from '../common/vocabulary.ts';
import type { WeightAnalysis, WeightDriftStats, WeightTensorStats } from '../common/weight-analysis.ts';
import type { ModelConfig } from '../model/config.ts';
import { LazySafetensors } from '../checkpoints/lazy-safetensors.ts';
import { listCheckpoints, MODEL_FILE, readRunJson } from '../checkpoints/run-folder.ts';
import {
  frobeniusNorm,
  stableRank,
  topSingularValues,
  weightDrift,
  weightSlotOf,
  type WeightDriftMetric,
  type WeightSlot,
} from './weights.ts';

/** Tensors under our names, read one at a time. */
export interface WeightSource {
  /** The run folder or checkpoint (shown in results and messages). */
  label: string;
  step: number | null;
  shapes: ReadonlyMap<string, number[]>;
  read(name: string): Promise<Float32Array>;
  /** The model config when known: tower labels come from its tower layout. */
  config: Pick<ModelConfig, 'towers'> | null;
  close(): Promise<void>;
}

export interface WeightAnalysisOptions {
  /** Singular values per matrix (0: none). */
  singularValues: number;
  metrics: readonly WeightDriftMetric[];
  onProgress?: (fraction: number, message: string) => void;
}

export const DEFAULT_SINGULAR_VALUES = 8;

/** A run folder's checkpoint (the latest, or `step`), read lazily. */
export async function openRunWeights(runDir: string, step: number | 'latest' = 'latest'): Promise<WeightSource> {
  const run = await readRunJson(runDir);
  const list = await listCheckpoints(runDir);
  const entry = step === 'latest' ? list.at(-1) : list.find((c) => c.step === step);
  if (!entry) {
    const have = list.length ? `available steps: ${list.map((c) => c.step).join(', ')}` : 'it has no checkpoints';
    throw new MotlabError('not_found', `${runDir}: no checkpoint ${step === 'latest' ? 'yet' : `at step ${step}`} (${have})`);
  }
  const lazy = await LazySafetensors.open(path.join(entry.dir, MODEL_FILE));
  return {
    label: runDir,
    step: entry.step,
    shapes: new Map([...lazy.tensors].map(([name, t]) => [name, t.shape])),
    read: (name) => lazy.read(name),
    config: run.model,
    close: () => lazy.close(),
  };
}

function towerLabels(config: WeightSource['config'], shapes: ReadonlyMap<string, number[]>): Record<Component, string[]> {
  const out = {} as Record<Component, string[]>;
  for (const c of COMPONENTS) {
    if (config) out[c] = config.towers[c].map((group) => group.join('+'));
    else {
      const count = new Set(
        [...shapes.keys()]
          .map((n) => weightSlotOf(n))
          .filter((s) => s?.component === c)
          .map((s) => s!.tower),
      ).size;
      out[c] = Array.from({ length: count }, (_, t) => String(t));
    }
  }
  return out;
}

const COMPONENT_ORDER = ['embedding', 'attention', 'norm', 'ffn', 'output'];

/** A fixed order whatever the file's: the embedding, the layers in order, the final norm, the output head. */
function compareSlots(a: WeightSlot, b: WeightSlot): number {
  const position = (s: WeightSlot) => (s.component === 'embedding' ? -1 : s.layer ?? (s.component === 'output' ? Infinity : Number.MAX_SAFE_INTEGER));
  return (
    position(a) - position(b) ||
    COMPONENT_ORDER.indexOf(a.component) - COMPONENT_ORDER.indexOf(b.component) ||
    (a.weight < b.weight ? -1 : a.weight > b.weight ? 1 : 0)
  );
}

/** As a matrix: [rows, columns] for 2-D weights, one row for vectors. */
function asMatrix(shape: number[], data: Float32Array) {
  return shape.length === 2 ? { rows: shape[0], columns: shape[1], data } : { rows: 1, columns: data.length, data };
}

/** Norms, spectra and tower drift of every weight of `source`, one weight at a time. */
export async function collectWeightAnalysis(source: WeightSource, options: WeightAnalysisOptions): Promise<WeightAnalysis> {
  const labels = towerLabels(source.config, source.shapes);
  const label = (slot: WeightSlot): string | null => {
    if (slot.tower === null) return null;
    const list = slot.component === 'attention' || slot.component === 'ffn' || slot.component === 'norm' ? labels[slot.component] : [];
    return list[slot.tower] ?? String(slot.tower);
  };

  // Group the tensors by (layer, weight): a group's members are the towers of one weight.
  const groups = new Map<string, { slot: WeightSlot; name: string }[]>();
  const skipped: string[] = [];
  for (const name of source.shapes.keys()) {
    const slot = weightSlotOf(name);
    if (!slot) {
      skipped.push(name);
      continue;
    }
    const key = `${slot.layer ?? 'model'}|${slot.component}|${slot.weight}`;
    const group = groups.get(key) ?? [];
    group.push({ slot, name });
    groups.set(key, group);
  }
  const order = [...groups.values()].sort((a, b) => compareSlots(a[0].slot, b[0].slot));
  const totalValues = [...source.shapes.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0) || 1;

  const tensors: WeightTensorStats[] = [];
  const drift: WeightDriftStats[] = [];
  let doneValues = 0;
  for (const group of order) {
    group.sort((a, b) => (a.slot.tower ?? 0) - (b.slot.tower ?? 0));
    const loaded: { slot: WeightSlot; shape: number[]; data: Float32Array }[] = [];
    for (const { slot, name } of group) {
      const shape = source.shapes.get(name)!;
      const data = await source.read(name);
      const frobenius = frobeniusNorm(data);
      let singularValues: number[] | null = null;
      let bound: number | null = null;
      if (options.singularValues > 0 && shape.length === 2) {
        const spectrum = topSingularValues(asMatrix(shape, data), options.singularValues);
        singularValues = spectrum.values;
        bound = spectrum.relativeErrorBound;
      }
      tensors.push({
        name,
        component: slot.component,
        layer: slot.layer,
        weight: slot.weight,
        tower: slot.tower,
        towerLabel: label(slot),
        shape,
        frobenius,
        singularValues,
        singularValueErrorBound: bound,
        stableRank: singularValues && singularValues.length ? stableRank(frobenius, singularValues[0]) : null,
      });
      loaded.push({ slot, shape, data });
      doneValues += data.length;
      options.onProgress?.(doneValues / totalValues, name);
    }
    for (let i = 0; i < loaded.length; i++) {
      for (let j = i + 1; j < loaded.length; j++) {
        const [a, b] = [loaded[i], loaded[j]];
        if (a.slot.tower === null || b.slot.tower === null || a.shape.join() !== b.shape.join()) continue;
        const d = weightDrift(asMatrix(a.shape, a.data), asMatrix(b.shape, b.data), options.metrics);
        drift.push({
          layer: a.slot.layer,
          component: a.slot.component,
          weight: a.slot.weight,
          towers: [a.slot.tower, b.slot.tower],
          labels: [label(a.slot)!, label(b.slot)!],
          cosine: d.cosine,
          cka: d.cka,
        });
      }
    }
  }
  return {
    source: source.label,
    step: source.step,
    towers: labels,
    singularValuesPerMatrix: options.singularValues,
    metrics: [...options.metrics],
    tensors,
    drift,
    skipped,
  };
}
