/** Parameter counts and FLOPs per token against a hand count for the tiny test configs. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { flopsPerToken, parameterCounts, tensorShapes } from '../../src-main/model/accounting.ts';
import { tinyConfig } from './helpers.ts';

// V = 24, D = 16, L = 2, H = 2 (hd = 8), F = 24, S = 8, three modalities.
const embed = 24 * 16; // 384, and the output head is the same size
const attention = 4 * 16 * 16; // 1024 per layer and tower
const ffn = 3 * 16 * 24; // 1152 per layer and tower (or per expert)
const norms = 2 * 16; // 32 per layer and tower
const denseLayer = attention + ffn + norms; // 2208
const attentionFlops = 2 * 8 * 16; // L·S·D = 256

it('dense: hand count', () => {
  const c = parameterCounts(tinyConfig('dense'));
  const nonEmbedding = 2 * denseLayer + 16 + embed; // layers + final norm + output head = 4816
  assert.equal(c.embedding, embed);
  assert.equal(c.nonEmbedding, nonEmbedding);
  assert.equal(c.total, nonEmbedding + embed);
  assert.equal(c.activePerToken, nonEmbedding);
  assert.equal(flopsPerToken(tinyConfig('dense'), 'train'), 6 * 4816 + 12 * attentionFlops);
  assert.equal(flopsPerToken(tinyConfig('dense'), 'forward'), 2 * 4816 + 4 * attentionFlops);
});

it('MoT: same FLOPs per token as dense, ~M× the non-embedding parameters', () => {
  const dense = parameterCounts(tinyConfig('dense'));
  const mot = parameterCounts(tinyConfig('mot'));
  assert.equal(flopsPerToken(tinyConfig('mot'), 'train'), flopsPerToken(tinyConfig('dense'), 'train'));
  assert.equal(mot.activePerToken, dense.activePerToken);
  // Everything but the (shared) output head triples.
  assert.equal(mot.nonEmbedding - embed, 3 * (dense.nonEmbedding - embed));
  assert.equal(mot.nonEmbedding, 3 * (2 * denseLayer + 16) + embed); // 13680
  const ratio = mot.nonEmbedding / dense.nonEmbedding;
  assert.ok(ratio > 2.5 && ratio < 3);
  // Ablations: only the untied components multiply.
  assert.equal(parameterCounts(tinyConfig('mot-ffn')).nonEmbedding, 2 * (attention + 3 * ffn + norms) + 16 + embed);
  assert.equal(parameterCounts(tinyConfig('mot-text-isolated')).nonEmbedding, 2 * (2 * denseLayer) + 2 * 16 + embed);
  assert.equal(parameterCounts(tinyConfig('mot', { qk_norm: true })).nonEmbedding, 3 * (2 * (denseLayer + 2 * 8) + 16) + embed);
});

it('MoE: experts, router, top-k and capacity-weighted active parameters', () => {
  const router = 4 * 16;
  const ec = parameterCounts(tinyConfig('moe4x')); // expert choice, capacity factor 1
  assert.equal(ec.total, 2 * (attention + 4 * ffn + router + norms) + 16 + 2 * embed);
  assert.equal(ec.perComponent.router, 2 * router);
  assert.equal(ec.perComponent.ffn, 2 * 4 * ffn);
  assert.equal(ec.activePerToken, 2 * (attention + router + ffn + norms) + 16 + embed); // 4944
  const topk = tinyConfig('moe4x-topk');
  const top2 = { ...topk, moe: { ...topk.moe!, top_k: 2 } };
  assert.equal(parameterCounts(top2).activePerToken, 2 * (attention + router + 2 * ffn + norms) + 16 + embed);
  const cf2 = tinyConfig('moe4x');
  assert.equal(
    parameterCounts({ ...cf2, moe: { ...cf2.moe!, capacity_factor: 2 } }).activePerToken,
    2 * (attention + router + 2 * ffn + norms) + 16 + embed,
  );
  // MoE in the text tower only: text tokens use the router, others do not.
  const hybrid = parameterCounts(tinyConfig('mot-moe'));
  assert.equal(hybrid.activePerModality.text, 2 * (attention + router + ffn + norms) + 16 + embed);
  assert.equal(hybrid.activePerModality.image, 2 * denseLayer + 16 + embed);
  assert.equal(hybrid.activePerToken, hybrid.activePerModality.text);
});

it('parameter counts agree with the tensor shapes', () => {
  for (const preset of ['dense', 'mot', 'mot-ffn', 'moe4x', 'mot-moe'] as const) {
    const config = tinyConfig(preset, { qk_norm: true });
    const fromShapes = Object.values(tensorShapes(config)).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(parameterCounts(config).total, fromShapes, preset);
  }
});
