/**
 * The bring-your-own activations reader on real files written here byte by byte (valid ones in
 * every allowed dtype, and one malformed file per problem, each error message checked).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readActivations } from '../../src-main/analysis/pca/activations.ts';
import { MotlabError } from '../../src-main/common/errors.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'motlab-activations-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

const f32 = (values: number[], shape: number[]): RawTensor => ({
  dtype: 'F32',
  shape,
  bytes: new Uint8Array(Float32Array.from(values).buffer),
});
const i32 = (values: number[], shape = [values.length]): RawTensor => ({
  dtype: 'I32',
  shape,
  bytes: new Uint8Array(Int32Array.from(values).buffer),
});
const u8 = (values: number[]): RawTensor => ({ dtype: 'U8', shape: [values.length], bytes: Uint8Array.from(values) });
/** 16-bit patterns given by hand (little-endian on disk). */
const half = (dtype: 'F16' | 'BF16', bits: number[], shape: number[]): RawTensor => ({
  dtype,
  shape,
  bytes: new Uint8Array(Uint16Array.from(bits).buffer),
});

/** The safetensors layout written directly: u64 header length, JSON header, raw data. */
function writeSafetensors(name: string, tensors: Record<string, RawTensor>, metadata?: Record<string, string>): string {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    header[key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.concat([length, json, ...Object.values(tensors).map((t) => Buffer.from(t.bytes))]));
  return file;
}

const three = [0, 1, 2];
const valid = () => ({
  'layers.0': f32([1, 2, 3, 4, 5, 6], [3, 2]),
  modality: i32(three),
});

test('a minimal file: one F32 layer, I32 modalities, the default modality names', async () => {
  const file = writeSafetensors('minimal.safetensors', valid());
  const a = await readActivations(file);
  assert.equal(a.n, 3);
  assert.equal(a.file, file);
  assert.deepEqual(a.modalities, ['text', 'image', 'speech']);
  assert.deepEqual(Array.from(a.modality), three);
  assert.equal(a.layers.length, 1);
  assert.deepEqual({ ...a.layers[0], data: Array.from(a.layers[0].data) }, { layer: 0, dtype: 'F32', d: 2, data: [1, 2, 3, 4, 5, 6] });
  assert.equal(a.position, null);
  assert.equal(a.token, null);
  assert.deepEqual(a.ignoredTensors, []);
});

test('F16 and BF16 layers, U8 modalities, named modalities, positions and tokens, a subset of layers', async () => {
  // F16: 1.5 = 0x3E00, −2 = 0xC000, 65504 = 0x7BFF, 2^−24 = 0x0001 (subnormal), 0.1 ≈ 0x2E66 = 0.0999755859375.
  // BF16: the upper half of a float32: 1.5 = 0x3FC0, −2 = 0xC000, 3.140625 = 0x4049, 1e−3 ≈ 0x3A83 = 0.00099945068359375.
  const file = writeSafetensors(
    'mixed.safetensors',
    {
      token: i32([7, 100_000_001]),
      'layers.7': half('BF16', [0x3fc0, 0xc000, 0x4049, 0x3a83], [2, 2]),
      modality: u8([1, 0]),
      'layers.2': half('F16', [0x3e00, 0xc000, 0x7bff, 0x0001, 0x2e66, 0x0000], [2, 3]),
      position: i32([0, 16_777_217]),
      logits: f32([0, 0], [2, 1]),
    },
    { modalities: '["image","text"]', model: 'my-model' },
  );
  const a = await readActivations(file);
  assert.deepEqual(a.modalities, ['image', 'text']);
  assert.deepEqual(Array.from(a.modality), [1, 0]);
  assert.deepEqual(
    a.layers.map((l) => [l.layer, l.dtype, l.d]),
    [
      [2, 'F16', 3],
      [7, 'BF16', 2],
    ],
  );
  assert.deepEqual(Array.from(a.layers[0].data), [1.5, -2, 65504, 2 ** -24, 0.0999755859375, 0]);
  assert.deepEqual(Array.from(a.layers[1].data), [1.5, -2, 3.140625, 0.00099945068359375]);
  // Integers read exactly, even past float32's 2^24.
  assert.deepEqual(Array.from(a.position!), [0, 16_777_217]);
  assert.deepEqual(Array.from(a.token!), [7, 100_000_001]);
  assert.deepEqual(a.ignoredTensors, ['logits']);
  assert.equal(a.metadata.model, 'my-model');
  const only7 = await readActivations(file, { layers: [7] });
  assert.deepEqual(
    only7.layers.map((l) => l.layer),
    [7],
  );
});

const bad: [string, () => string, RegExp][] = [
  ['missing file', () => path.join(dir, 'nope.safetensors'), /^Activations file .*nope\.safetensors is missing or unreadable \(ENOENT\)$/],
  [
    'not safetensors',
    () => {
      const file = path.join(dir, 'garbage.safetensors');
      writeFileSync(file, 'hello world, not a tensor file');
      return file;
    },
    /garbage\.safetensors: header length \d+ exceeds/,
  ],
  [
    'metadata that is not JSON',
    () => writeSafetensors('meta-json.safetensors', valid(), { modalities: '["text", "image"' }),
    /meta-json\.safetensors: __metadata__ "modalities" is not valid JSON/,
  ],
  [
    'metadata that is not a list of names',
    () => writeSafetensors('meta-list.safetensors', valid(), { modalities: '["text", "text"]' }),
    /meta-list\.safetensors: __metadata__ "modalities" must be a JSON list of distinct, non-empty names/,
  ],
  [
    'no layers',
    () => writeSafetensors('no-layers.safetensors', { modality: i32(three), features: f32([1, 2, 3], [3, 1]) }),
    /no-layers\.safetensors: contains no layers\.<index> tensors \(tensors found: "modality", "features"\)/,
  ],
  [
    'a badly named layer',
    () => writeSafetensors('layer-name.safetensors', { ...valid(), 'layers.attn.1': f32([1, 2, 3], [3, 1]) }),
    /layer-name\.safetensors: tensor "layers\.attn\.1" is not named layers\.<index>/,
  ],
  [
    'integer features',
    () => writeSafetensors('int-layer.safetensors', { 'layers.0': i32([1, 2, 3], [3, 1]), modality: i32(three) }),
    /int-layer\.safetensors: tensor "layers\.0" is I32; features must be F32, F16 or BF16/,
  ],
  [
    'a 1-D layer',
    () => writeSafetensors('layer-1d.safetensors', { 'layers.0': f32([1, 2, 3], [3]), modality: i32(three) }),
    /layer-1d\.safetensors: tensor "layers\.0" has shape \[3\]; it must be \[N, d\]/,
  ],
  [
    'N mismatch',
    () =>
      writeSafetensors('rows.safetensors', {
        'layers.0': f32([1, 2, 3, 4], [2, 2]),
        'layers.1': f32([1, 2, 3], [3, 1]),
        modality: i32(three),
      }),
    /rows\.safetensors: tensor "layers\.0" has 2 rows but "modality" has 3/,
  ],
  [
    'no modality',
    () => writeSafetensors('no-modality.safetensors', { 'layers.0': f32([1, 2], [2, 1]) }),
    /no-modality\.safetensors: has no "modality" tensor/,
  ],
  [
    'float modality',
    () => writeSafetensors('float-modality.safetensors', { 'layers.0': f32([1, 2], [2, 1]), modality: f32([0, 1], [2]) }),
    /float-modality\.safetensors: tensor "modality" is F32; it must be I32 or U8/,
  ],
  [
    'modality of the wrong shape',
    () => writeSafetensors('modality-shape.safetensors', { 'layers.0': f32([1, 2], [2, 1]), modality: i32([0, 1], [2, 1]) }),
    /modality-shape\.safetensors: tensor "modality" has shape \[2, 1\]; it must be \[N\]/,
  ],
  [
    'modality index out of range',
    () => writeSafetensors('modality-range.safetensors', { 'layers.0': f32([1, 2, 3], [3, 1]), modality: i32([0, 3, 1]) }),
    /modality-range\.safetensors: modality\[1\] = 3 is out of range: the modalities are 0 text, 1 image, 2 speech \(the default/,
  ],
  [
    'negative modality index against listed modalities',
    () =>
      writeSafetensors(
        'modality-negative.safetensors',
        { 'layers.0': f32([1, 2], [2, 1]), modality: i32([0, -1]) },
        { modalities: '["a","b"]' },
      ),
    /modality-negative\.safetensors: modality\[1\] = -1 is out of range: the modalities are 0 a, 1 b$/,
  ],
  [
    'NaN in the features',
    () => writeSafetensors('nan.safetensors', { 'layers.4': f32([1, 2, 3, NaN, 5, 6], [3, 2]), modality: i32(three) }),
    /nan\.safetensors: tensor "layers\.4" row 1, column 1 is NaN; features must be finite/,
  ],
  [
    'Infinity in F16 features',
    () => writeSafetensors('inf.safetensors', { 'layers.0': half('F16', [0x3c00, 0x7c00, 0], [3, 1]), modality: i32(three) }),
    /inf\.safetensors: tensor "layers\.0" row 1, column 0 is Infinity/,
  ],
  [
    'positions of the wrong length',
    () => writeSafetensors('position.safetensors', { ...valid(), position: i32([0, 1]) }),
    /position\.safetensors: tensor "position" has shape \[2\]; it must be \[3\]/,
  ],
  [
    'tokens of the wrong dtype',
    () => writeSafetensors('token.safetensors', { ...valid(), token: u8(three) }),
    /token\.safetensors: tensor "token" is U8; it must be I32/,
  ],
];

for (const [what, make, message] of bad) {
  test(`refused: ${what}`, async () => {
    const file = make();
    await assert.rejects(readActivations(file), (e: unknown) => {
      assert.ok(e instanceof MotlabError, String(e));
      assert.equal(e.code, what === 'missing file' ? 'not_found' : 'invalid_dataset');
      assert.match(e.message, message);
      return true;
    });
  });
}

test('refused: asking for layers the file does not have', async () => {
  const file = writeSafetensors('subset.safetensors', { ...valid(), 'layers.3': f32([1, 2, 3], [3, 1]) });
  await assert.rejects(
    readActivations(file, { layers: [3, 5, 9] }),
    /subset\.safetensors: has no layers\.5, layers\.9 \(layers present: 0, 3\)/,
  );
});
