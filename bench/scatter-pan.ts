/**
 * Frame time while panning the PCA explorer's scatter of 100,000 points in Chromium: a synthetic
 * activation dump (three modality clusters, d 16), `motlab serve`, the explorer opened on it, then
 * a mouse drag across the scatter. Frame times are the intervals between requestAnimationFrame
 * callbacks during the drag (median, p95), beside the idle interval of the moment (the machine's
 * own frame pace). Target: 60 fps (16.7 ms).
 *
 *   npx tsx bench/scatter-pan.ts [--points 100000] [--moves 120]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src-main/util/rng.ts';
import { frameTimesDuring, launchChromium, startServe } from './browser.ts';

const { values } = parseArgs({ options: { points: { type: 'string', default: '100000' }, moves: { type: 'string', default: '120' } } });
const N = Number(values.points);
const moves = Number(values.moves);
const D = 16;

/** A safetensors activation dump (docs/analysis-pca.md): layers.0 F32 [N, D], modality U8 [N]. */
function activationDump(file: string): void {
  const rng = new Rng(1);
  const x = new Float32Array(N * D);
  const modality = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    const m = i % 3;
    modality[i] = m;
    for (let j = 0; j < D; j++) x[i * D + j] = (j === m ? 4 : 0) + rng.normal();
  }
  const header = JSON.stringify({
    __metadata__: { modalities: JSON.stringify(['text', 'image', 'speech']) },
    'layers.0': { dtype: 'F32', shape: [N, D], data_offsets: [0, x.byteLength] },
    modality: { dtype: 'U8', shape: [N], data_offsets: [x.byteLength, x.byteLength + N] },
  });
  const padded = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  writeFileSync(file, Buffer.concat([length, Buffer.from(padded), Buffer.from(x.buffer), Buffer.from(modality)]));
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'motlab-bench-scatter-'));
let server: ChildProcess | undefined;
const browser = await launchChromium();
try {
  const dump = path.join(dir, 'activations.safetensors');
  activationDump(dump);
  const served = await startServe(path.join(dir, 'ws'));
  server = served.server;
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${served.url}#/pca`);
  await page.getByTestId('pca-source').selectOption('activations');
  await page.getByTestId('pca-activations').fill(dump);
  const loadStart = performance.now();
  await page.getByTestId('pca-run-analysis').click();
  const scatter = page.getByTestId('pca-scatter');
  await scatter.locator('canvas').waitFor({ timeout: 300_000 });
  const firstScatter = performance.now() - loadStart;

  const box = (await scatter.locator('canvas').first().boundingBox())!;
  const y = box.y + box.height * 0.5;
  const times = await frameTimesDuring(page, async () => {
    await page.mouse.move(box.x + box.width * 0.8, y);
    await page.mouse.down();
    for (let i = 1; i <= moves; i++) await page.mouse.move(box.x + box.width * (0.8 - (0.6 * i) / moves), y + (i % 7) - 3);
    await page.mouse.up();
  });
  const { frames, median, p95, max } = times.drag;
  console.log(
    JSON.stringify(
      {
        points: N,
        firstScatterMs: Math.round(firstScatter),
        frameMs: { frames, median, p95, max },
        idleFrameMs: { median: times.idle.median, p95: times.idle.p95 },
        loadAverage: os.loadavg()[0],
        cores: os.cpus().length,
        pageErrors: errors,
      },
      null,
      2,
    ),
  );
} finally {
  await browser.close();
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
