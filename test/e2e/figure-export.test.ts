/**
 * End to end in Debian's Chromium, in the dark theme: the export dialog of the Towers view's
 * gradient-norm chart (a tiny mot run trained here by the real `motlab train`) previews the figure
 * at true size (CSS inches), follows the size preset, and exports a PNG of inches × dpi pixels and
 * a light-themed SVG as downloads. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { motlab } from '../training/helpers.ts';
import { UI_COLOURS } from '../../src-main/common/palette.ts';
import { missing, SHOTS, useServerAndBrowser, waitUntil } from './harness.ts';

const e2e = useServerAndBrowser();

before(() => {
  if (missing) return;
  const data = join(e2e.workspace, 'synth-data');
  assert.equal(motlab(['data', 'synth', '--out', data, '--tokens', '40000', '--seed', '5']).status, 0);
  const r = motlab([
    'train',
    '--config',
    'mot',
    '--size',
    'tiny',
    '--data',
    data,
    '--out',
    join(e2e.workspace, 'runs', 'tiny-mot'),
    '--steps',
    '4',
    '--checkpoint-every',
    '2',
    '--eval-every',
    '2',
    '--engine',
    'wasm',
  ]);
  assert.equal(r.status, 0, r.stderr);
});

/** A 1×1 opaque black PNG, base64. */
const ONE_PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

/** Width and height of a PNG from its IHDR chunk. */
function pngSize(bytes: Buffer): [number, number] {
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test(
  'the export dialog previews at true size and saves a PNG of inches × dpi pixels and a light SVG',
  { skip: missing && 'no Chromium', timeout: 240_000 },
  async () => {
    const page = await e2e.newPage('dark');
    await page.goto(`${e2e.url}#/run/tiny-mot/towers`);
    await page.getByTestId('chart-grads').waitFor({ timeout: 120_000 });
    await page.getByTestId('export-grad-norms').click();
    const dialog = page.getByTestId('export-dialog');
    await dialog.waitFor();
    const preview = page.getByTestId('export-preview');
    await preview.waitFor({ timeout: 120_000 });
    // ICML column by default: 3.25 in wide = 312 CSS px.
    await waitUntil('preview at 3.25 in', async () => Math.abs(((await preview.boundingBox())?.width ?? 0) - 3.25 * 96) < 1);
    await page.getByTestId('export-preset').selectOption('icml-full');
    await waitUntil('preview at 6.75 in', async () => Math.abs(((await preview.boundingBox())?.width ?? 0) - 6.75 * 96) < 1);
    assert.equal(await preview.locator('svg').count(), 1);
    // A raster layer (an embedded data: PNG, as big clouds and heatmaps are written) loads inside
    // the inline preview under the page's CSP: a 1×1 PNG drawn as an SVG <image> fires 'load'.
    const rasterLoads = await preview.evaluate(
      (element, png) =>
        new Promise<string>((resolve) => {
          // The page's DOM, typed as much as this needs (the tests compile without lib.dom).
          type Node = {
            setAttribute(k: string, v: string): void;
            addEventListener(e: string, f: (e: { violatedDirective?: string }) => void): void;
          };
          const doc = (element as unknown as { ownerDocument: Node & { createElementNS(ns: string, name: string): Node } }).ownerDocument;
          const svg = (element as unknown as { querySelector(s: string): { appendChild(n: Node): void } }).querySelector('svg');
          const image = doc.createElementNS('http://www.w3.org/2000/svg', 'image');
          image.addEventListener('load', () => resolve('load'));
          image.addEventListener('error', () => resolve('error'));
          doc.addEventListener('securitypolicyviolation', (e) => resolve(`blocked by ${e.violatedDirective}`));
          image.setAttribute('width', '4');
          image.setAttribute('height', '4');
          image.setAttribute('href', `data:image/png;base64,${png}`);
          svg.appendChild(image);
        }),
      ONE_PIXEL_PNG,
    );
    assert.equal(rasterLoads, 'load');
    await page.getByTestId('export-title').check();
    await waitUntil(
      'title in the preview',
      async () => (await preview.locator('svg').textContent())?.includes('Per-tower gradient norms') ?? false,
    );
    await page.screenshot({ path: join(SHOTS, '60-export-dialog-dark.png') });

    await page.getByTestId('export-format').selectOption('png');
    await page.getByTestId('export-dpi').selectOption('300');
    const [png] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-save').click()]);
    assert.match(png.suggestedFilename(), /grad-norms\.png$/);
    const pngFile = join(e2e.workspace, 'figure.png');
    await png.saveAs(pngFile);
    assert.deepEqual(pngSize(readFileSync(pngFile)), [Math.round(6.75 * 300), Math.round(6.75 * 0.618 * 300)]);

    await page.getByTestId('export-format').selectOption('svg');
    const [svg] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-save').click()]);
    const svgFile = join(e2e.workspace, 'figure.svg');
    await svg.saveAs(svgFile);
    const text = readFileSync(svgFile, 'utf8');
    assert.match(text, /^<svg[^>]* width="6.75in"/);
    // Light theme although the page is dark: no colour of the dark UI, the light background.
    assert.ok(text.toLowerCase().includes('#ffffff'), 'light background');
    for (const dark of [UI_COLOURS.dark.panel, UI_COLOURS.dark.bg])
      assert.ok(!text.toLowerCase().includes(dark.toLowerCase()), `dark colour ${dark}`);

    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    const csvFile = join(e2e.workspace, 'figure.csv');
    await csv.saveAs(csvFile);
    assert.match(readFileSync(csvFile, 'utf8').split('\r\n')[0], /^step,/);
    await page.getByTestId('export-close').click();
    await waitUntil('dialog closed', async () => (await page.getByTestId('export-dialog').count()) === 0);
    await page.context().close();
    assert.deepEqual(e2e.consoleErrors, []);
  },
);
