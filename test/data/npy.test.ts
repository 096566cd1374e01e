import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeNpy, encodeNpy, type NpyArray } from '../../src-main/data/npy.ts';
import { MotlabError } from '../../src-main/common/errors.ts';

const PYTHON = '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'motlab-npy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('encode → decode round trip keeps dtype, shape and values', () => {
  const arrays: NpyArray[] = [
    { dtype: '<u2', shape: [5], data: Uint16Array.from([0, 1, 511, 65535, 7]) },
    { dtype: '<i4', shape: [2, 3], data: Int32Array.from([-5, 0, 2147483647, -2147483648, 3, 9]) },
    { dtype: '<f4', shape: [3, 1, 2], data: Float32Array.from([0.5, -1.25, 3e-8, 1e30, -0, 2]) },
    { dtype: '|u1', shape: [0], data: new Uint8Array(0) },
  ];
  for (const a of arrays) {
    const bytes = encodeNpy(a);
    // The format promises a 64-byte aligned data start.
    assert.equal((10 + bytes.readUInt16LE(8)) % 64, 0);
    const back = decodeNpy(bytes);
    assert.equal(back.dtype, a.dtype);
    assert.deepEqual(back.shape, a.shape);
    assert.deepEqual(Array.from(back.data), Array.from(a.data));
  }
});

test('files written by numpy decode to the values numpy was given', () => {
  const script = [
    'import numpy as np, sys',
    'd = sys.argv[1]',
    'np.save(d + "/u2.npy", ((np.arange(1000, dtype=np.int64) * 37) % 65521).astype(np.uint16))',
    'np.save(d + "/i4.npy", (np.arange(24, dtype=np.int32) * -1000003).reshape(2, 3, 4))',
    'np.save(d + "/f4.npy", (np.arange(6, dtype=np.float32) / 8 - 0.3).reshape(3, 2))',
    // Format version 2.0 (4-byte header length), as numpy writes for huge headers.
    'with open(d + "/v2.npy", "wb") as f: np.lib.format.write_array(f, np.arange(10, dtype=np.uint16), version=(2, 0))',
  ].join('\n');
  execFileSync(PYTHON, ['-c', script, dir]);
  const u2 = decodeNpy(readFileSync(join(dir, 'u2.npy')));
  assert.equal(u2.dtype, '<u2');
  assert.deepEqual(u2.shape, [1000]);
  assert.deepEqual(
    Array.from(u2.data),
    Array.from({ length: 1000 }, (_, i) => (i * 37) % 65521),
  );
  const i4 = decodeNpy(readFileSync(join(dir, 'i4.npy')));
  assert.equal(i4.dtype, '<i4');
  assert.deepEqual(i4.shape, [2, 3, 4]);
  assert.deepEqual(
    Array.from(i4.data),
    Array.from({ length: 24 }, (_, i) => (i * -1000003) | 0),
  );
  const f4 = decodeNpy(readFileSync(join(dir, 'f4.npy')));
  assert.deepEqual(f4.shape, [3, 2]);
  assert.deepEqual(
    Array.from(f4.data),
    Array.from({ length: 6 }, (_, i) => Math.fround(Math.fround(i / 8) - Math.fround(0.3))),
  );
  const v2 = decodeNpy(readFileSync(join(dir, 'v2.npy')));
  assert.deepEqual(Array.from(v2.data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('numpy reads what we encode', () => {
  const data = Int32Array.from({ length: 12 }, (_, i) => i * i - 20);
  writeFileSync(join(dir, 'ours.npy'), encodeNpy({ dtype: '<i4', shape: [3, 4], data }));
  const out = execFileSync(PYTHON, [
    '-c',
    'import numpy as np, sys, json; a = np.load(sys.argv[1]); print(json.dumps([str(a.dtype), list(a.shape), a.ravel().tolist()]))',
    join(dir, 'ours.npy'),
  ]).toString();
  assert.deepEqual(JSON.parse(out), ['int32', [3, 4], Array.from(data)]);
});

test('malformed files are rejected with invalid_dataset naming the source', () => {
  const good = encodeNpy({ dtype: '<u2', shape: [4], data: Uint16Array.from([1, 2, 3, 4]) });
  const cases: [Uint8Array, RegExp][] = [
    [Buffer.from('not numpy at all'), /magic/],
    [good.subarray(0, good.length - 2), /needs 8 data bytes, the file has 6/],
    [Buffer.from(good.toString('latin1').replace("'<u2'", "'<f8'"), 'latin1'), /dtype <f8 is not supported/],
    [Buffer.from(good.toString('latin1').replace('False', 'True '), 'latin1'), /Fortran/],
  ];
  for (const [bytes, why] of cases) {
    assert.throws(
      () => decodeNpy(bytes, 'x.npy'),
      (e: unknown) => e instanceof MotlabError && e.code === 'invalid_dataset' && e.message.startsWith('x.npy') && why.test(e.message),
    );
  }
});
