/**
 * End to end in Debian's Chromium: the Routing view of a tiny moe4x-topk run and the Towers view
 * of a tiny mot run (both trained here by the real `motlab train`, 4 steps, checkpoints at 2 and
 * 4) draw the expected heatmap cells and series, counted from the page; screenshots light and
 * dark in test-results/e2e/. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { synthData, trainTiny } from '../training/helpers.ts';
import { missing, SHOTS, useServerAndBrowser, waitUntil } from './harness.ts';

const e2e = useServerAndBrowser();

before(() => {
  if (missing) return;
  const data = join(e2e.workspace, 'synth-data');
  synthData(data, 5);
  for (const [config, name] of [
    ['moe4x-topk', 'tiny-moe'],
    ['mot', 'tiny-mot'],
  ])
    trainTiny(join(e2e.workspace, 'runs', name), { config, data, steps: 4, checkpointEvery: 2, evalEvery: 2 });
});

test(
  'the Routing view draws expert load, affinity and locality for a MoE run, light and dark',
  { skip: missing && 'no Chromium', timeout: 180_000 },
  async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await e2e.newPage(scheme);
      await page.goto(`${e2e.url}#/run/tiny-moe`);
      await page.getByTestId('link-routing').click();
      await page.waitForURL(/#\/run\/tiny-moe\/routing$/);
      await page.getByTestId('chart-affinity').waitFor({ timeout: 120_000 });
      const experts = 4;
      // Expert load: experts × 4 logged steps; affinity: experts × 3 modalities.
      assert.equal(await page.locator('[data-testid="chart-load"] [data-key^="cell:"]').count(), experts * 4);
      assert.equal(await page.locator('[data-testid="chart-affinity"] [data-key^="cell:"]').count(), experts * 3);
      assert.match((await page.getByTestId('mi').textContent()) ?? '', /MI \d\.\d{3} nats/);
      // Dropped table: 3 modalities + 4 position buckets.
      assert.equal(await page.locator('[data-testid="dropped-table"] tbody tr').count(), 7);
      await page.getByTestId('checkpoint-0').click();
      await waitUntil(
        'affinity redrawn',
        async () => (await page.locator('[data-testid="chart-affinity"] [data-key^="cell:"]').count()) === experts * 3,
      );
      await page.getByTestId('checkpoint-1').click();
      await page.screenshot({ path: join(SHOTS, `40-routing-${scheme}.png`), fullPage: true });
      await page.context().close();
    }
    assert.deepEqual(e2e.consoleErrors, []);
  },
);

test(
  'the Towers view draws drift heatmaps layer × checkpoint and per-tower gradient norms for a MoT run, light and dark',
  { skip: missing && 'no Chromium', timeout: 180_000 },
  async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await e2e.newPage(scheme);
      await page.goto(`${e2e.url}#/run/tiny-mot`);
      await page.getByTestId('link-towers').click();
      await page.waitForURL(/#\/run\/tiny-mot\/towers$/);
      await page.getByTestId('chart-grads').waitFor({ timeout: 120_000 });
      // Attention weights, FFN weights, FFN outputs × 3 tower pairs = 9 heatmaps of layers × 2 checkpoints.
      const charts = page.getByTestId('chart-drift');
      assert.equal(await charts.count(), 9);
      const cells = await page.locator('[data-testid="chart-drift"] [data-key^="cell:"]').count();
      const layers = cells / 9 / 2;
      assert.ok(Number.isInteger(layers) && layers >= 1, `${cells} drift cells`);
      // Tokens per tower: 3 components × 3 towers.
      assert.equal(await page.locator('[data-testid="tokens-table"] tbody tr').count(), 9);
      await page.getByTestId('metric-cosine').click();
      await waitUntil(
        'cosine drawn',
        async () => (await page.locator('[data-testid="chart-drift"] [data-key^="cell:"]').count()) === cells,
      );
      await page.getByTestId('metric-cka').click();
      await page.screenshot({ path: join(SHOTS, `41-towers-${scheme}.png`), fullPage: true });
      await page.context().close();
    }
    assert.deepEqual(e2e.consoleErrors, []);
  },
);
