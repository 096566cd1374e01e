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
import type { WeightAnalysis, WeightDriftStats, WeightSource, WeightTensorStats } from '../common/weight-analysis.ts';
import { LazySafetensors } from '../checkpoints/lazy-safetensors.ts';
import { listCheckpoints, MODEL_FILE } from '../checkpoints/run-folder.ts';
import { readRunJson } from '../runs/run-json.ts';
import {
  frobeniusNorm,
  stableRank,
  topSingularValues,
  weightDrift,
  weightSlotOf,
  type Spectrum,
  type WeightDriftMetric,
  type WeightSlot,
} from './weights.ts';

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
    readRange: (name, first, count, into) => lazy.readRange(name, first, count, into),
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
  const position = (s: WeightSlot) =>
    s.component === 'embedding' ? -1 : (s.layer ?? (s.component === 'output' ? Infinity : Number.MAX_SAFE_INTEGER));
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

interface GroupStatistics {
  frobenius: number[];
  spectra: (Spectrum | null)[];
  /** Tower pairs (indices into the group) of equal shape. */
  pairs: { i: number; j: number; cosine: number | null; cka: number | null }[];
}

type Group = { slot: WeightSlot; name: string }[];

/** Pairs of towers (both with a tower index) whose copies have the same shape. */
function towerPairs(group: Group, shapes: number[][]): [number, number][] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < group.length; i++)
    for (let j = i + 1; j < group.length; j++)
      if (group[i].slot.tower !== null && group[j].slot.tower !== null && shapes[i].join() === shapes[j].join()) pairs.push([i, j]);
  return pairs;
}

/** The towers of one weight held whole: norms, spectra, cosine and CKA. */
async function wholeStatistics(
  source: WeightSource,
  group: Group,
  shapes: number[][],
  options: WeightAnalysisOptions,
): Promise<GroupStatistics> {
  const data: Float32Array[] = [];
  const spectra: (Spectrum | null)[] = [];
  for (let i = 0; i < group.length; i++) {
    data.push(await source.read(group[i].name));
    spectra.push(
      options.singularValues > 0 && shapes[i].length === 2 ? topSingularValues(asMatrix(shapes[i], data[i]), options.singularValues) : null,
    );
  }
  const pairs = towerPairs(group, shapes).map(([i, j]) => ({
    i,
    j,
    ...weightDrift(asMatrix(shapes[i], data[i]), asMatrix(shapes[j], data[j]), options.metrics),
  }));
  return { frobenius: data.map(frobeniusNorm), spectra, pairs };
}

/** Values streamed per chunk from every tower at once: memory is one chunk per tower, whatever the tensor's size. */
const STREAM_CHUNK = 1 << 20;

/** Norms and cosines as running sums over chunks (the same sums, in the same order, as frobeniusNorm and cosineSimilarity). */
async function streamedStatistics(
  source: WeightSource,
  group: Group,
  shapes: number[][],
  options: WeightAnalysisOptions,
): Promise<GroupStatistics> {
  const counts = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
  const squares = new Float64Array(group.length);
  const pairs = options.metrics.includes('cosine') ? towerPairs(group, shapes) : [];
  const dots = new Float64Array(pairs.length);
  const longest = Math.max(...counts);
  const buffers = counts.map((c) => new Float32Array(Math.min(c, STREAM_CHUNK)));
  for (let first = 0; first < longest; first += STREAM_CHUNK) {
    const chunks = await Promise.all(
      group.map(({ name }, i) =>
        first < counts[i] ? source.readRange(name, first, Math.min(STREAM_CHUNK, counts[i] - first), buffers[i]) : null,
      ),
    );
    chunks.forEach((c, i) => {
      if (c) for (let k = 0; k < c.length; k++) squares[i] += c[k] * c[k];
    });
    pairs.forEach(([i, j], p) => {
      const [a, b] = [chunks[i]!, chunks[j]!];
      let s = 0;
      for (let k = 0; k < a.length; k++) s += a[k] * b[k];
      dots[p] += s;
    });
  }
  return {
    frobenius: [...squares].map(Math.sqrt),
    spectra: group.map(() => null),
    pairs: pairs.map(([i, j], p) => ({
      i,
      j,
      cosine: squares[i] > 0 && squares[j] > 0 ? dots[p] / Math.sqrt(squares[i] * squares[j]) : NaN,
      cka: null,
    })),
  };
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
    const shapes = group.map(({ name }) => source.shapes.get(name)!);
    const matrix = shapes[0].length === 2;
    // Singular values and CKA need whole matrices; norms and cosines are sums, streamed in chunks.
    const whole = matrix && (options.singularValues > 0 || (options.metrics.includes('cka') && group.length > 1));
    const stats = whole ? await wholeStatistics(source, group, shapes, options) : await streamedStatistics(source, group, shapes, options);
    group.forEach(({ slot, name }, i) => {
      tensors.push({
        name,
        component: slot.component,
        layer: slot.layer,
        weight: slot.weight,
        tower: slot.tower,
        towerLabel: label(slot),
        shape: shapes[i],
        frobenius: stats.frobenius[i],
        singularValues: stats.spectra[i]?.values ?? null,
        singularValueErrorBound: stats.spectra[i]?.relativeErrorBound ?? null,
        stableRank: stats.spectra[i]?.values.length ? stableRank(stats.frobenius[i], stats.spectra[i]!.values[0]) : null,
      });
    });
    for (const { i, j, cosine, cka } of stats.pairs) {
      const [a, b] = [group[i].slot, group[j].slot];
      drift.push({
        layer: a.layer,
        component: a.component,
        weight: a.weight,
        towers: [a.tower!, b.tower!],
        labels: [label(a)!, label(b)!],
        cosine,
        cka,
      });
    }
    doneValues += shapes.reduce((s, shape) => s + shape.reduce((x, y) => x * y, 1), 0);
    options.onProgress?.(doneValues / totalValues, group[0].name);
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
