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
  // In-process first: the pool takes each task's features (transferred) until it hands them back.
  const expected = tasks.map((task) => fitAndSeparate(task));
  const copy = (task: (typeof tasks)[number]) => ({ ...task, x: task.x.slice() });
  const pool = new PcaFitPool(2);
  try {
    const [results, failure] = await Promise.all([
      Promise.all(tasks.map((task) => pool.fit(copy(task)))),
      pool.fit({ ...copy(tasks[0]), labels: new Int32Array(tasks[0].n) }).catch((e: unknown) => e),
    ]);
    results.forEach(({ x, ...result }, i) => {
      assert.deepStrictEqual(result, expected[i], `fit ${i}`);
      assert.deepStrictEqual(x, tasks[i].x, `fit ${i} hands its features back`);
    });
    assert.ok(failure instanceof MotlabError && failure.code === 'invalid_request', String(failure));
    assert.match((failure as Error).message, /at least two modalities/);
    const { x: _, ...again } = await pool.fit(copy(tasks[2]));
    assert.deepStrictEqual(again, expected[2], 'the pool still works after a failed fit');

    // Features handed over are detached until they come back: a second use is refused, not a hang.
    const handed = copy(tasks[1]);
    const first = pool.fit(handed);
    await assert.rejects(pool.fit(handed), /handed to another fit already/);
    await first;
    const inside = new Float32Array(tasks[1].x.length + 4);
    inside.set(tasks[1].x, 4);
    await assert.rejects(pool.fit({ ...tasks[1], x: inside.subarray(4) }), /must own their whole buffer/);
  } finally {
    await pool.close();
  }
});
