/**
 * End to end in Debian's Chromium (Playwright) against `motlab serve`: create a run from the
 * form, watch its progress update, pause/resume and stop it, reopen the runs list and see its
 * final state. Screenshots go to test-results/e2e/ (kept as CI artifacts). Any console error
 * (which includes Content-Security-Policy violations) fails the test. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { UI_COLOURS } from '../../src-main/common/palette.ts';
import { missing, SHOTS, useServerAndBrowser, waitUntil } from './harness.ts';

const e2e = useServerAndBrowser();
const newPage = (colorScheme: 'light' | 'dark') => e2e.newPage(colorScheme);

/** `#rrggbb` as getComputedStyle writes it. */
const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

async function background(page: Page): Promise<string> {
  type Win = { getComputedStyle(e: unknown): { backgroundColor: string } };
  return page.locator('body').evaluate((el) => (globalThis as unknown as Win).getComputedStyle(el).backgroundColor);
}

const fourCurves = (page: Page) => async () => (await page.locator('.spark path.line').count()) === 4;

async function stepShown(page: Page): Promise<number> {
  const text = (await page.getByTestId('step').textContent()) ?? '';
  return Number(text.split('/')[0].replace(/[^\d]/g, '') || '0');
}

test(
  'create a run from the form, watch it, stop it, see it in the runs list',
  { skip: missing && 'no Chromium', timeout: 240_000 },
  async () => {
    const page = await newPage('light');
    await page.goto(e2e.url);
    await page.getByText('No runs yet').waitFor();
    await page.screenshot({ path: join(SHOTS, '01-empty-workspace.png') });

    // The form validates with the API's schema before submitting.
    await page.getByTestId('new-run').click();
    await page.getByTestId('new-run-form').waitFor();
    await page.getByTestId('dataset').selectOption('example-synth');
    await page.getByTestId('preset').selectOption('mot');
    await page.getByTestId('size-tiny').click();
    await page.getByTestId('name').fill('e2e run');
    await page.getByTestId('steps').fill('0');
    await page.getByText(/use 1–80 letters/).waitFor();
    await page.getByText('at least 1 (steps)').waitFor();
    await page.screenshot({ path: join(SHOTS, '02-form-invalid.png') });
    await page.getByTestId('start').click();
    assert.match(page.url(), /#\/new$/, 'an invalid form is not submitted');

    await page.getByTestId('name').fill('e2e-run');
    await page.getByTestId('steps').fill('4000');
    await page.screenshot({ path: join(SHOTS, '03-form.png') });
    await page.getByTestId('start').click();
    await page.waitForURL(/#\/run\/e2e-run$/);

    // Live progress: the step counter advances and the per-modality loss cards fill in.
    await page.locator('[data-testid="run-status"] [data-status="running"]').waitFor({ timeout: 120_000 });
    await waitUntil('step ≥ 2 is shown', async () => (await stepShown(page)) >= 2, 120_000);
    const first = await stepShown(page);
    await waitUntil('the step advances', async () => (await stepShown(page)) > first);
    for (const m of ['all', 'text', 'image', 'speech']) await page.locator(`[data-modality="${m}"]`).waitFor();
    await waitUntil('four loss curves are drawn', fourCurves(page));
    assert.match((await page.getByTestId('loss-text').textContent()) ?? '', /^\d+\.\d+$/);
    await page.screenshot({ path: join(SHOTS, '04-run-progress.png') });

    // Pause and resume from the page.
    await page.getByTestId('pause').click();
    await page.locator('[data-testid="run-status"] [data-status="paused"]').waitFor();
    await page.getByTestId('resume').click();
    await page.locator('[data-testid="run-status"] [data-status="running"]').waitFor();

    // Stop: the run writes a checkpoint and ends as 'stopped'.
    await page.getByTestId('stop').click();
    await page.locator('[data-testid="run-status"] [data-status="stopped"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('checkpoints').waitFor();
    const finalStep = await stepShown(page);
    assert.ok(finalStep > first, `final step ${finalStep} after first seen ${first}`);
    await page.getByTestId('continue').waitFor();
    await page.screenshot({ path: join(SHOTS, '05-run-stopped.png'), fullPage: true });

    // Reopen: a fresh page (as after closing the window) lists the run in its final state.
    await page.context().close();
    const again = await newPage('light');
    await again.goto(e2e.url);
    const row = again.locator('tr[data-run="e2e-run"]');
    await row.waitFor();
    await row.locator('[data-status="stopped"]').waitFor();
    assert.match((await row.locator('td.step').textContent()) ?? '', new RegExp(`^${finalStep.toLocaleString('en-US')}\\s*/\\s*4,000`));
    assert.equal(await row.locator('.chip').count(), 4);
    await again.screenshot({ path: join(SHOTS, '06-runs-list.png') });

    // The run page in the dark theme (the OS preference is followed).
    const dark = await newPage('dark');
    await dark.goto(`${e2e.url}#/run/e2e-run`);
    await dark.locator('[data-testid="run-status"] [data-status="stopped"]').waitFor();
    await waitUntil('four loss curves are drawn (dark)', fourCurves(dark));
    assert.equal(await background(dark), rgb(UI_COLOURS.dark.bg));
    await dark.screenshot({ path: join(SHOTS, '07-run-dark.png'), fullPage: true });

    // The ◐ button overrides the OS: system (dark here) → light → dark → system.
    const themeButton = dark.getByRole('button', { name: /^Theme:/ });
    for (const [label, colour] of [
      ['light', UI_COLOURS.light.bg],
      ['dark', UI_COLOURS.dark.bg],
      ['system', UI_COLOURS.dark.bg],
    ] as const) {
      await themeButton.click();
      await dark.getByRole('button', { name: `Theme: ${label}` }).waitFor();
      assert.equal(await background(dark), rgb(colour), `theme ${label}`);
    }
    await dark.context().close();
    await again.context().close();

    // Every view in both themes, each with the palette's page background.
    for (const theme of ['light', 'dark'] as const) {
      const page = await newPage(theme);
      for (const [view, hash, ready] of [
        ['runs', '#/', '[data-testid="runs-table"]'],
        ['new-run', '#/new', '[data-testid="browse-dataset"]'],
        ['run', '#/run/e2e-run', '[data-testid="checkpoints"]'],
        ['datasets', '#/datasets/fashion-tri', '[data-testid="doc-spectrogram"]'],
      ] as const) {
        await page.goto(`${e2e.url}${hash}`);
        await page.locator(ready).first().waitFor();
        assert.equal(await background(page), rgb(UI_COLOURS[theme].bg), `${view} (${theme})`);
        await page.screenshot({ path: join(SHOTS, `view-${view}-${theme}.png`), fullPage: view !== 'datasets' });
      }
      await page.context().close();
    }

    assert.deepEqual(e2e.consoleErrors, [], 'no console errors or CSP violations');
  },
);
