/**
 * The tower analysis of a MoT run (collect part; maths in towers.ts):
 *   - tokens per tower per layer: the run's training split modality shares summed over each
 *     component tower's modalities (tower assignment is the same in every layer);
 *   - per-tower gradient norms over training, from metrics.jsonl `grad_norm_towers`;
 *   - tower drift per layer × checkpoint, for every pair of towers of a component:
 *       weights — attention towers as [W_q | W_k | W_v | W_oᵀ] ([D, 4D], rows = model units),
 *                 dense FFN towers as [W_1 | W_3 | W_2ᵀ] ([F, 3D], rows = hidden units);
 *       outputs — dense FFN towers on the SAME inputs: each tower's SwiGLU applied to the FFN
 *                 inputs of a subsample of probe positions (the inputs the model actually fed
 *                 the FFN, recovered from capture: u = residual − norm(f) for chameleon, norm(u)
 *                 for pre-norm), rows = positions. Capture alone gives each position's output
 *                 only through its own tower, which cannot compare towers on one input.
 *                 Attention towers are not compared on outputs: attention mixes positions, so a
 *                 tower's output depends on which towers served the other positions.
 *     MoE FFN towers are left out of drift (their experts are compared in the routing analysis).
 */
import * as tf from '@tensorflow/tfjs-core';
import { countTokensPerModality } from '../data/dataset.ts';
import { captureActivations } from '../model/capture.ts';
import { prepareBatch } from '../model/batch.ts';
import { towerTable, type ModelConfig } from '../model/config.ts';
import { rmsNorm, swiglu } from '../model/tower-ops.ts';
import type { Component } from '../common/vocabulary.ts';
import type { TowerTokens, TowersReport } from '../common/analysis-reports.ts';
export type { TowersReport } from '../common/analysis-reports.ts';
import { towerDrift, type DriftEntry, type Matrix } from './towers.ts';
import {
  disposeParams,
  loadCheckpointParams,
  loadDatasetOf,
  probeWindows,
  readRunForAnalysis,
  type CheckpointSelection,
} from './run-checkpoints.ts';

export interface TowersOptions extends CheckpointSelection {
  /** Probe windows (first N evaluation windows of the val split). Default 8. */
  probeWindows?: number;
  /** Probe positions (evenly spaced) whose FFN inputs every tower is run on. Default 512. */
  outputRows?: number;
  onProgress?: (done: number, total: number, what: string) => void;
}

export function towerNames(config: ModelConfig, component: Component): string[] {
  return config.towers[component].map((group) => group.join('+'));
}

function denseFfnTowers(config: ModelConfig): number[] {
  const moe = new Set(config.moe?.towers ?? []);
  return config.towers.ffn.map((_, t) => t).filter((t) => !moe.has(t));
}

type Raw = Record<string, { shape: number[]; data: Float32Array }>;

/** Row-wise concatenation of [rows, c_i] matrices. */
function concatColumns(parts: Matrix[]): Matrix {
  const rows = parts[0].rows;
  const columns = parts.reduce((s, p) => s + p.columns, 0);
  const data = new Float64Array(rows * columns);
  let offset = 0;
  for (const p of parts) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < p.columns; c++) data[r * columns + offset + c] = p.data[r * p.columns + c];
    offset += p.columns;
  }
  return { rows, columns, data };
}

function asMatrix(t: { shape: number[]; data: Float32Array }): Matrix {
  return { rows: t.shape[0], columns: t.shape[1], data: t.data };
}

function transposed(m: Matrix): Matrix {
  const data = new Float64Array(m.rows * m.columns);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.columns; c++) data[c * m.rows + r] = m.data[r * m.columns + c];
  return { rows: m.columns, columns: m.rows, data };
}

function weightEntries(config: ModelConfig, raw: Raw, step: number): Record<'attention' | 'ffn', DriftEntry[]> {
  const attention: DriftEntry[] = [];
  const ffn: DriftEntry[] = [];
  const attentionNames = towerNames(config, 'attention');
  const ffnNames = towerNames(config, 'ffn');
  for (let l = 0; l < config.n_layers; l++) {
    const a = (w: string, t: number) => asMatrix(raw[`layers.${l}.attention.${w}.${t}.weight`]);
    if (attentionNames.length > 1)
      attentionNames.forEach((name, t) =>
        attention.push({
          layer: l,
          checkpoint: step,
          tower: name,
          matrix: concatColumns([a('wq', t), a('wk', t), a('wv', t), transposed(a('wo', t))]),
        }),
      );
    const dense = denseFfnTowers(config);
    if (dense.length > 1)
      for (const t of dense) {
        const f = (w: string) => asMatrix(raw[`layers.${l}.feed_forward.${w}.${t}.weight`]);
        ffn.push({ layer: l, checkpoint: step, tower: ffnNames[t], matrix: concatColumns([f('w1'), f('w3'), transposed(f('w2'))]) });
      }
  }
  return { attention, ffn };
}

export async function analyzeTowers(runDir: string, options: TowersOptions = {}): Promise<TowersReport> {
  const { run, records, checkpoints } = await readRunForAnalysis(runDir, options);
  const config = run.model;
  const modalities = config.modalities.map((m) => m.name);
  const dataset = await loadDatasetOf(run);

  const trainTokens = dataset.splits.train ?? Object.values(dataset.splits)[0];
  const counts = countTokensPerModality(trainTokens, { modalities: config.modalities, vocab_size: config.vocab_size });
  const total = Object.values(counts).reduce((s, n) => s + n, 0);
  const tokensPerTower: TowerTokens[] = [];
  for (const component of ['attention', 'ffn', 'norm'] as const) {
    config.towers[component].forEach((group, t) => {
      const tokens = group.reduce((s, m) => s + (counts[m] ?? 0), 0);
      tokensPerTower.push({ component, tower: t, name: group.join('+'), tokens, share: total > 0 ? tokens / total : NaN });
    });
  }

  const gradSeries = new Map<string, Map<number, number>>();
  for (const r of records) {
    if (r.type !== 'train' || !r.grad_norm_towers) continue;
    for (const [key, v] of Object.entries(r.grad_norm_towers)) {
      if (!gradSeries.has(key)) gradSeries.set(key, new Map());
      gradSeries.get(key)!.set(r.step, v);
    }
  }
  const gradNorms = [...gradSeries.entries()].map(([key, m]) => {
    const steps = [...m.keys()].sort((a, b) => a - b);
    return { key, steps, values: steps.map((s) => m.get(s)!) };
  });

  const probe = probeWindows(dataset, config.seq_len, options.probeWindows ?? 8);
  const S = config.seq_len;
  const N = probe.windows * S;
  const rowsWanted = Math.min(options.outputRows ?? 512, N);
  const rowIndex = Int32Array.from({ length: rowsWanted }, (_, i) => Math.floor((i * N) / rowsWanted));
  const dense = denseFfnTowers(config);
  const ffnNames = towerNames(config, 'ffn');
  const normTowerOf = towerTable(config, 'norm');

  const weights = { attention: [] as DriftEntry[], ffn: [] as DriftEntry[] };
  const outputs: DriftEntry[] = [];
  for (const [ci, checkpoint] of checkpoints.entries()) {
    options.onProgress?.(ci, checkpoints.length, `checkpoint ${checkpoint.step}`);
    const { config: ck, params, raw } = await loadCheckpointParams(checkpoint.dir);
    try {
      const w = weightEntries(ck, raw, checkpoint.step);
      weights.attention.push(...w.attention);
      weights.ffn.push(...w.ffn);
      if (dense.length > 1) {
        const batch = prepareBatch(ck, probe.inputs, probe.targets, probe.windows);
        try {
          const acts = captureActivations(ck, params, batch, { ffn: true });
          const D = ck.d_model;
          const normTower = Int32Array.from(rowIndex, (p) => normTowerOf[batch.inputModality[p]]);
          for (const layer of acts.layers) {
            const pick = (a: Float32Array) => {
              const out = new Float32Array(rowsWanted * D);
              rowIndex.forEach((p, i) => out.set(a.subarray(p * D, (p + 1) * D), i * D));
              return out;
            };
            const residual = pick(layer.residual);
            const f = pick(layer.ffn!);
            const ys = tf.tidy(() => {
              // Each row normalised with its own position's norm tower, as in the model.
              const gains = tf.stack(Array.from(normTower, (t) => params[`layers.${layer.layer}.ffn_norm.${t}.weight`])) as tf.Tensor2D;
              const rFull = tf.tensor2d(residual, [rowsWanted, D]);
              const fFull = tf.tensor2d(f, [rowsWanted, D]);
              const pre = ck.norm_style === 'pre';
              const u = pre ? tf.sub(rFull, fFull) : tf.sub(rFull, rmsNorm(fFull, gains));
              const x = (pre ? rmsNorm(u, gains) : u) as tf.Tensor2D;
              return dense.map((t) => {
                const p = (n: string) => params[`layers.${layer.layer}.feed_forward.${n}.${t}.weight`];
                return swiglu(x, p('w1'), p('w2'), p('w3'));
              });
            });
            ys.forEach((y, i) => {
              outputs.push({
                layer: layer.layer,
                checkpoint: checkpoint.step,
                tower: ffnNames[dense[i]],
                matrix: { rows: rowsWanted, columns: D, data: y.dataSync() as Float32Array },
              });
              y.dispose();
            });
          }
        } finally {
          batch.dispose();
        }
      }
    } finally {
      disposeParams(params);
    }
  }
  options.onProgress?.(checkpoints.length, checkpoints.length, 'done');
  const both = (entries: DriftEntry[]) => ({ cosine: towerDrift(entries, 'cosine'), cka: towerDrift(entries, 'cka') });
  return {
    runDir,
    layers: config.n_layers,
    modalities,
    tokensPerTower,
    gradNorms,
    checkpoints: checkpoints.map((c) => c.step),
    probe: { split: probe.split, windows: probe.windows, outputRows: rowsWanted },
    weights: {
      ...(weights.attention.length ? { attention: both(weights.attention) } : {}),
      ...(weights.ffn.length ? { ffn: both(weights.ffn) } : {}),
    },
    outputs: outputs.length ? { ffn: both(outputs) } : {},
  };
}

/** Flat rows for --csv: one per (kind, component, metric, layer, checkpoint, pair). */
export function towersCsvRows(report: TowersReport): (string | number)[][] {
  const rows: (string | number)[][] = [['kind', 'component', 'metric', 'layer', 'step', 'tower_a', 'tower_b', 'value']];
  for (const [kind, group] of [
    ['weights', report.weights],
    ['outputs', report.outputs],
  ] as const) {
    for (const [component, tables] of Object.entries(group)) {
      for (const table of [tables.cosine, tables.cka]) {
        table.layers.forEach((layer, li) =>
          table.checkpoints.forEach((step, ci) =>
            table.pairs.forEach(([a, b], pi) => rows.push([kind, component, table.metric, layer, step, a, b, table.values[li][ci][pi]])),
          ),
        );
      }
    }
  }
  return rows;
}
