import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  countTokensPerModality,
  evalWindows,
  listBuiltinDatasets,
  loadDataset,
  resolveDatasetDir,
  sampleTrainBatch,
} from '../../src-main/data/dataset.ts';
import { encodeNpy, type NpyArray } from '../../src-main/data/npy.ts';
import { modalityIds } from '../../src-main/common/modalities.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { Rng } from '../../src-main/util/rng.ts';

const root = mkdtempSync(join(tmpdir(), 'motlab-dataset-'));
after(() => rmSync(root, { recursive: true, force: true }));

const SPEC = {
  name: 'toy',
  vocab_size: 20,
  // 18 and 19 are in the vocabulary but in no modality.
  modalities: [
    { name: 'text', start: 0, end: 8 },
    { name: 'image', start: 8, end: 14 },
    { name: 'speech', start: 14, end: 18 },
  ],
  splits: ['train', 'val'],
};

let counter = 0;
function makeDataset(spec: unknown, files: Record<string, NpyArray | Buffer | null>): string {
  const dir = join(root, `ds${counter++}`);
  mkdirSync(dir);
  if (spec !== null) writeFileSync(join(dir, 'dataset.json'), typeof spec === 'string' ? spec : JSON.stringify(spec));
  for (const [name, array] of Object.entries(files)) {
    if (array) writeFileSync(join(dir, name), Buffer.isBuffer(array) ? array : encodeNpy(array));
  }
  return dir;
}
const u16 = (values: number[]): NpyArray => ({ dtype: '<u2', shape: [values.length], data: Uint16Array.from(values) });
const ramp = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7) % 18);

async function rejects(dir: string, code: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(loadDataset(dir), (e: unknown) => {
    assert.ok(e instanceof MotlabError, `expected a MotlabError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('loadDataset reads the spec and every split (uint16 and int32)', async () => {
  const train = ramp(100);
  const dir = makeDataset(SPEC, {
    'train.tokens.npy': u16(train),
    'val.tokens.npy': { dtype: '<i4', shape: [3], data: Int32Array.from([0, 9, 17]) },
  });
  const ds = await loadDataset(dir);
  assert.equal(ds.spec.vocab_size, 20);
  assert.ok(ds.splits.train instanceof Uint16Array);
  assert.deepEqual(Array.from(ds.splits.train), train);
  assert.ok(ds.splits.val instanceof Int32Array);
  assert.deepEqual(Array.from(ds.splits.val), [0, 9, 17]);
});

test('loadDataset errors name the file and say what is wrong', async () => {
  const good = { 'train.tokens.npy': u16(ramp(50)), 'val.tokens.npy': u16(ramp(10)) };
  await rejects(makeDataset(null, good), 'not_found', /dataset\.json/, /missing/);
  await rejects(makeDataset(SPEC, { ...good, 'val.tokens.npy': null }), 'not_found', /val\.tokens\.npy/);
  await rejects(makeDataset('{"name": ', good), 'invalid_dataset', /dataset\.json is not valid JSON/);
  await rejects(makeDataset({ ...SPEC, vocab_size: 'big' }, good), 'invalid_dataset', /dataset\.json/, /vocab_size/);
  await rejects(
    makeDataset({ ...SPEC, modalities: [{ name: 'text', start: 0, end: 30 }] }, good),
    'invalid_dataset',
    /modalities\[0\]\.end: exceeds vocab_size \(20\)/,
  );
  await rejects(
    makeDataset(SPEC, { ...good, 'train.tokens.npy': { dtype: '<f4', shape: [2], data: Float32Array.from([1, 2]) } }),
    'invalid_dataset',
    /train\.tokens\.npy/,
    /uint16 or int32, found dtype <f4/,
  );
  await rejects(
    makeDataset(SPEC, { ...good, 'train.tokens.npy': { dtype: '<u2', shape: [2, 3], data: Uint16Array.from([1, 2, 3, 4, 5, 6]) } }),
    'invalid_dataset',
    /train\.tokens\.npy/,
    /1-D array, found shape \(2, 3\)/,
  );
  await rejects(makeDataset(SPEC, { ...good, 'val.tokens.npy': Buffer.from('garbage') }), 'invalid_dataset', /val\.tokens\.npy/);
});

test('loadDataset reports the first bad token, its position and the count', async () => {
  const train = ramp(40);
  train[13] = 25; // outside the vocabulary
  train[30] = 19; // in the vocabulary, in no modality
  train[31] = 18;
  await rejects(
    makeDataset(SPEC, { 'train.tokens.npy': u16(train), 'val.tokens.npy': u16([1, 2]) }),
    'invalid_dataset',
    /train\.tokens\.npy/,
    /3 invalid token id\(s\); the first is 25 at position 13 \(outside \[0, 20\)\)/,
  );
  const val = [1, 2, 3, 18];
  await rejects(
    makeDataset(SPEC, {
      'train.tokens.npy': u16(ramp(40)),
      'val.tokens.npy': { dtype: '<i4', shape: [4], data: Int32Array.from([...val.slice(0, 2), -4, 18]) },
    }),
    'invalid_dataset',
    /val\.tokens\.npy: 2 invalid token id\(s\); the first is -4 at position 2/,
  );
  await rejects(
    makeDataset(SPEC, { 'train.tokens.npy': u16(ramp(40)), 'val.tokens.npy': u16(val) }),
    'invalid_dataset',
    /1 invalid token id\(s\); the first is 18 at position 3 \(in no modality's range\)/,
  );
});

test('modalityIds and countTokensPerModality agree with a direct range test', () => {
  const rng = new Rng(5);
  const tokens = Int32Array.from({ length: 500 }, () => rng.int(24) - 2);
  const ids = modalityIds(tokens, SPEC.modalities, SPEC.vocab_size);
  const counts: Record<string, number> = { text: 0, image: 0, speech: 0 };
  tokens.forEach((t, i) => {
    const m = SPEC.modalities.findIndex((r) => t >= r.start && t < r.end);
    assert.equal(ids[i], m, `token ${t}`);
    if (m >= 0) counts[SPEC.modalities[m].name]++;
  });
  assert.deepEqual(countTokensPerModality(tokens, SPEC), counts);
});

test('sampleTrainBatch: random crops from exactly one rng.int(len - S) per row', () => {
  const tokens = Uint16Array.from({ length: 300 }, (_, i) => (i * 13 + 5) % 1000);
  const S = 16;
  const B = 7;
  const batch = sampleTrainBatch(tokens, S, B, new Rng(42));
  const ref = new Rng(42);
  const plain = Array.from(tokens);
  for (let b = 0; b < B; b++) {
    const s = ref.int(tokens.length - S);
    assert.ok(s >= 0 && s <= tokens.length - S - 1);
    assert.deepEqual(Array.from(batch.inputs.slice(b * S, (b + 1) * S)), plain.slice(s, s + S));
    assert.deepEqual(Array.from(batch.targets.slice(b * S, (b + 1) * S)), plain.slice(s + 1, s + S + 1));
  }
  // The generator advanced by exactly B draws: the data cursor is the RNG state.
  const after = new Rng(42);
  sampleTrainBatch(tokens, S, B, after);
  assert.deepEqual(after.state(), ref.state());
  // Every start, including the last one (len − S − 1), is reachable.
  const seen = new Set<number>();
  const tiny = Uint16Array.from({ length: 6 }, (_, i) => i);
  const r = new Rng(1);
  for (let i = 0; i < 200; i++) seen.add(sampleTrainBatch(tiny, 3, 1, r).inputs[0]);
  assert.deepEqual([...seen].sort(), [0, 1, 2]);
  assert.throws(() => sampleTrainBatch(tiny, 6, 1, r), /needs at least 7/);
});

test('evalWindows: non-overlapping windows k·S … k·S+S with shifted targets', () => {
  const tokens = Int32Array.from({ length: 53 }, (_, i) => 1000 + i);
  const S = 10;
  const all = evalWindows(tokens, S, 100);
  // k·S + S + 1 <= 53 holds for k = 0..4 (k = 4: 51 <= 53), not for k = 5.
  assert.equal(all.count, 5);
  const plain = Array.from(tokens);
  for (let k = 0; k < 5; k++) {
    assert.deepEqual(Array.from(all.inputs.slice(k * S, k * S + S)), plain.slice(k * S, k * S + S));
    assert.deepEqual(Array.from(all.targets.slice(k * S, k * S + S)), plain.slice(k * S + 1, k * S + S + 1));
  }
  const few = evalWindows(tokens, S, 2);
  assert.equal(few.count, 2);
  assert.deepEqual(few.inputs, all.inputs.slice(0, 2 * S));
  assert.equal(evalWindows(tokens.slice(0, 50), S, 100).count, 4); // 4·10+10+1 = 51 > 50
  assert.equal(evalWindows(tokens.slice(0, 10), S, 100).count, 0);
});

test('resolveDatasetDir: folders resolve, unknown names list the built-ins', () => {
  const dir = makeDataset(SPEC, {});
  assert.equal(resolveDatasetDir(dir), dir);
  assert.throws(
    () => resolveDatasetDir('no-such-dataset-xyz'),
    (e: unknown) =>
      e instanceof MotlabError && e.code === 'not_found' && /no-such-dataset-xyz/.test(e.message) && /built-ins: /.test(e.message),
  );
  for (const name of listBuiltinDatasets()) assert.ok(resolveDatasetDir(name).endsWith(join('assets', 'datasets', name)));
});
