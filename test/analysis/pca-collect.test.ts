/**
 * Feature PCA across the checkpoints of a real tiny MoT run trained by the real CLI: aligned
 * bases never flip PC1 between consecutive checkpoints, the fixed basis reproduces the reference
 * checkpoint's projection (recomputed here by hand from the cached features), the capture cache is
 * reused when nothing changed and never when the probe positions did, and the CLI's JSON has the
 * documented shape.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { analyzeRunPca } from '../../src-main/analysis/pca-collect.ts';
import { initEngine } from '../../src-main/engine/engine.ts';
import { motlab, synthData, trainTiny } from '../training/helpers.ts';

const work = mkdtempSync(path.join(tmpdir(), 'motlab-pca-'));
const data = path.join(work, 'data');
const runDir = path.join(work, 'run');
const PROBE = 40;

before(async () => {
  synthData(data, 5);
  trainTiny(runDir, { data, steps: 30, checkpointEvery: 10 });
  await initEngine('wasm');
});
after(() => rmSync(work, { recursive: true, force: true }));

test('aligned mode: PC1 of consecutive checkpoints never flips; the cache is reused', async () => {
  const first = await analyzeRunPca({ runDir, basis: 'aligned', probeTokens: PROBE, components: 3 });
  assert.ok(first.checkpoints.length >= 3, `checkpoints ${first.checkpoints}`);
  assert.deepEqual(first.cache!.captured, first.checkpoints);
  for (const layer of first.layers) {
    const entries = first.entries.filter((e) => e.layer === layer);
    for (let i = 1; i < entries.length; i++) {
      const a = entries[i - 1].components[0];
      const b = entries[i].components[0];
      const cos = a.reduce((s, v, j) => s + v * b[j], 0);
      assert.ok(cos > 0, `layer ${layer}: PC1 flips between steps ${entries[i - 1].checkpoint} and ${entries[i].checkpoint} (cos ${cos})`);
    }
  }
  const files = readdirSync(first.cache!.dir).filter((f) => f.endsWith('.f32'));
  const mtimes = files.map((f) => statSync(path.join(first.cache!.dir, f)).mtimeMs);
  const second = await analyzeRunPca({ runDir, basis: 'aligned', probeTokens: PROBE, components: 3 });
  assert.deepEqual(second.cache!.captured, []);
  assert.deepEqual(second.cache!.reused, first.checkpoints);
  assert.deepEqual(
    files.map((f) => statSync(path.join(first.cache!.dir, f)).mtimeMs),
    mtimes,
  );
  assert.deepEqual(Array.from(second.entries[0].projection), Array.from(first.entries[0].projection));
});

test('fixed mode applies the reference basis, reproducing its projection exactly', async () => {
  const result = await analyzeRunPca({ runDir, basis: 'fixed', probeTokens: PROBE, components: 3, reference: 10 });
  const n = result.entries[0].n;
  const d = result.entries[0].d;
  const L = result.layers.length;
  for (const layer of result.layers) {
    const entries = result.entries.filter((e) => e.layer === layer);
    const ref = entries.find((e) => e.checkpoint === 10)!;
    for (const e of entries) assert.deepEqual(e.components, ref.components, 'one basis for every checkpoint');
    // By hand: (x − mean)·componentsᵀ on the cached features of every checkpoint.
    for (const e of entries) {
      const bytes = readFileSync(path.join(result.cache!.dir, `features-step-${e.checkpoint}.f32`));
      assert.equal(bytes.byteLength, L * n * d * 4);
      const x = new Float32Array(bytes.buffer, bytes.byteOffset + layer * n * d * 4, n * d);
      for (let i = 0; i < n; i++)
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += (x[i * d + j] - ref.mean[j]) * ref.components[c][j];
          assert.ok(
            Math.abs(s - e.projection[i * 3 + c]) < 1e-4 * (1 + Math.abs(s)),
            `layer ${layer} step ${e.checkpoint} row ${i} pc ${c}`,
          );
        }
    }
  }
});

test('motlab analyze pca --json: one entry per layer and checkpoint, unit components, probe record', () => {
  const r = motlab([
    'analyze',
    'pca',
    '--run',
    runDir,
    '--checkpoints',
    '10,30',
    '--layers',
    '0',
    '--components',
    '2',
    '--probe-tokens',
    String(PROBE),
    '--json',
    '--engine',
    'wasm',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.entries.length, 2);
  assert.deepEqual(
    out.entries.map((e: { layer: number; checkpoint: number }) => [e.layer, e.checkpoint]),
    [
      [0, 10],
      [0, 30],
    ],
  );
  for (const e of out.entries) {
    assert.equal(e.explained_variance_ratio.length, 2);
    assert.equal(e.components.length, 2);
    for (const row of e.components) assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-9);
    assert.equal(e.mean.length, e.components[0].length);
    for (const key of ['probe_accuracy', 'silhouette', 'between_within_ratio']) assert.equal(typeof e.separability[key], 'number', key);
  }
  assert.equal(out.probe.seed, 0);
  for (const c of out.probe.counts) assert.match(c.label, /^\d+ of \d+$/);
  const bad = motlab(['analyze', 'pca', '--run', runDir, '--checkpoints', '999']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no checkpoint at step 999/);
});

test('the cache follows the probe positions: a split rewritten with its size and time kept is captured anew', async () => {
  // A whole-second modification time, which utimes can put back exactly.
  const file = path.join(data, 'val.tokens.npy');
  const time = 1_700_000_000;
  utimesSync(file, time, time);
  const first = await analyzeRunPca({ runDir, probeTokens: PROBE, components: 3 });
  // The validation split's tokens reversed in place, its modification time put back: the same
  // size and time, other tokens at every position, hence other probe positions.
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt16LE(8);
  const itemSize = Number(/'descr': '[<|]?[iu](\d)'/.exec(bytes.subarray(10, 10 + headerLength).toString('latin1'))![1]);
  const body = bytes.subarray(10 + headerLength);
  const reversed = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i += itemSize) body.copy(reversed, body.length - i - itemSize, i, i + itemSize);
  writeFileSync(file, Buffer.concat([bytes.subarray(0, 10 + headerLength), reversed]));
  utimesSync(file, time, time);
  assert.equal(statSync(file).mtimeMs, time * 1000, 'the modification time is put back');

  const second = await analyzeRunPca({ runDir, probeTokens: PROBE, components: 3 });
  assert.notDeepEqual(Array.from(second.points.splitPosition!), Array.from(first.points.splitPosition!));
  assert.notEqual(second.cache!.dir, first.cache!.dir);
  assert.deepEqual(second.cache!.captured, second.checkpoints, 'no features captured at the old positions are reused');
});
