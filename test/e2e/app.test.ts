/**
 * End to end in Debian's Chromium (Playwright) against `motlab serve`: create a run from the
 * form, watch its progress update, pause/resume and stop it, reopen the runs list and see its
 * final state. Screenshots go to test-results/e2e/ (kept as CI artifacts). Any console error
 * (which includes Content-Security-Policy violations) fails the test.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.MOTLAB_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-results', 'e2e');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const missing = !existsSync(CHROMIUM);
if (missing) {
  const line = '!'.repeat(78);
  console.warn(`${line}\n!! END-TO-END TESTS SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set MOTLAB_CHROMIUM)\n${line}`);
}

let server: ChildProcess | undefined;
let url = '';
let workspace = '';
let browser: Browser | undefined;
const consoleErrors: string[] = [];

before(async () => {
  if (missing) return;
  mkdirSync(SHOTS, { recursive: true });
  workspace = mkdtempSync(join(tmpdir(), 'motlab-e2e-'));
  server = spawn(process.execPath, [join(ROOT, 'bin', 'motlab.mjs'), 'serve', '--workspace', workspace, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  url = await new Promise<string>((resolvePromise, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /serving at (http:\/\/\S+)/.exec(output);
      if (m) resolvePromise(m[1]);
    };
    server!.stdout!.on('data', onData);
    server!.stderr!.on('data', onData);
    server!.on('exit', (code) => reject(new Error(`motlab serve exited (${code}): ${output}`)));
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

async function newPage(colorScheme: 'light' | 'dark'): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 820 }, colorScheme });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${page.url()})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  return page;
}

/** Poll from the test side (the page's CSP rightly forbids Playwright's string evaluation). */
async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const fourCurves = (page: Page) => async () => (await page.locator('.spark path.line').count()) === 4;

async function stepShown(page: Page): Promise<number> {
  const text = (await page.getByTestId('step').textContent()) ?? '';
  return Number(text.split('/')[0].replace(/[^\d]/g, '') || '0');
}

test('create a run from the form, watch it, stop it, see it in the runs list', { skip: missing && 'no Chromium', timeout: 240_000 }, async () => {
  const page = await newPage('light');
  await page.goto(url);
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
  await again.goto(url);
  const row = again.locator('tr[data-run="e2e-run"]');
  await row.waitFor();
  await row.locator('[data-status="stopped"]').waitFor();
  assert.match((await row.locator('td.step').textContent()) ?? '', new RegExp(`^${finalStep.toLocaleString('en-US')}\\s*/\\s*4,000`));
  assert.equal(await row.locator('.chip').count(), 4);
  await again.screenshot({ path: join(SHOTS, '06-runs-list.png') });

  // The run page in the dark theme (the OS preference is followed).
  const dark = await newPage('dark');
  await dark.goto(`${url}#/run/e2e-run`);
  await dark.locator('[data-testid="run-status"] [data-status="stopped"]').waitFor();
  await waitUntil('four loss curves are drawn (dark)', fourCurves(dark));
  type Win = { getComputedStyle(e: unknown): { backgroundColor: string } };
  const bg = await dark.locator('body').evaluate((el) => (globalThis as unknown as Win).getComputedStyle(el).backgroundColor);
  assert.equal(bg, 'rgb(17, 19, 24)');
  await dark.screenshot({ path: join(SHOTS, '07-run-dark.png'), fullPage: true });
  await dark.context().close();
  await again.context().close();

  assert.deepEqual(consoleErrors, [], 'no console errors or CSP violations');
});
