/** The model's weights: by docs/architecture.md's tensor names, with PyTorch shapes ([out, in], y = x Wᵀ). */
import * as tf from '@tensorflow/tfjs-core';
import { MotlabError } from '../common/errors.ts';
import { Rng } from '../util/rng.ts';
import type { ModelConfig } from './config.ts';
import { expectedTensorShapes } from './tensor-names.ts';

export type Params = Record<string, tf.Tensor>;

/** The weight called `name`; a clear error when the weights lack it. */
export function param(params: Params, name: string): tf.Tensor {
  const w = params[name];
  if (!w) throw new MotlabError('invalid_checkpoint', `model weights have no tensor "${name}"`);
  return w;
}

const NORM_WEIGHT = /norm\.\d+\.weight$/; // attention_norm, ffn_norm, q_norm, k_norm, final norm
const RESIDUAL_OUTPUT = /(\.wo\.\d+|\.w2\.\d+|\.w2)\.weight$/; // wo, w2, experts' w2

/** A seed per tensor name, so a tensor's initial values do not depend on which others exist. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Fresh weights, drawn in JS (identical on every backend): N(0, 0.02) for linears, embeddings,
 * routers; residual output projections (wo, w2) scaled by 1/sqrt(2·n_layers); norms = 1.
 */
export function initParams(config: ModelConfig, seed: number): Params {
  const params: Params = {};
  const residualStd = 0.02 / Math.sqrt(2 * config.n_layers);
  for (const [name, shape] of Object.entries(expectedTensorShapes(config))) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (NORM_WEIGHT.test(name)) {
      values.fill(1);
    } else {
      const rng = new Rng(tensorSeed(seed, name));
      const std = RESIDUAL_OUTPUT.test(name) ? residualStd : 0.02;
      for (let i = 0; i < values.length; i++) values[i] = std * rng.normal();
    }
    params[name] = tf.tensor(values, shape);
  }
  return params;
}
