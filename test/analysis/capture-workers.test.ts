/**
 * Feature capture on worker threads (docs/workers.md): the checkpoints of real tiny runs (MoT,
 * and MoE, whose passes hold one window each) captured on 2 workers give the very bytes of the
 * capture on this thread (the reference path, checked against PyTorch in test/model/capture.test.ts).
 * The capture starts on this thread while the workers start, so the pool's passes are also
 * checked on their own, against `captureRows` here, before and after new weights are published.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { capturePcaFeatures } from '../../src-main/analysis/pca-collect.ts';
import { initEngine } from '../../src-main/engine/engine.ts';
import { forwardPassWorkers } from '../../src-main/training/workers/count.ts';
import { WorkerPool } from '../../src-main/training/workers/pool.ts';
import { captureRows } from '../../src-main/model/capture.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import { initParams } from '../../src-main/model/mot.ts';
import { loadDataset } from '../../src-main/data/dataset.ts';
import type { CapturePass } from '../../src-main/training/workers/protocol.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { synthData, trainTiny } from '../training/helpers.ts';

const work = mkdtempSync(path.join(tmpdir(), 'motlab-capture-workers-'));
const data = path.join(work, 'data');
after(() => rmSync(work, { recursive: true, force: true }));

let mot = '';
let moe = '';
before(async () => {
  synthData(data, 5);
  mot = path.join(work, 'mot');
  moe = path.join(work, 'moe');
  trainTiny(mot, { data, steps: 4, checkpointEvery: 2 });
  trainTiny(moe, { config: 'moe4x', data, steps: 4, checkpointEvery: 2 });
  await initEngine('wasm');
});

/** The cached feature files of a capture with `workers`, from a clean cache. */
async function capture(runDir: string, workers: number): Promise<{ files: Map<string, Buffer>; workers: number; captured: number[] }> {
  rmSync(path.join(runDir, 'analyses'), { recursive: true, force: true });
  const result = await capturePcaFeatures({ runDir, probeTokens: 40, workers });
  const files = readdirSync(result.cacheDir)
    .filter((f) => f.endsWith('.f32'))
    .sort();
  return {
    files: new Map(files.map((f) => [f, readFileSync(path.join(result.cacheDir, f))])),
    workers: result.workers,
    captured: result.captured,
  };
}

for (const which of ['MoT', 'MoE'] as const) {
  test(`${which}: the capture on 2 workers writes the bytes of the capture on this thread`, async () => {
    const runDir = which === 'MoT' ? mot : moe;
    const one = await capture(runDir, 1);
    const two = await capture(runDir, 2);
    assert.equal(one.workers, 1);
    assert.equal(two.workers, 2);
    assert.deepEqual(two.captured, one.captured);
    // Two checkpoints: the first captured here while the workers start, the second on the workers.
    assert.equal(one.files.size, 2, `files ${[...one.files.keys()]}`);
    assert.deepEqual([...two.files.keys()], [...one.files.keys()]);
    for (const [name, bytes] of one.files) {
      assert.ok(
        bytes.some((b) => b !== 0),
        `${name} is all zeros`,
      );
      assert.ok(two.files.get(name)!.equals(bytes), `${name} differs`);
    }
  });
}

for (const preset of ['mot', 'moe4x'] as const) {
  test(`${preset}: capture passes on 2 workers give the rows captured on this thread, bit for bit, after new weights too`, async () => {
    const config = buildModelConfig(preset, 'tiny', (await loadDataset(data)).spec);
    const tokens = (await loadDataset(data)).splits.val!;
    const S = config.seq_len;
    const perPass = config.moe ? 1 : 3;
    const rng = new Rng(7);
    const passes: CapturePass[] = Array.from({ length: 6 }, (_, k) => {
      const windows = new Int32Array(perPass * S);
      for (let i = 0; i < windows.length; i++) windows[i] = tokens[k * perPass * S + i];
      const rows = 5;
      const window = Int32Array.from({ length: rows }, () => rng.int(perPass)).sort();
      return { windows, count: perPass, rows: { window, offset: Int32Array.from({ length: rows }, () => rng.int(S)) } };
    });
    const first = new Map(Object.entries(initParams(config, 1)));
    const second = new Map(Object.entries(initParams(config, 2)));
    const pool = await WorkerPool.start(2, 'wasm', config, first);
    try {
      for (const params of [first, second]) {
        pool.publishWeights(params);
        const got: Float32Array[][] = [];
        let next = 0;
        await pool.capture(
          passes,
          () => (next < passes.length ? next++ : null),
          async (index, layers) => void (got[index] = layers),
        );
        passes.forEach((pass, k) => {
          const want = captureRows(config, Object.fromEntries(params), pass.windows, pass.count, pass.rows);
          assert.equal(got[k].length, config.n_layers);
          want.forEach((layer, l) => {
            assert.equal(got[k][l].length, 5 * config.d_model);
            assert.ok(Buffer.from(got[k][l].buffer).equals(Buffer.from(layer.buffer)), `pass ${k}, layer ${l}`);
          });
        });
      }
    } finally {
      await pool.close();
      [...first.values(), ...second.values()].forEach((t) => t.dispose());
    }
  });
}

test('forward-pass workers: the number asked, at most half the passes, 1 on native engines', () => {
  assert.equal(forwardPassWorkers(2, 'wasm', 40), 2);
  assert.equal(forwardPassWorkers(4, 'cpu', 5), 2);
  assert.equal(forwardPassWorkers(4, 'wasm', 3), 1);
  assert.equal(forwardPassWorkers(4, 'tensorflow', 40), 1);
  assert.equal(forwardPassWorkers(1, 'wasm', 40), 1);
});
