/** initParams, prepareBatch and the forward pass's bookkeeping (shapes, memory, errors). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { expectedTensorShapes } from '../../src-main/model/tensor-names.ts';
import { computeLoss, forward, initParams, prepareBatch } from '../../src-main/model/mot.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import type { ModelConfig } from '../../src-main/model/config.ts';
import {
  BATCH,
  disposeAll,
  maxAbsDiff,
  randomWeights,
  randomWindows,
  runModel,
  tinyConfig,
  toRef,
  toTensors,
  useBackend,
} from './helpers.ts';
import { referenceForward } from './reference.ts';

function std(values: ArrayLike<number>): number {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i];
    s2 += values[i] * values[i];
  }
  const mean = s / values.length;
  return Math.sqrt(s2 / values.length - mean * mean);
}

it('initParams: the contract names and shapes, seeded values, norms 1, scaled residual outputs', async () => {
  await useBackend('cpu');
  const config = tinyConfig('mot-moe', { d_model: 64, n_heads: 4, ffn_hidden: 128, n_layers: 4, qk_norm: true });
  const params = initParams(config, 7);
  const again = initParams(config, 7);
  const other = initParams(config, 8);
  try {
    const shapes = expectedTensorShapes(config);
    assert.deepEqual(Object.keys(params), Object.keys(shapes));
    for (const [name, shape] of Object.entries(shapes)) assert.deepEqual(params[name].shape, shape, name);
    for (const name of Object.keys(params)) {
      assert.deepEqual(params[name].dataSync(), again[name].dataSync(), `${name} is reproducible`);
      if (!/norm\.\d+\.weight$/.test(name))
        assert.notDeepEqual(params[name].dataSync(), other[name].dataSync(), `${name} depends on the seed`);
    }
    for (const name of ['layers.0.attention_norm.1.weight', 'layers.3.attention.q_norm.2.weight', 'norm.0.weight']) {
      assert.ok(
        params[name].dataSync().every((v) => v === 1),
        name,
      );
    }
    const near = (name: string, want: number) => {
      const got = std(params[name].dataSync());
      assert.ok(Math.abs(got - want) < 0.1 * want, `${name}: std ${got}, want ${want}`);
    };
    near('embed.weight', 0.02);
    near('layers.0.attention.wq.1.weight', 0.02);
    near('layers.2.feed_forward.w1.1.weight', 0.02);
    near('layers.1.feed_forward.router.0.weight', 0.02);
    const residual = 0.02 / Math.sqrt(2 * 4);
    near('layers.0.attention.wo.2.weight', residual);
    near('layers.3.feed_forward.w2.1.weight', residual);
    near('layers.1.feed_forward.experts.0.2.w2.weight', residual);
    // One seed per tensor name: a dense model's weights equal tower 0 of a MoT model.
    const dense = initParams(tinyConfig('dense'), 7);
    const mot = initParams(tinyConfig('mot'), 7);
    assert.deepEqual(dense['layers.1.attention.wv.0.weight'].dataSync(), mot['layers.1.attention.wv.0.weight'].dataSync());
    disposeAll(dense);
    disposeAll(mot);
  } finally {
    [params, again, other].forEach(disposeAll);
  }
});

it('prepareBatch: modalities from a lookup table, rows in tower order, dispose frees all', async () => {
  await useBackend('cpu');
  const config = tinyConfig('mot-text-isolated');
  const { inputs, targets } = randomWindows(config, 8);
  const before = tf.memory().numTensors;
  const batch = prepareBatch(config, inputs, targets, BATCH);
  const modality = (t: number) => (t < 10 ? 0 : t < 18 ? 1 : 2);
  const tower = (p: number) => (modality(inputs[p]) === 0 ? 0 : 1); // text | image+speech
  assert.deepEqual(Array.from(batch.inputModality), Array.from(inputs, modality));
  assert.deepEqual(
    batch.modalityCounts,
    [0, 1, 2].map((m) => Array.from(targets).filter((t) => modality(t) === m).length),
  );
  // The order is a permutation sorted by tower, then position.
  const order = Array.from(batch.order);
  assert.deepEqual(
    [...order].sort((a, b) => a - b),
    [...Array(inputs.length).keys()],
  );
  const expected = [...Array(inputs.length).keys()].sort((a, b) => tower(a) - tower(b) || a - b);
  assert.deepEqual(order, expected);
  for (const component of ['attention', 'ffn', 'norm'] as const) {
    const textRows = order.filter((p) => tower(p) === 0).length;
    assert.deepEqual(batch.segments[component], [
      { tower: 0, start: 0, size: textRows },
      { tower: 1, start: textRows, size: inputs.length - textRows },
    ]);
  }
  assert.deepEqual(
    Array.from(batch.tokens.dataSync()),
    order.map((p) => inputs[p]),
  );
  assert.deepEqual(Array.from(batch.permutation!.order.dataSync()), order);
  const inverse = batch.permutation!.inverse.dataSync();
  order.forEach((p, r) => assert.equal(inverse[p], r));
  batch.dispose();
  assert.equal(tf.memory().numTensors, before);
  // A dense model keeps sequence order: no reordering at all.
  const dense = prepareBatch(tinyConfig('dense'), inputs, targets, BATCH);
  assert.equal(dense.permutation, null);
  assert.equal(dense.segments.attention.length, 1);
  dense.dispose();
});

it('towers that are not contiguous in tower order (non-nested assignments) still match the reference', async () => {
  await useBackend('cpu');
  // attention untied; ffn groups {text,speech} | {image} with an MoE in ffn tower 0: in tower
  // order (text, image, speech) ffn tower 0 owns two separate runs of rows; its MoE must still
  // route in sequence order over all of them.
  const base = tinyConfig('mot');
  const config: ModelConfig = {
    ...base,
    towers: { attention: [['text'], ['image'], ['speech']], ffn: [['text', 'speech'], ['image']], norm: [['text'], ['image', 'speech']] },
    moe: {
      experts: 3,
      routing: 'token_choice',
      top_k: 1,
      capacity_factor: 0.7,
      renormalize: false,
      aux_loss: 0.05,
      z_loss: 0.01,
      towers: [0],
    },
  };
  const weights = randomWeights(config, 31);
  const { inputs, targets } = randomWindows(config, 8);
  const batch = prepareBatch(config, inputs, targets, BATCH);
  assert.equal(batch.segments.ffn.filter((s) => s.tower === 0).length, 2, 'ffn tower 0 is split in two runs');
  batch.dispose();
  const ref = referenceForward(config, toRef(weights), inputs, targets, BATCH);
  assert.ok(
    ref.routing.some((r) => r.dropped.length > 0),
    'capacity drops happen',
  );
  const params = toTensors(weights);
  try {
    const got = runModel(config, params, inputs, targets);
    assert.ok(maxAbsDiff(got.logits, ref.logits) < 1e-4);
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-4);
  } finally {
    disposeAll(params);
  }
});

it('prepareBatch rejects tokens outside every modality range and wrong lengths', async () => {
  await useBackend('cpu');
  const config = tinyConfig('mot', { vocab_size: 30 }); // ids 24..29 belong to no modality
  const { inputs, targets } = randomWindows(config, 8);
  const bad = Int32Array.from(inputs);
  bad[5] = 27;
  assert.throws(
    () => prepareBatch(config, bad, targets, BATCH),
    (e: unknown) => e instanceof MotlabError && e.code === 'invalid_dataset' && /position 5/.test(e.message),
  );
  assert.throws(() => prepareBatch(config, inputs.subarray(1), targets, BATCH), MotlabError);
});

it('forward: hidden states per layer, no tensors leaked in tidy or variableGrads', async () => {
  await useBackend('cpu');
  const config = tinyConfig('mot-moe');
  const params = initParams(config, 1);
  const { inputs, targets } = randomWindows(config, 8);
  const batch = prepareBatch(config, inputs, targets, BATCH);
  try {
    tf.tidy(() => {
      forward(config, params, batch); // warm the RoPE/mask cache
    });
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const out = forward(config, params, batch, { captureHidden: true });
      assert.deepEqual(out.logits.shape, [BATCH * config.seq_len, config.vocab_size]);
      assert.equal(out.hidden!.length, config.n_layers);
      out.hidden!.forEach((h) => assert.deepEqual(h.shape, [BATCH * config.seq_len, config.d_model]));
      assert.equal(out.routing.length, config.n_layers);
      assert.equal(out.routing[0].towers[0].tower, 0);
    });
    assert.equal(tf.memory().numTensors, before);
    const vars = Object.fromEntries(Object.entries(params).map(([n, p]) => [n, tf.variable(p)]));
    const beforeGrads = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => computeLoss(config, vars, batch).loss, Object.values(vars));
    assert.ok(Number.isFinite(value.dataSync()[0]));
    value.dispose();
    Object.values(grads).forEach((g) => g.dispose());
    assert.equal(tf.memory().numTensors, beforeGrads);
    Object.values(vars).forEach((v) => v.dispose());
  } finally {
    batch.dispose();
    disposeAll(params);
  }
});
