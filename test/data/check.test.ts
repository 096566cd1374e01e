import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runDataCommand } from '../../src-main/cli/commands/data.ts';
import { checkDataset, formatDatasetReport } from '../../src-main/data/check.ts';
import { encodeNpy, type NpyArray } from '../../src-main/data/npy.ts';

const root = mkdtempSync(join(tmpdir(), 'motlab-check-'));
after(() => rmSync(root, { recursive: true, force: true }));

const SPEC = {
  name: 'toy',
  vocab_size: 20,
  modalities: [
    { name: 'text', start: 0, end: 8 },
    { name: 'image', start: 8, end: 14 },
    { name: 'speech', start: 14, end: 18 },
  ],
  splits: ['train', 'val'],
};
const i32 = (values: number[]): NpyArray => ({ dtype: '<i4', shape: [values.length], data: Int32Array.from(values) });

let n = 0;
function makeDataset(spec: unknown, files: Record<string, NpyArray>): string {
  const dir = join(root, `ds${n++}`);
  mkdirSync(dir);
  if (spec !== null) writeFileSync(join(dir, 'dataset.json'), JSON.stringify(spec));
  for (const [name, a] of Object.entries(files)) writeFileSync(join(dir, name), encodeNpy(a));
  return dir;
}

/** Capture console output of a CLI call. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await runDataCommand(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('a good dataset: counts, shares, windows, ok', async () => {
  const train = Array.from({ length: 1000 }, (_, i) => i % 18);
  const dir = makeDataset(SPEC, {
    'train.tokens.npy': i32(train),
    'val.tokens.npy': { dtype: '<u2', shape: [40], data: new Uint16Array(40) },
  });
  const r = await checkDataset(dir);
  assert.equal(r.ok, true, r.problems.join('; '));
  assert.deepEqual(r.problems, []);
  const t = r.splits.find((s) => s.split === 'train')!;
  assert.equal(t.dtype, 'int32');
  assert.equal(t.tokens, 1000);
  // i % 18 over 1000 = 55 full cycles + 0..9: text 0..7 → 55·8+8, image 8..13 → 55·6+2, speech → 55·4.
  assert.deepEqual(
    t.modalities.map((m) => m.count),
    [448, 332, 220],
  );
  assert.ok(Math.abs(t.modalities[0].share - 0.448) < 1e-12);
  assert.deepEqual(t.windows, { '32': 31, '128': 7, '512': 1 });
  const v = r.splits.find((s) => s.split === 'val')!;
  assert.equal(v.dtype, 'uint16');
  // val: only text tokens, too short for 128 and 512.
  assert.ok(r.warnings.some((w) => /"val" has no image tokens/.test(w)));
  assert.ok(r.warnings.some((w) => /"val" \(40 tokens\) is too short for seq_len 128, 512/.test(w)));
  const text = formatDatasetReport(r);
  assert.match(text, /train\s+int32\s+1000\s+448 \(44\.8%\)/);
  assert.match(text, /OK: the dataset can be used/);
});

test('a broken dataset: every problem is reported, nothing throws', async () => {
  const train = Array.from({ length: 300 }, (_, i) => i % 18);
  Object.assign(train, { 5: 25, 6: -1, 50: 30, 60: 18, 61: 19 });
  const dir = makeDataset(
    { ...SPEC, splits: ['train', 'test'] },
    {
      'train.tokens.npy': i32(train),
      'extra.tokens.npy': i32([1, 2, 3]),
      // test.tokens.npy missing
    },
  );
  const r = await checkDataset(dir);
  assert.equal(r.ok, false);
  const t = r.splits.find((s) => s.split === 'train')!;
  assert.equal(t.outOfVocab.count, 3);
  assert.deepEqual(t.outOfVocab.first, [
    { position: 5, token: 25 },
    { position: 6, token: -1 },
    { position: 50, token: 30 },
  ]);
  assert.equal(t.outsideModalities.count, 2);
  assert.deepEqual(
    t.outsideModalities.first.map((p) => p.position),
    [60, 61],
  );
  const all = r.problems.join('\n');
  assert.match(all, /no "val" split/);
  assert.match(all, /test\.tokens\.npy is missing/);
  assert.match(all, /3 token id\(s\) outside \[0, 20\): 25 at 5, -1 at 6, 30 at 50/);
  assert.match(all, /2 token id\(s\) in no modality's range: 18 at 60, 19 at 61/);
  assert.ok(r.warnings.some((w) => /extra\.tokens\.npy is not listed/.test(w)));
  assert.equal(r.splits.find((s) => s.split === 'test')!.error !== null, true);
  assert.match(formatDatasetReport(r), /NOT OK: 4 problem\(s\)/);
});

test('schema errors, wrong dtype and a missing folder become problems', async () => {
  const bad = await checkDataset(makeDataset({ ...SPEC, vocab_size: -3 }, {}));
  assert.equal(bad.ok, false);
  assert.match(bad.problems[0], /dataset\.json: vocab_size/);
  const dtype = await checkDataset(
    makeDataset(SPEC, { 'train.tokens.npy': { dtype: '<f4', shape: [3], data: new Float32Array(3) }, 'val.tokens.npy': i32([1, 2, 3]) }),
  );
  assert.equal(dtype.ok, false);
  assert.match(dtype.problems.join('\n'), /train\.tokens\.npy: token ids must be uint16 or int32, found dtype <f4/);
  const missing = await checkDataset(join(root, 'nope'));
  assert.equal(missing.ok, false);
  assert.match(missing.problems[0], /does not exist/);
  const noSpec = await checkDataset(makeDataset(null, {}));
  assert.match(noSpec.problems[0], /dataset\.json is missing/);
});

test('motlab data: synth then check exit 0, a broken dataset exits 1, bad flags exit 2', async () => {
  const out = join(root, 'synth');
  const synth = await cli(['synth', '--out', out, '--tokens', '5000', '--seed', '2']);
  assert.equal(synth.code, 0, synth.err);
  assert.match(synth.out, /synthetic-tri/);
  const ok = await cli(['check', out, '--json']);
  assert.equal(ok.code, 0);
  const report = JSON.parse(ok.out);
  assert.equal(report.ok, true);
  assert.equal(report.splits[0].tokens, 5000);
  const broken = await cli(['check', makeDataset(SPEC, { 'train.tokens.npy': i32([1, 99]) })]);
  assert.equal(broken.code, 1);
  assert.match(broken.out, /NOT OK/);
  const unknown = await cli(['check', out, '--frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /Unknown option '--frobnicate'/);
  assert.equal((await cli(['synth', '--tokens', '5000'])).code, 2);
  assert.match((await cli(['synth', '--out', out, '--tokens', 'many'])).err, /--tokens must be an integer/);
  assert.match((await cli(['sing'])).err, /unknown data subcommand "sing"/);
  assert.match((await cli(['build', 'mnist'])).err, /unknown dataset "mnist"/);
});
