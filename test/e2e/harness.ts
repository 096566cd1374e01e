/**
 * Shared setup of the end-to-end tests: `motlab serve` on a fresh temporary workspace and
 * Debian's Chromium driven by Playwright. Every console error of a page (which includes
 * Content-Security-Policy violations) is collected for the test to assert on. Screenshots go to
 * test-results/e2e/ (kept as CI artifacts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROMIUM = process.env.MOTLAB_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = join(ROOT, 'test-results', 'e2e');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const missing = !existsSync(CHROMIUM);
if (missing) {
  const line = '!'.repeat(78);
  console.warn(
    `${line}\n!! END-TO-END TESTS SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set MOTLAB_CHROMIUM)\n${line}`,
  );
}

export interface E2E {
  /** The server's URL (set once `before` has run). */
  url: string;
  workspace: string;
  consoleErrors: string[];
  newPage(colorScheme: 'light' | 'dark'): Promise<Page>;
}

export interface E2EOptions {
  /** Fills the fresh workspace before the server starts (e.g. trains runs into `<workspace>/runs`). */
  prepare?: (workspace: string) => void | Promise<void>;
}

/** Registers before/after hooks that start and stop the server and the browser. */
export function useServerAndBrowser(options: E2EOptions = {}): E2E {
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  const env: E2E = {
    url: '',
    workspace: '',
    consoleErrors: [],
    async newPage(colorScheme) {
      const context = await browser!.newContext({ viewport: { width: 1280, height: 820 }, colorScheme });
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') env.consoleErrors.push(`${m.text()} (${page.url()})`);
      });
      page.on('pageerror', (e) => env.consoleErrors.push(`page error: ${e.message}`));
      return page;
    },
  };

  before(async () => {
    if (missing) return;
    mkdirSync(SHOTS, { recursive: true });
    env.workspace = mkdtempSync(join(tmpdir(), 'motlab-e2e-'));
    await options.prepare?.(env.workspace);
    server = spawn(process.execPath, [join(ROOT, 'bin', 'motlab.mjs'), 'serve', '--workspace', env.workspace, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    env.url = await new Promise<string>((resolvePromise, reject) => {
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
    if (env.workspace) rmSync(env.workspace, { recursive: true, force: true });
  });

  return env;
}

/** Poll from the test side (the page's CSP rightly forbids Playwright's string evaluation). */
export async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
