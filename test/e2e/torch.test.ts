/**
 * End to end in Debian's Chromium (Playwright) against `motlab serve`: the new-run form offers
 * the torch engine (PyTorch found on this machine), a tiny run started with it trains in the
 * PyTorch trainer and its run page updates like any other run's (step counter, four loss curves),
 * and pause, resume and stop reach the trainer. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { torchAvailable } from '../training/helpers.ts';
import { missing, SHOTS, useServerAndBrowser, waitUntil } from './harness.ts';

const e2e = useServerAndBrowser();

async function stepShown(page: Page): Promise<number> {
  const text = (await page.getByTestId('step').textContent()) ?? '';
  return Number(text.split('/')[0].replace(/[^\d]/g, '') || '0');
}

const skip = missing ? 'no Chromium' : torchAvailable ? false : 'python3-torch is not installed (apt-get install python3-torch)';

test(
  'a torch run from the form: its run page updates; pause, resume and stop reach the PyTorch trainer',
  { skip, timeout: 300_000 },
  async () => {
    const page = await e2e.newPage('light');
    await page.goto(`${e2e.url}#/new`);
    await page.getByTestId('new-run-form').waitFor();
    await page.getByTestId('dataset').selectOption('example-synth');
    await page.getByTestId('preset').selectOption('mot');
    await page.getByTestId('size-tiny').click();
    await page.getByTestId('name').fill('torch-run');
    await page.getByTestId('steps').fill('4000');
    await page.getByRole('button', { name: /Advanced/ }).click();
    const torchOption = page.locator('[data-testid="engine"] option[value="torch"]');
    await torchOption.waitFor({ state: 'attached' });
    // Probing for PyTorch takes seconds (more on a busy machine): the option is enabled once it is found.
    await waitUntil('PyTorch is found', async () => !(await torchOption.isDisabled()), 180_000);
    assert.match((await page.getByTestId('torch-engine-note').textContent()) ?? '', /^torch: PyTorch \S+ on cpu/);
    await page.getByTestId('engine').selectOption('torch');
    await page.getByTestId('processes').fill('1');
    await page.screenshot({ path: join(SHOTS, 'torch-01-form.png') });
    await page.getByTestId('start').click();
    await page.waitForURL(/#\/run\/torch-run$/);

    await page.locator('[data-testid="run-status"] [data-status="running"]').waitFor({ timeout: 180_000 });
    await waitUntil('step ≥ 2 is shown', async () => (await stepShown(page)) >= 2, 180_000);
    const first = await stepShown(page);
    await waitUntil('the step advances', async () => (await stepShown(page)) > first, 120_000);
    await waitUntil('four loss curves are drawn', async () => (await page.locator('.spark path.line').count()) === 4);
    await page.getByText('engine torch').waitFor();
    await page.screenshot({ path: join(SHOTS, 'torch-02-run.png') });

    await page.getByTestId('pause').click();
    await page.locator('[data-testid="run-status"] [data-status="paused"]').waitFor({ timeout: 60_000 });
    const atPause = await stepShown(page);
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok((await stepShown(page)) <= atPause + 1, 'no steps while paused (one may finish)');
    await page.getByTestId('resume').click();
    await page.locator('[data-testid="run-status"] [data-status="running"]').waitFor({ timeout: 60_000 });
    await waitUntil('the step advances after resuming', async () => (await stepShown(page)) > atPause + 1, 120_000);

    await page.getByTestId('stop').click();
    await page.locator('[data-testid="run-status"] [data-status="stopped"]').waitFor({ timeout: 120_000 });
    await page.getByTestId('checkpoints').waitFor();
    await page.getByTestId('continue').waitFor();
    await page.screenshot({ path: join(SHOTS, 'torch-03-stopped.png'), fullPage: true });
    assert.deepEqual(e2e.consoleErrors, []);
    await page.context().close();
  },
);
