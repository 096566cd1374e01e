/**
 * The PCA fit workers (analysis/pca-fit-pool.ts) give exactly what the same fits give in-process,
 * whichever worker takes which fit; a fit that fails reports its own error and leaves the pool
 * working.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitAndSeparate, PcaFitPool } from '../../src-main/analysis/pca-fit-pool.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { plantedModalities } from './features.ts';

test('fits on worker threads equal the same fits in-process; a failing fit rejects alone', async () => {
  const d = 16;
  const tasks = [1, 2, 3].map((seed) => {
    const { x, labels, n } = plantedModalities(seed, 120, 3, d, seed);
    return { x, n, d, k: 10, labels, seed };
  });
  const pool = new PcaFitPool(2);
  try {
    const [results, failure] = await Promise.all([
      Promise.all(tasks.map((task) => pool.fit(task))),
      pool.fit({ ...tasks[0], labels: new Int32Array(tasks[0].n) }).catch((e: unknown) => e),
    ]);
    results.forEach((result, i) => assert.deepStrictEqual(result, fitAndSeparate(tasks[i]), `fit ${i}`));
    assert.ok(failure instanceof MotlabError && failure.code === 'invalid_request', String(failure));
    assert.match((failure as Error).message, /at least two modalities/);
    assert.deepStrictEqual(await pool.fit(tasks[2]), fitAndSeparate(tasks[2]), 'the pool still works after a failed fit');
  } finally {
    await pool.close();
  }
});
