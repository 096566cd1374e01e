import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeSafetensors, encodeSafetensors } from '../../src-main/checkpoints/safetensors.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { Rng } from '../../src-main/util/rng.ts';

const PYTHON = '/usr/bin/python3';

function randomTensor(rng: Rng, shape: number[]): { shape: number[]; data: Float32Array } {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { shape, data };
}

test('round trip keeps names, shapes, values and metadata; layout follows the format', () => {
  const rng = new Rng(1);
  const tensors = {
    'b.weight': randomTensor(rng, [3, 5]),
    'a.weight': randomTensor(rng, [7]),
    scalar: randomTensor(rng, []),
    empty: randomTensor(rng, [0, 4]),
  };
  const bytes = encodeSafetensors(tensors, { format: 'motlab', config: '{"x":1}' });
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal(n % 8, 0, 'header padded to a multiple of 8');
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  assert.deepEqual(header.__metadata__, { format: 'motlab', config: '{"x":1}' });
  // Sorted by name, contiguous.
  assert.deepEqual(header['a.weight'].data_offsets, [0, 28]);
  assert.deepEqual(header['b.weight'].data_offsets, [28, 88]);
  assert.deepEqual(header.empty.data_offsets, [88, 88]);
  assert.deepEqual(header.scalar.data_offsets, [88, 92]);
  assert.equal(bytes.length, 8 + n + 92);
  const back = decodeSafetensors(bytes, 'rt.safetensors');
  assert.deepEqual(back.metadata, { format: 'motlab', config: '{"x":1}' });
  for (const [name, t] of Object.entries(tensors)) {
    assert.equal(back.tensors[name].dtype, 'F32');
    assert.deepEqual(back.tensors[name].shape, t.shape);
    assert.deepEqual(Array.from(back.tensors[name].data), Array.from(t.data));
  }
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
  // No metadata: none written, empty object read back.
  assert.deepEqual(decodeSafetensors(encodeSafetensors({ x: randomTensor(rng, [2]) }), 'x').metadata, {});
});

test('a file written by Python by hand (struct + json + numpy) loads with the same values', { skip: !existsSync(PYTHON) }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'motlab-st-'));
  try {
    const file = join(dir, 'py.safetensors');
    // Unsorted, unaligned header (no padding), and dtypes we convert: F32, F16, BF16, I32, I64, U8, F64.
    const script = `
import json, struct, sys
import numpy as np
rng = np.random.default_rng(7)
arrays = {
  "w.f32": rng.standard_normal((4, 3)).astype("<f4"),
  "w.f16": rng.standard_normal((5,)).astype("<f2"),
  "w.bf16": rng.standard_normal((2, 2)).astype("<f4"),
  "ids.i32": np.array([-3, 0, 7, 2**31 - 1], dtype="<i4"),
  "ids.i64": np.array([[-5, 9]], dtype="<i8"),
  "bytes.u8": np.array([0, 255, 17], dtype="u1"),
  "w.f64": rng.standard_normal((3,)).astype("<f8"),
}
payload = {}
for k, a in arrays.items():
  if k == "w.bf16":
    bits = (a.view("<u4") >> 16).astype("<u2")          # truncate float32 to bfloat16
    payload[k] = ("BF16", a.shape, bits.tobytes())
    arrays[k] = (bits.astype("<u4") << 16).view("<f4")   # the value the file now holds
  else:
    dt = {"<f4": "F32", "<f2": "F16", "<i4": "I32", "<i8": "I64", "|u1": "U8", "<f8": "F64"}[a.dtype.str]
    payload[k] = (dt, a.shape, a.tobytes())
header, blob, off = {"__metadata__": {"who": "python", "n": "7"}}, b"", 0
for k in ["w.f64", "bytes.u8", "w.f16", "ids.i64", "w.f32", "ids.i32", "w.bf16"]:
  dt, shape, raw = payload[k]
  header[k] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
  blob += raw; off += len(raw)
h = json.dumps(header).encode("utf-8")
with open(sys.argv[1], "wb") as f:
  f.write(struct.pack("<Q", len(h))); f.write(h); f.write(blob)
print(json.dumps({k: {"shape": list(a.shape), "values": a.astype("<f8").ravel().tolist()} for k, a in arrays.items()}))
`;
    const expected = JSON.parse(execFileSync(PYTHON, ['-c', script, file], { encoding: 'utf8' })) as Record<
      string,
      { shape: number[]; values: number[] }
    >;
    const got = decodeSafetensors(readFileSync(file), file);
    assert.deepEqual(got.metadata, { who: 'python', n: '7' });
    assert.deepEqual(Object.keys(got.tensors).sort(), Object.keys(expected).sort());
    const dtypes: Record<string, string> = {
      'w.f32': 'F32',
      'w.f16': 'F16',
      'w.bf16': 'BF16',
      'ids.i32': 'I32',
      'ids.i64': 'I64',
      'bytes.u8': 'U8',
      'w.f64': 'F64',
    };
    for (const [name, e] of Object.entries(expected)) {
      const t = got.tensors[name];
      assert.equal(t.dtype, dtypes[name]);
      assert.deepEqual(t.shape, e.shape, name);
      // Python's values are exact in float64; we hold float32.
      assert.deepEqual(
        Array.from(t.data),
        e.values.map((v) => Math.fround(v)),
        name,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function expectInvalid(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeSafetensors(bytes, 'bad.safetensors'),
    (e: unknown) =>
      e instanceof MotlabError && e.code === 'invalid_checkpoint' && e.message.startsWith('bad.safetensors: ') && pattern.test(e.message),
  );
}

function withHeader(header: unknown, dataBytes: number, rawHeader?: string): Buffer {
  const json = Buffer.from(rawHeader ?? JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + json.length + dataBytes);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  return out;
}

test('each kind of corruption gets a specific error naming the file', () => {
  const t = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
  expectInvalid(new Uint8Array(5), /8-byte header length is missing/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(2n ** 63n, 0);
  expectInvalid(huge, /exceeds the .* limit/);
  const long = Buffer.alloc(16);
  long.writeBigUInt64LE(100n, 0);
  expectInvalid(long, /runs past the end of the file/);
  expectInvalid(withHeader(null, 0, '{"a": '), /not valid JSON/);
  expectInvalid(withHeader([1, 2], 0), /not a JSON object/);
  expectInvalid(withHeader({ __metadata__: { a: 1 } }, 0), /__metadata__\["a"\] is a number/);
  expectInvalid(withHeader({ x: t('F8_E4M3', [1], 0, 1) }, 1), /unsupported dtype/);
  expectInvalid(withHeader({ x: t('F32', [2, 3], 0, 20) }, 20), /needs 24 bytes, data_offsets span 20/);
  expectInvalid(withHeader({ x: t('F32', [1], 0, 4) }, 2), /run past the data area/);
  expectInvalid(withHeader({ x: t('F32', [2], 0, 8), y: t('F32', [1], 4, 8) }, 8), /overlaps/);
  expectInvalid(withHeader({ x: t('F32', [1], 4, 8) }, 8), /gap in the data area/);
  expectInvalid(withHeader({ x: t('F32', [1], 0, 4) }, 8), /trailing bytes/);
  expectInvalid(withHeader({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /shape must be/);
  expectInvalid(withHeader({ x: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /data_offsets must be/);
  expectInvalid(withHeader({ x: t('F32', [2 ** 40, 2 ** 40, 2 ** 40], 0, 4) }, 4), /needs about 5.317e\+36 bytes/);
  // A tensor named __proto__ is data, not a prototype.
  const proto = decodeSafetensors(withHeader(null, 4, '{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'), 'p');
  assert.equal(Object.getPrototypeOf(proto.tensors), Object.prototype);
  assert.deepEqual(proto.tensors['__proto__'].shape, [1]);
});

test('fuzz: mutated and truncated files decode or throw MotlabError, never anything else', () => {
  const rng = new Rng(12345);
  const base = encodeSafetensors(
    { 'a.weight': randomTensor(rng, [3, 4]), 'b.weight': randomTensor(rng, [5]), c: randomTensor(rng, [2, 1, 2]) },
    { format: 'motlab', config: '{"d_model": 4}' },
  );
  const headerEnd = 8 + Number(base.readBigUInt64LE(0));
  const interesting = [0x00, 0x20, 0x22, 0x2c, 0x2d, 0x30, 0x39, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d, 0x80, 0xff];
  let decoded = 0;
  let rejected = 0;
  const cases = 4000;
  for (let c = 0; c < cases; c++) {
    let bytes = Buffer.from(base);
    const kind = c % 5;
    if (kind === 0) {
      bytes = bytes.subarray(0, rng.int(bytes.length + 1));
    } else if (kind === 1 || kind === 2) {
      // Flip 1–4 bytes, mostly inside the header (where structure lives).
      const flips = 1 + rng.int(4);
      for (let f = 0; f < flips; f++) {
        const at = kind === 1 ? rng.int(headerEnd) : rng.int(bytes.length);
        bytes[at] = rng.uniform() < 0.5 ? interesting[rng.int(interesting.length)] : rng.int(256);
      }
    } else if (kind === 3) {
      // Corrupt the length prefix.
      bytes.writeBigUInt64LE(BigInt(rng.int(headerEnd + 64)) * (rng.uniform() < 0.1 ? 2n ** 40n : 1n), 0);
    } else {
      // Replace a run of digits in the header with another number (shapes and offsets).
      const text = bytes.subarray(8, headerEnd).toString('latin1');
      const digits = [...text.matchAll(/\d+/g)];
      const m = digits[rng.int(digits.length)];
      const replacement = String([0, 1, 3, 4, 8, 2 ** 31, 2 ** 53, 1e300][rng.int(8)]);
      const newText = text.slice(0, m.index) + replacement + text.slice(m.index + m[0].length);
      const json = Buffer.from(newText, 'latin1');
      const head = Buffer.alloc(8);
      head.writeBigUInt64LE(BigInt(json.length), 0);
      bytes = Buffer.concat([head, json, base.subarray(headerEnd)]);
    }
    try {
      const r = decodeSafetensors(bytes, 'fuzz.safetensors');
      for (const t of Object.values(r.tensors))
        assert.equal(
          t.data.length,
          t.shape.reduce((a, b) => a * b, 1),
        );
      decoded++;
    } catch (e) {
      if (!(e instanceof MotlabError) || e.code !== 'invalid_checkpoint') {
        assert.fail(`case ${c} (kind ${kind}) threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      rejected++;
    }
  }
  assert.equal(decoded + rejected, cases);
  assert.ok(rejected > cases / 2, `most mutations are rejected (${rejected})`);
  assert.ok(decoded > 0, 'some mutations (data bytes, whitespace) still decode');
});
