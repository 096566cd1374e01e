/**
 * What the Chromium benches share: Debian's Chromium through playwright-core, `motlab serve` on a
 * workspace, and the frame intervals (requestAnimationFrame) of a page while a drag runs, beside
 * the idle interval of the moment (the machine's own frame pace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.MOTLAB_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'].concat([
      '--disable-component-update',
      '--disable-sync',
    ]),
  });
}

/** `motlab serve` on `workspace` (port chosen by the system); resolves with the process and its URL. */
export async function startServe(workspace: string): Promise<{ server: ChildProcess; url: string }> {
  const server = spawn(process.execPath, [path.join(repo, 'bin', 'motlab.mjs'), 'serve', '--workspace', workspace, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (c: Buffer) => {
      out += c;
      const m = /serving at (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`motlab serve exited (${code}): ${out}`)));
  });
  return { server, url };
}

export interface FrameTimes {
  frames: number;
  median: number;
  p95: number;
  /** The longest frame: a redraw a p95 can hide. */
  max: number;
}

const summary = (intervals: number[]): FrameTimes => ({
  frames: intervals.length,
  median: +quantile(intervals, 0.5).toFixed(1),
  p95: +quantile(intervals, 0.95).toFixed(1),
  max: +Math.max(...intervals).toFixed(1),
});

/** Frame intervals during `drag` (after a second with the pointer still, measured too). */
export async function frameTimesDuring(page: Page, drag: () => Promise<void>): Promise<{ drag: FrameTimes; idle: FrameTimes }> {
  // As a string: tsx's helpers (__name) do not exist in the page.
  await page.evaluate(`(() => {
    window.__frames = [];
    window.__recording = true;
    const tick = (t) => { window.__frames.push(t); if (window.__recording) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  })()`);
  await page.waitForTimeout(1000);
  const idle = (await page.evaluate('(() => window.__frames.slice())()')) as number[];
  const start = idle.length;
  await drag();
  const frames = (await page.evaluate('(() => { window.__recording = false; return window.__frames; })()')) as number[];
  return {
    drag: summary(frames.slice(start).map((t, i) => t - frames[start + i - 1])),
    idle: summary(idle.slice(1).map((t, i) => t - idle[i])),
  };
}
