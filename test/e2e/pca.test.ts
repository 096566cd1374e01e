/**
 * End to end in Debian's Chromium: the PCA explorer on a real tiny run trained by the CLI in the
 * test's workspace draws one point per probe token, its slider changes the checkpoint, hovering a
 * point shows that point's token (checked against the API's answer), and the grid has rows ×
 * columns panels; screenshots light and dark in test-results/e2e/. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PcaAnalysis } from '../../src-main/common/api/types.ts';
import { synthData, trainTiny } from '../training/helpers.ts';
import { missing, SHOTS, useServerAndBrowser, waitUntil } from './harness.ts';

const e2e = useServerAndBrowser();
const PROBE = 30;

test('the PCA explorer: points, slider, hover, grid, in light and dark', { skip: missing && 'no Chromium', timeout: 400_000 }, async () => {
  const data = join(e2e.workspace, 'synth');
  synthData(data, 5);
  const run = join(e2e.workspace, 'runs', 'tiny');
  trainTiny(run, { data, steps: 20, checkpointEvery: 10 });

  for (const scheme of ['light', 'dark'] as const) {
    const page = await e2e.newPage(scheme);
    await page.goto(`${e2e.url}#/pca/tiny`);
    await page.getByTestId('pca-probe-tokens').fill(String(PROBE));
    await page.getByTestId('pca-run-analysis').click();
    const cloud = page.locator('[data-testid="pca-scatter"] [data-points]').first();
    await waitUntil('the scatter is drawn', async () => (await cloud.count()) > 0, 200_000);
    const points = Number(await cloud.getAttribute('data-points'));
    const response = await fetch(new URL('api/analyzePca', e2e.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ run: 'tiny', probeTokens: PROBE }),
    });
    const analysis = ((await response.json()) as { result: PcaAnalysis }).result;
    const expected = analysis.points.modality.length;
    assert.equal(points, expected, 'one point per probe token');
    assert.ok(expected >= 2 * PROBE);

    // Slider: the last checkpoint first, then the first.
    assert.equal(await page.getByTestId('pca-checkpoint').textContent(), `step ${analysis.checkpoints.at(-1)}`);
    await page.getByTestId('pca-slider').fill('0');
    assert.equal(await page.getByTestId('pca-checkpoint').textContent(), `step ${analysis.checkpoints[0]}`);
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getByTestId('pca-checkpoint').textContent(), `step ${analysis.checkpoints[1]}`);

    // Hover the point at index 0 of layer 0 at that checkpoint: its screen position from the plot frame.
    const panel = analysis.panels.find((p) => p.layer === 0 && p.checkpoint === analysis.checkpoints[1])!;
    {
      const frame = JSON.parse((await page.getByTestId('pca-scatter').getAttribute('data-frame'))!);
      const svgBox = (await page.locator('[data-testid="pca-scatter"] svg').first().boundingBox())!;
      const scale = svgBox.width / frame.chartWidth;
      const xd = frame.xDomain;
      const yd = frame.yDomain;
      const px = svgBox.x + (frame.x + ((panel.x[0] - xd[0]) / (xd[1] - xd[0])) * frame.width) * scale;
      const py = svgBox.y + (frame.y + (1 - (panel.y[0] - yd[0]) / (yd[1] - yd[0])) * frame.height) * scale;
      await page.mouse.move(px, py);
      await waitUntil('the hover card shows', async () => (await page.getByTestId('pca-hover').count()) > 0, 10_000);
      const token = Number(await page.getByTestId('pca-hover-token').textContent());
      // The nearest point may be another one on top of it; it must have the same coordinates then.
      const same = analysis.points
        .token!.map((t: number, i: number) => ({ t, i }))
        .filter(
          ({ i }: { i: number }) =>
            Math.abs(panel.x[i] - panel.x[0]) < 1e-3 * (xd[1] - xd[0]) && Math.abs(panel.y[i] - panel.y[0]) < 1e-3 * (yd[1] - yd[0]),
        )
        .map(({ t }) => t);
      assert.ok(same.includes(token), `hovered token ${token}, expected one of ${same}`);
    }
    await page.screenshot({ path: join(SHOTS, `pca-${scheme}.png`), fullPage: true });

    await page.getByTestId('pca-mode').selectOption('grid');
    const grid = page.getByTestId('pca-grid');
    await waitUntil('the grid is drawn', async () => (await grid.locator('[data-points]').count()) > 0, 20_000);
    const rows = analysis.layers.length;
    const columns = analysis.checkpoints.length;
    assert.equal(await grid.locator('[data-points]').count(), rows * columns);
    await page.screenshot({ path: join(SHOTS, `pca-grid-${scheme}.png`), fullPage: true });
    await page.context().close();
  }
  assert.deepEqual(e2e.consoleErrors, []);
});
