/**
 * Gradients of the TensorFlow.js model (tf.variableGrads through computeLoss, MoE routing and
 * auxiliary losses included) against central finite differences of the float64 plain-JS
 * reference, at random coordinates of shared, per-tower, QK-norm, router and expert weights.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../../src-main/model/config.ts';
import { computeLoss, prepareBatch } from '../../src-main/model/mot.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { BATCH, randomWeights, randomWindows, tinyConfig, toRef, useBackend } from './helpers.ts';
import { referenceForward } from './reference.ts';

function checkGradients(config: ModelConfig, names: string[], seed: number): void {
  const weights = randomWeights(config, seed);
  const { inputs, targets } = randomWindows(config, 8); // every modality present
  const batch = prepareBatch(config, inputs, targets, BATCH);
  const vars = Object.fromEntries(Object.entries(weights).map(([n, w]) => [n, tf.variable(tf.tensor(w.values, w.shape))]));
  try {
    const { value, grads } = tf.variableGrads(() => computeLoss(config, vars, batch).loss, Object.values(vars));
    const byName = new Map(Object.keys(vars).map((n) => [n, grads[vars[n].name]]));
    const ref = toRef(weights);
    const refLoss = referenceForward(config, ref, inputs, targets, BATCH).loss;
    assert.ok(Math.abs(value.dataSync()[0] - refLoss) < 1e-4);
    const rng = new Rng(seed + 2);
    const eps = 1e-4;
    for (const name of names) {
      const g = byName.get(name);
      assert.ok(g, `no gradient for ${name}`);
      const gv = g.dataSync();
      for (let c = 0; c < 3; c++) {
        const j = rng.int(gv.length);
        const at = (delta: number) => {
          const w = Float64Array.from(weights[name].values);
          w[j] += delta;
          return referenceForward(config, { ...ref, [name]: w }, inputs, targets, BATCH).loss;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        assert.ok(Math.abs(gv[j] - fd) < 1e-6 + 1e-4 * Math.abs(fd), `${name}[${j}]: autodiff ${gv[j]}, finite difference ${fd}`);
      }
    }
    value.dispose();
    Object.values(grads).forEach((t) => t.dispose());
  } finally {
    Object.values(vars).forEach((v) => v.dispose());
    batch.dispose();
  }
}

it('MoT (pre-norm, QK-norm): per-tower and shared weights match finite differences', async () => {
  await useBackend('cpu');
  const config = tinyConfig('mot', { norm_style: 'pre', qk_norm: true });
  checkGradients(
    config,
    [
      'embed.weight',
      'layers.0.attention.wq.0.weight',
      'layers.0.attention.wk.1.weight',
      'layers.1.attention.wv.2.weight',
      'layers.1.attention.wo.1.weight',
      'layers.0.attention.q_norm.2.weight',
      'layers.1.attention.k_norm.0.weight',
      'layers.0.attention_norm.1.weight',
      'layers.1.ffn_norm.2.weight',
      'layers.0.feed_forward.w1.0.weight',
      'layers.1.feed_forward.w2.1.weight',
      'layers.0.feed_forward.w3.2.weight',
      'norm.1.weight',
      'output.weight',
    ],
    3,
  );
});

it('MoT + token-choice MoE (top-2, renormalised, capacity drops, aux + z-loss): router and experts', async () => {
  await useBackend('cpu');
  const base = tinyConfig('mot');
  const config: ModelConfig = {
    ...base,
    moe: {
      experts: 3,
      routing: 'token_choice',
      top_k: 2,
      capacity_factor: 0.8,
      renormalize: true,
      aux_loss: 0.1,
      z_loss: 0.01,
      towers: [0, 1],
    },
  };
  checkGradients(
    config,
    [
      'layers.0.feed_forward.router.0.weight',
      'layers.1.feed_forward.router.1.weight',
      'layers.0.feed_forward.experts.0.1.w1.weight',
      'layers.1.feed_forward.experts.1.2.w2.weight',
      'layers.0.feed_forward.experts.1.0.w3.weight',
      'layers.0.feed_forward.w1.2.weight',
      'layers.0.attention_norm.0.weight',
      'layers.1.ffn_norm.0.weight',
    ],
    7,
  );
});

it('expert-choice MoE (MoE-4x): router and experts', async () => {
  await useBackend('cpu');
  checkGradients(
    tinyConfig('moe4x'),
    [
      'layers.0.feed_forward.router.0.weight',
      'layers.1.feed_forward.router.0.weight',
      'layers.1.feed_forward.experts.0.3.w1.weight',
      'layers.0.attention.wq.0.weight',
    ],
    13,
  );
});
