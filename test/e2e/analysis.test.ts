/**
 * The Losses and Step matching views end to end, in Debian's Chromium against `motlab serve` on a
 * workspace with tiny dense, MoT and MoE runs trained here with the real CLI: from the Runs page
 * to the losses of the ticked runs; the series drawn (counted from the page's line marks); the
 * read-out of every run under the pointer (against the API's numbers); zoom and pan with the
 * wheel, the mouse and the keyboard re-reading the visible range; the compare layout; a saved
 * view restoring the same view in a fresh browser, and the last view coming back on relaunch; the
 * step-matching slopes shown equal to `motlab analyze step-match`'s. Screenshots light and dark
 * go to test-results/e2e/. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { createApiClient, httpTransport } from '../../src-main/common/api/client.ts';
import type { LossCurvesReport, StepMatchReport } from '../../src-main/common/api/analysis.ts';
import { lossesViewSchema } from '../../src-main/common/views.ts';
import { TINY_COMPARISON, trainComparisonRuns } from '../analysis/tiny-run.ts';
import { MOTLAB } from '../training/helpers.ts';
import { missing, SHOTS, useServerAndBrowser, waitUntil } from './harness.ts';

const RUNS: string[] = TINY_COMPARISON.map((r) => r.name);
const MODALITIES = ['all', 'text', 'image', 'speech'];
const e2e = useServerAndBrowser({ prepare: (workspace) => void trainComparisonRuns(join(workspace, 'runs')) });
const api = () => createApiClient(httpTransport({ baseUrl: e2e.url.replace(/\/$/, '') }));

/** The data-key of every line the chart under `root` draws for a run's curve. */
async function curveKeys(page: Page, root = '[data-testid="losses-chart"]', runs: readonly string[] = RUNS): Promise<string[]> {
  const keys = await page
    .locator(`${root} [data-mark="line"][data-key]`)
    .evaluateAll((paths) => paths.map((p) => p.getAttribute('data-key')!));
  return keys.filter((k) => runs.some((r) => k.startsWith(`${r} · `))).sort();
}

const expectedKeys = (runs: readonly string[], kinds: readonly string[]) =>
  runs
    .flatMap((r) => MODALITIES.flatMap((m) => kinds.map((k) => (k === 'val' ? `${r} · ${m} · validation:raw` : `${r} · ${m}:${k}`))))
    .sort();

function motlab(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [MOTLAB, ...args], { maxBuffer: 1 << 26 }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr)) : resolve(stdout),
    ),
  );
}

/** The page's address query as an object. */
const queryOf = (page: Page) => Object.fromEntries(new URLSearchParams(new URL(page.url()).hash.split('?')[1] ?? ''));

test(
  'Losses: runs from the Runs page, every series drawn, a read-out of every run, zoom and pan, compare, saved views',
  { skip: missing && 'no Chromium', timeout: 300_000 },
  async () => {
    const page = await e2e.newPage('light');
    await page.goto(e2e.url);
    for (const run of RUNS) await page.getByTestId(`select-${run}`).check();
    await page.getByTestId('compare-losses').click();
    await page.waitForURL(/#\/losses\?runs=dense%2Cmot%2Cmoe$/);

    // Validation (the default): one line with markers per run and modality.
    await waitUntil('the validation curves are drawn', async () => (await curveKeys(page)).length === 12);
    assert.deepEqual(await curveKeys(page), expectedKeys(RUNS, ['val']));
    // Both: training raw and smoothed lines as well.
    await page.getByRole('radio', { name: 'Both' }).click();
    await waitUntil('training and validation curves are drawn', async () => (await curveKeys(page)).length === 36);
    assert.deepEqual(await curveKeys(page), expectedKeys(RUNS, ['raw', 'smoothed', 'val']));
    await page.waitForURL(/split=both/);

    // The read-out under the pointer: every run's training and validation loss at that step, as the API has them.
    const report: LossCurvesReport = await api().getLossCurves({ runs: RUNS, split: 'both', buckets: 1000 });
    const chart = page.getByTestId('losses-chart');
    const frame = (await chart.locator('svg').first().boundingBox())!;
    // The "all" panel is the first (top left); its middle is near step 10.
    await page.mouse.move(frame.x + frame.width * 0.25, frame.y + frame.height * 0.3, { steps: 4 });
    const readout = page.getByTestId('readout');
    await readout.waitFor();
    const rows = await readout
      .locator('tr[data-readout]')
      .evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-readout')!, ...[...tr.querySelectorAll('td')].slice(1).map((td) => td.textContent!.trim())]),
      );
    assert.equal(rows.length, RUNS.length * 2, `a row per run and split: ${JSON.stringify(rows)}`);
    for (const [key, label, step, loss] of rows) {
      const [run, split] = key.split(':');
      assert.ok(label.startsWith(run));
      const series = report.series.find((s) => s.run === run && s.split === split && s.modality === 'all')!;
      const i = series.steps.indexOf(Number(step));
      assert.ok(i >= 0, `${key}: step ${step} is one of the curve's`);
      const value = series.smoothed[i]!;
      assert.equal(loss, value >= 10 ? value.toFixed(2) : value.toFixed(3), `${key} at step ${step}`);
    }
    await page.screenshot({ path: join(SHOTS, 'losses-readout-light.png') });

    // The wheel zooms about the pointer; the view re-reads the visible range at full resolution.
    await page.mouse.wheel(0, -600);
    await waitUntil('the zoom is in the address', async () => 'xRange' in queryOf(page));
    const zoomed = JSON.parse(queryOf(page).xRange) as [number, number];
    assert.ok(zoomed[0] > 0 && zoomed[1] < 20 && zoomed[1] - zoomed[0] < 20, `zoomed to ${zoomed}`);
    const status = page.getByTestId('status');
    await waitUntil('only the zoomed range is read', async () => {
      const m = /of ([\d,]+) points/.exec((await status.textContent()) ?? '');
      return m !== null && Number(m[1].replace(/,/g, '')) < report.series.reduce((n, s) => n + s.fullPoints, 0);
    });
    // A drag to the right shows earlier steps.
    await page.mouse.move(frame.x + frame.width * 0.25, frame.y + frame.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(frame.x + frame.width * 0.3, frame.y + frame.height * 0.3, { steps: 5 });
    await page.mouse.up();
    await waitUntil('the pan is in the address', async () => JSON.parse(queryOf(page).xRange ?? '[0,0]')[0] < zoomed[0]);
    // Keyboard: 0 resets the zoom, + zooms in, → pans, Escape hides the read-out.
    await chart.focus();
    await page.keyboard.press('0');
    await waitUntil('the zoom is reset', async () => !('xRange' in queryOf(page)));
    await page.keyboard.press('+');
    await page.keyboard.press('ArrowRight');
    await waitUntil('the keyboard zoomed and panned', async () => 'xRange' in queryOf(page));
    await page.keyboard.press('Shift+ArrowRight');
    await readout.waitFor();
    // Escape cancels a pending read first (if one is on its way), then hides the read-out.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await readout.waitFor({ state: 'detached' });
    await page.getByTestId('reset-zoom').click();

    // Compare: two runs side by side, one chart per modality each, the same axes.
    await page.getByTestId('layout-compare').click();
    await page.getByTestId('compare').waitFor();
    for (const run of ['dense', 'mot']) {
      for (const m of MODALITIES) {
        const keys = await curveKeys(page, `[data-testid="compare-${run}-${m}"]`);
        assert.deepEqual(keys, [`${run} · ${m} · validation:raw`, `${run} · ${m}:raw`, `${run} · ${m}:smoothed`].sort());
      }
    }
    const axes = await page
      .locator('[data-testid^="compare-"][data-testid$="-text"] text[data-key="tick-y"]')
      .evaluateAll((ts) => ts.map((t) => t.textContent));
    assert.deepEqual(axes.slice(0, axes.length / 2), axes.slice(axes.length / 2), 'linked y axes');
    await page.waitForURL(/compare=dense%2Cmot/);
    await page.screenshot({ path: join(SHOTS, 'losses-compare-light.png'), fullPage: true });

    // Save the view; a fresh browser (no storage) opening the file shows the same view.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('save-view').click()]);
    assert.equal(download.suggestedFilename(), 'losses.view.json');
    const saved = join(SHOTS, 'losses.view.json');
    await download.saveAs(saved);
    const state = lossesViewSchema.parse(JSON.parse(readFileSync(saved, 'utf8')));
    assert.deepEqual([state.runs, state.split, state.compare], [RUNS, 'both', ['dense', 'mot']]);
    const address = page.url().split('#')[1];

    const fresh = await e2e.newPage('dark');
    await fresh.goto(`${e2e.url}#/losses`);
    await fresh.getByTestId('open-view-file').setInputFiles(saved);
    await fresh.getByTestId('compare').waitFor();
    await waitUntil('the saved view is shown', async () => fresh.url().split('#')[1] === address);
    for (const m of MODALITIES)
      await waitUntil(
        `mot's ${m} curves in the restored view`,
        async () => (await curveKeys(fresh, `[data-testid="compare-mot-${m}"]`)).length === 3,
      );
    await fresh.screenshot({ path: join(SHOTS, 'losses-compare-dark.png'), fullPage: true });

    // Relaunch: the Losses view without an address comes back as it was left.
    await page.goto(`${e2e.url}#/`);
    await page.getByTestId('nav-losses').click();
    await page.getByTestId('compare').waitFor();
    await waitUntil('the last view is restored', async () => page.url().split('#')[1] === address);

    await page.getByTestId('layout-compare').locator('xpath=..').getByRole('radio', { name: 'Overlay' }).click();
    await page.getByRole('radio', { name: 'Training' }).click();
    await page.getByTestId('x-flops').click();
    await waitUntil('training curves on FLOPs', async () => (await curveKeys(page)).length === 24);
    await page.screenshot({ path: join(SHOTS, 'losses-flops-light.png'), fullPage: true });
    // Panels: turning a modality off drops its panel's curves; turning it on brings them back.
    await page.getByRole('checkbox', { name: 'speech' }).uncheck();
    await waitUntil('the speech panel is hidden', async () => (await curveKeys(page)).length === 18);
    assert.ok((await curveKeys(page)).every((k) => !k.includes('speech')));
    await page.getByRole('checkbox', { name: 'speech' }).check();
    await waitUntil('the speech panel is back', async () => (await curveKeys(page)).length === 24);
    await fresh.goto(`${e2e.url}#/losses?runs=dense,mot,moe&split=both&x=tokens`);
    await waitUntil('the dark overlay is drawn', async () => (await curveKeys(fresh)).length === 36);
    await fresh.screenshot({ path: join(SHOTS, 'losses-dark.png'), fullPage: true });
    await page.context().close();
    await fresh.context().close();
    assert.deepEqual(e2e.consoleErrors, [], 'no console errors or CSP violations');
  },
);

test('Step matching: the slopes shown are motlab analyze step-match’s', { skip: missing && 'no Chromium', timeout: 120_000 }, async () => {
  const runs = join(e2e.workspace, 'runs');
  for (const [x, theme] of [
    ['steps', 'light'],
    ['wall', 'dark'],
  ] as const) {
    const cli = JSON.parse(
      await motlab([
        'analyze',
        'step-match',
        '--reference',
        join(runs, 'dense'),
        '--run',
        join(runs, 'mot'),
        '--run',
        join(runs, 'moe'),
        '--x',
        x,
        '--json',
      ]),
    ) as StepMatchReport;
    const page = await e2e.newPage(theme);
    await page.goto(`${e2e.url}#/step-match?reference=dense&runs=mot,moe&x=${x}`);
    const table = page.getByTestId('step-match-table');
    await table.waitFor();
    const shown = await table
      .locator('tr[data-run]')
      .evaluateAll((trs) =>
        trs.map((tr) => [
          tr.getAttribute('data-run'),
          tr.getAttribute('data-modality'),
          tr.querySelector('[data-slope]')!.getAttribute('data-slope'),
        ]),
      );
    assert.deepEqual(
      shown,
      cli.rows.map((r) => [r.run, r.modality, String(r.slope)]),
    );
    // Each panel's legend names every run's slope as the table does.
    const legend = await page
      .locator('[data-testid="step-match-chart"] text[data-key^="legend:"]')
      .evaluateAll((ts) => ts.map((t) => t.getAttribute('data-key')!.slice('legend:'.length)));
    for (const r of cli.rows.filter((r) => r.slope !== null))
      assert.ok(legend.includes(`${r.run}: s = ${r.slope!.toFixed(3)}`), `${r.run} ${r.modality}`);
    await page.screenshot({ path: join(SHOTS, `step-match-${x}-${theme}.png`), fullPage: true });
    await page.context().close();
  }
  assert.deepEqual(e2e.consoleErrors, [], 'no console errors or CSP violations');
});

test('Losses while a run trains: the curves extend live', { skip: missing && 'no Chromium', timeout: 180_000 }, async () => {
  const client = api();
  const catalog = await client.getCatalog({});
  await client.startRun({ name: 'live', preset: 'mot', size: 'tiny', dataset: catalog.defaults.dataset!, steps: 80, evalEvery: 20 });
  const page = await e2e.newPage('light');
  await page.goto(`${e2e.url}#/losses?runs=live&split=train`);
  const drawn = async () =>
    Number(/^([\d,]+) of/.exec((await page.getByTestId('status').textContent())?.trim() ?? '')?.[1].replace(/,/g, '') ?? 0);
  await waitUntil('the first steps are drawn', async () => (await drawn()) > 0, 120_000);
  const first = await drawn();
  await waitUntil('more steps are drawn as the run trains', async () => (await drawn()) >= first + 8 * 4, 120_000);
  assert.deepEqual(await curveKeys(page, undefined, ['live']), expectedKeys(['live'], ['raw', 'smoothed']));
  await page.screenshot({ path: join(SHOTS, 'losses-live-light.png') });
  await client.stopRun({ run: 'live' }).catch(() => undefined);
  await page.context().close();
  client.transport.close?.();
  assert.deepEqual(e2e.consoleErrors, [], 'no console errors or CSP violations');
});
