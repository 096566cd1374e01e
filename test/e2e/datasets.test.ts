/**
 * End to end in Debian's Chromium: the new-run form defaults to fashion-tri, and the Datasets view shows the built-in fashion-tri dataset
 * (token counts per modality, vocabulary histograms, documents as caption + picture +
 * spectrogram), pages forward with the button and the arrow keys, and looks right in the light
 * and dark themes (screenshots in test-results/e2e/). Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { missing, ROOT, SHOTS, useServerAndBrowser, waitUntil } from './harness.ts';

const e2e = useServerAndBrowser();
const stats = JSON.parse(readFileSync(join(ROOT, 'assets', 'datasets', 'fashion-tri', 'dataset.json'), 'utf8')).stats as Record<
  string,
  Record<string, number>
>;

const firstIndex = async (page: Page) => Number(await page.getByTestId('document').first().getAttribute('data-index'));

/** Some pixel of the canvas is not blank (the picture or spectrogram was drawn). */
async function drawn(page: Page, testId: string): Promise<boolean> {
  const canvas = page.getByTestId(testId).first();
  return canvas.evaluate((el) => {
    const c = el as unknown as {
      width: number;
      height: number;
      getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
    };
    const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 0) return true;
    return false;
  });
}

test(
  'the Datasets view shows fashion-tri decoded, pages forward, in light and dark',
  { skip: missing && 'no Chromium', timeout: 120_000 },
  async () => {
    const page = await e2e.newPage('light');
    // The new-run form starts on fashion-tri (the example workspace's own dataset is an extra).
    await page.goto(`${e2e.url}#/new`);
    await page.getByTestId('browse-dataset').waitFor();
    assert.equal(await page.getByTestId('dataset').inputValue(), 'fashion-tri');
    await page.getByTestId('nav-datasets').click();
    await page.waitForURL(/#\/datasets$/);

    // fashion-tri is the default; its summary shows the token counts of dataset.json's stats.
    await page.getByTestId('dataset-summary').waitFor();
    assert.equal(await page.getByTestId('dataset-picker').inputValue(), 'fashion-tri');
    await page.getByTestId('check-ok').waitFor();
    for (const split of ['train', 'val'])
      for (const m of ['text', 'image', 'speech']) {
        const cell = (await page.getByTestId(`count-${split}-${m}`).textContent()) ?? '';
        assert.match(cell, new RegExp(`^\\s*${stats[split][m].toLocaleString('en-US')}\\s`), `${split} ${m}: ${cell}`);
      }
    for (const m of ['text', 'image', 'speech'])
      assert.ok((await page.locator(`[data-testid="histogram-${m}"] rect.bar`).count()) > 10, `${m} histogram has bars`);

    // The first page: 8 documents from 0, each segment drawn by its decoder.
    await waitUntil('documents are shown', async () => (await page.getByTestId('document').count()) === 8);
    assert.equal(await firstIndex(page), 0);
    await page.getByTestId('doc-caption').first().waitFor();
    assert.match((await page.getByTestId('doc-caption').first().textContent()) ?? '', /^[a-z][a-z ,.'-]+\.$/);
    await page.getByTestId('doc-image').first().waitFor();
    await page.getByTestId('doc-spectrogram').first().waitFor();
    assert.ok(await drawn(page, 'doc-image'), 'a picture is drawn');
    assert.ok(await drawn(page, 'doc-spectrogram'), 'a spectrogram is drawn');
    // Every image segment says 49 tokens (one per 4×4 patch).
    const imageCounts = await page.locator('[data-modality="image"] [data-testid="segment-count"]').allTextContents();
    assert.ok(imageCounts.length > 0 && imageCounts.every((t) => t.trim() === '49 tokens'), imageCounts.join('; '));
    await page.screenshot({ path: join(SHOTS, '10-datasets-light.png') });
    await page.screenshot({ path: join(SHOTS, '11-datasets-documents-light.png'), fullPage: true });

    // Paging: the button, then the arrow keys.
    await page.getByTestId('next-page').first().click();
    await waitUntil('page 2 is shown', async () => (await firstIndex(page)) === 8);
    await page.locator('body').press('ArrowRight');
    await waitUntil('page 3 is shown', async () => (await firstIndex(page)) === 16);
    await page.locator('body').press('ArrowLeft');
    await waitUntil('back on page 2', async () => (await firstIndex(page)) === 8);

    // The val split from the split buttons.
    await page.getByTestId('split-val').click();
    await waitUntil('val documents from 0', async () => (await firstIndex(page)) === 0);
    await page.context().close();

    // Dark theme (following the OS preference), straight to the dataset's address.
    const dark = await e2e.newPage('dark');
    await dark.goto(`${e2e.url}#/datasets/fashion-tri`);
    await waitUntil('documents are shown (dark)', async () => (await dark.getByTestId('document').count()) === 8);
    await dark.getByTestId('doc-spectrogram').first().waitFor();
    await dark.screenshot({ path: join(SHOTS, '12-datasets-dark.png') });
    await dark.screenshot({ path: join(SHOTS, '13-datasets-documents-dark.png'), fullPage: true });

    // The example workspace's synthetic dataset is browsable as token windows.
    await dark.getByTestId('dataset-picker').selectOption('example-synth');
    await waitUntil('token windows are shown', async () => (await dark.locator('[data-testid="segment-ids"]').count()) > 0);
    await dark.screenshot({ path: join(SHOTS, '14-datasets-tokens-dark.png'), fullPage: true });
    await dark.context().close();

    assert.deepEqual(e2e.consoleErrors, [], 'no console errors or CSP violations');
  },
);
