/** Shared fixtures for the model tests: tiny configs, random weights and token windows. */
import * as tf from '@tensorflow/tfjs-core';
import { initEngine, type EngineName } from '../../src-main/engine/engine.ts';
import { expectedTensorShapes } from '../../src-main/model/tensor-names.ts';
import type { ModelConfig } from '../../src-main/model/config.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import type { PresetName } from '../../src-main/common/vocabulary.ts';
import { computeLoss, forward, prepareBatch, type Params, type RoutingStats } from '../../src-main/model/mot.ts';
import { Rng } from '../../src-main/util/rng.ts';
import type { RefParams } from './reference.ts';

export const DATASET = {
  vocab_size: 24,
  modalities: [
    { name: 'text', start: 0, end: 10 },
    { name: 'image', start: 10, end: 18 },
    { name: 'speech', start: 18, end: 24 },
  ],
};
export const BATCH = 2;

const SIZE = { d_model: 16, n_layers: 2, n_heads: 2, ffn_hidden: 24, seq_len: 8 };

export function tinyConfig(preset: PresetName, overrides: Partial<ModelConfig> = {}): ModelConfig {
  return buildModelConfig(preset, 'tiny', DATASET, { ...SIZE, ...overrides });
}

/** One config of every kind the tests compare against the reference. */
export function modelKinds(): Record<string, ModelConfig> {
  const tokenChoice = tinyConfig('moe4x-topk');
  return {
    dense: tinyConfig('dense'),
    mot: tinyConfig('mot'),
    'mot-ffn': tinyConfig('mot-ffn'),
    'text-isolated': tinyConfig('mot-text-isolated'),
    'pre+qk_norm': tinyConfig('mot', { norm_style: 'pre', qk_norm: true }),
    'token-choice (top-2, drops)': {
      ...tokenChoice,
      moe: { ...tokenChoice.moe!, top_k: 2, capacity_factor: 0.75, renormalize: true, aux_loss: 0.1, z_loss: 0.01 },
    },
    'expert-choice': tinyConfig('moe4x'),
    'mot+moe': tinyConfig('mot-moe'),
  };
}

/**
 * Random weights with O(1) activations (so routing and attention are far from uniform): linears
 * N(0, 1/in), embeddings N(0, 1), norms 1 + N(0, 0.1²). Returned as plain arrays.
 */
export function randomWeights(config: ModelConfig, seed: number): Record<string, { shape: number[]; values: Float32Array }> {
  const rng = new Rng(seed);
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  for (const [name, shape] of Object.entries(expectedTensorShapes(config))) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const isNorm = shape.length === 1;
    const std = name === 'embed.weight' ? 1 : 1 / Math.sqrt(shape[1] ?? 1);
    for (let i = 0; i < values.length; i++) values[i] = isNorm ? 1 + 0.1 * rng.normal() : std * rng.normal();
    out[name] = { shape, values };
  }
  return out;
}

export function toTensors(weights: Record<string, { shape: number[]; values: Float32Array }>): Params {
  return Object.fromEntries(Object.entries(weights).map(([n, w]) => [n, tf.tensor(w.values, w.shape)]));
}

export function toRef(weights: Record<string, { shape: number[]; values: Float32Array }>): RefParams {
  return Object.fromEntries(Object.entries(weights).map(([n, w]) => [n, w.values]));
}

export function disposeAll(params: Params): void {
  Object.values(params).forEach((t) => t.dispose());
}

/** Windows of interleaved modality runs (1–4 tokens each); targets are the next tokens. */
export function randomWindows(config: ModelConfig, seed: number, batch = BATCH): { inputs: Int32Array; targets: Int32Array } {
  const rng = new Rng(seed);
  const S = config.seq_len;
  const inputs = new Int32Array(batch * S);
  const targets = new Int32Array(batch * S);
  for (let b = 0; b < batch; b++) {
    const stream: number[] = [];
    while (stream.length < S + 1) {
      const m = config.modalities[rng.int(config.modalities.length)];
      const run = 1 + rng.int(4);
      for (let r = 0; r < run; r++) stream.push(m.start + rng.int(m.end - m.start));
    }
    for (let s = 0; s < S; s++) {
      inputs[b * S + s] = stream[s];
      targets[b * S + s] = stream[s + 1];
    }
  }
  return { inputs, targets };
}

export interface RunResult {
  logits: Float32Array;
  loss: number;
  ce: number;
  modalityLoss: (number | null)[];
  modalityCounts: number[];
  routing: RoutingStats[];
}

/** Run the TensorFlow.js model and read everything back as plain arrays. */
export function runModel(config: ModelConfig, params: Params, inputs: Int32Array, targets: Int32Array, batch = BATCH): RunResult {
  const prepared = prepareBatch(config, inputs, targets, batch);
  try {
    let result: RunResult | null = null;
    tf.tidy(() => {
      const { logits } = forward(config, params, prepared);
      const out = computeLoss(config, params, prepared);
      const sums = out.modalityLossSums.dataSync();
      result = {
        logits: logits.dataSync() as Float32Array,
        loss: out.loss.dataSync()[0],
        ce: out.ce.dataSync()[0],
        modalityLoss: out.modalityCounts.map((c, m) => (c > 0 ? sums[m] / c : null)),
        modalityCounts: out.modalityCounts,
        routing: out.routing,
      };
    });
    return result!;
  } finally {
    prepared.dispose();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function useBackend(name: EngineName): Promise<void> {
  await initEngine(name);
}
