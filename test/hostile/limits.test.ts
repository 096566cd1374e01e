/**
 * The limits that keep sizes from files in bounds must not refuse real models: the arithmetic
 * tensor and weight counts (checked before any table is built) agree with the tensor table
 * itself for every preset and size and for random configs, and the limits sit far above `base`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_VOCAB_SIZE } from '../../src-main/common/modalities.ts';
import { MODEL_LIMITS, modelConfigSchema, tensorTableSize, type ModelConfig } from '../../src-main/model/config.ts';
import { buildModelConfig, SIZES } from '../../src-main/model/presets.ts';
import { expectedTensorShapes } from '../../src-main/model/tensor-names.ts';
import { PRESET_NAMES, SIZE_NAMES } from '../../src-main/common/vocabulary.ts';
import { MAX_HEADER_BYTES, MAX_TENSORS } from '../../src-main/checkpoints/safetensors.ts';
import { Rng } from '../../src-main/util/rng.ts';

const MODALITIES = [
  { name: 'text', start: 0, end: 256 },
  { name: 'image', start: 256, end: 768 },
  { name: 'speech', start: 768, end: 1024 },
];

function tableSize(config: ModelConfig): { tensors: number; parameters: number } {
  const shapes = Object.values(expectedTensorShapes(config));
  return { tensors: shapes.length, parameters: shapes.reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0) };
}

test('tensorTableSize counts what expectedTensorShapes lists, for every preset and size', () => {
  for (const preset of PRESET_NAMES)
    for (const size of SIZE_NAMES) {
      const config = buildModelConfig(preset, size, { vocab_size: 1024, modalities: MODALITIES });
      assert.deepEqual(tensorTableSize(config), tableSize(config), `${preset} ${size}`);
    }
});

test('tensorTableSize agrees with the table for random valid configs (qk_norm, MoE in several towers)', () => {
  const rng = new Rng(99);
  let checked = 0;
  for (let i = 0; i < 300; i++) {
    const heads = 1 + rng.int(4);
    const modalities = MODALITIES.slice(0, 1 + rng.int(3));
    const names = modalities.map((m) => m.name);
    const split = (): string[][] => (rng.uniform() < 0.5 ? [names] : names.map((n) => [n]));
    const ffn = split();
    const moeTowers = ffn.map((_, t) => t).filter(() => rng.uniform() < 0.5);
    const candidate = {
      vocab_size: 1024,
      d_model: heads * 2 * (1 + rng.int(4)),
      n_layers: 1 + rng.int(5),
      n_heads: heads,
      ffn_hidden: 1 + rng.int(40),
      seq_len: 8,
      norm_style: 'pre',
      qk_norm: rng.uniform() < 0.5,
      rope_theta: 10000,
      modalities,
      towers: { attention: split(), ffn, norm: split() },
      ...(moeTowers.length
        ? {
            moe: {
              experts: 2 + rng.int(6),
              routing: 'token_choice',
              top_k: 1,
              capacity_factor: 1.25,
              renormalize: false,
              aux_loss: 0,
              z_loss: 0,
              towers: moeTowers,
            },
          }
        : {}),
    };
    const parsed = modelConfigSchema.safeParse(candidate);
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
    assert.deepEqual(tensorTableSize(parsed.data), tableSize(parsed.data), JSON.stringify(candidate));
    checked++;
  }
  assert.equal(checked, 300);
});

test('the limits sit far above the largest preset, and the safetensors caps hold its optimizer state', () => {
  const base = buildModelConfig('mot-moe', 'base', {
    vocab_size: 65_536,
    modalities: [
      { name: 'text', start: 0, end: 32_768 },
      { name: 'image', start: 32_768, end: 49_152 },
      { name: 'speech', start: 49_152, end: 65_536 },
    ],
  });
  const size = tensorTableSize(base);
  assert.ok(size.tensors * 50 < MODEL_LIMITS.tensors, `${size.tensors} tensors`);
  assert.ok(size.parameters * 10 < MODEL_LIMITS.parameters, `${size.parameters} weights`);
  assert.ok(SIZES.base.n_layers * 16 <= MODEL_LIMITS.n_layers && SIZES.base.d_model * 16 <= MODEL_LIMITS.d_model);
  assert.ok(MAX_VOCAB_SIZE >= 256_000, 'large real tokenizers fit');
  // A model at the tensor limit, and its optimizer state (two moments per weight), fit the reader.
  assert.equal(MAX_TENSORS, 2 * MODEL_LIMITS.tensors);
  const longest = 'layers.255.feed_forward.experts.7.63.w1.weight.exp_avg_sq';
  const entry = `"${longest}":{"dtype":"F32","shape":[65536,16384],"data_offsets":[12345678901234,12345678901234]},`;
  assert.ok(entry.length * MAX_TENSORS < MAX_HEADER_BYTES, `${entry.length} bytes per entry`);
});

test('the schema refuses configs beyond the limits with the field named, counting instead of building', () => {
  const base = buildModelConfig('mot', 'tiny', { vocab_size: 1024, modalities: MODALITIES });
  const huge = { ...base, n_layers: 200, d_model: 16_384, n_heads: 128, ffn_hidden: 65_536 };
  const started = performance.now();
  const r = modelConfigSchema.safeParse(huge);
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /would have .* parameters \(at most 2\.147e\+9\)/);
  assert.ok(performance.now() - started < 100, 'no table was built');
  assert.equal(modelConfigSchema.safeParse({ ...base, n_layers: 1e6 }).success, false);
  assert.equal(modelConfigSchema.safeParse({ ...base, vocab_size: 2e9 }).success, false);
});
