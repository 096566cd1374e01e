/**
 * Frame time while panning the Losses view over 50 runs × 10,000 training steps, in Chromium:
 * a workspace of synthetic runs (run.json + metrics.jsonl, 4 loss keys per step), `motlab serve`,
 * the view zoomed to a third of the run, then a mouse drag across the chart. Frame times are the
 * intervals between requestAnimationFrame callbacks during the drag (median, p95); also the
 * chart geometry alone in Node (lineChart on what the server sent) and the server's answer time.
 *
 *   npx tsx bench/chart-pan.ts [--runs 50] [--steps 10000] [--moves 120] [--panels all|every]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeRunJson } from '../src-main/runs/run-json.ts';
import { lineChart, lossChartData } from '../src-main/common/charts/index.ts';
import { createApiClient, httpTransport } from '../src-main/common/api/client.ts';
import { screenChartTheme } from '../src-main/common/palette.ts';
import { buildModelConfig } from '../src-main/model/presets.ts';
import { TRAINING_DEFAULTS } from '../src-main/training/config.ts';
import { Rng } from '../src-main/util/rng.ts';
import { frameTimesDuring, launchChromium, quantile, startServe } from './browser.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    steps: { type: 'string', default: '10000' },
    moves: { type: 'string', default: '120' },
    panels: { type: 'string', default: 'every' },
  },
});
const runCount = Number(values.runs);
const steps = Number(values.steps);
const moves = Number(values.moves);
const MODALITIES = ['text', 'image', 'speech'];

/** Synthetic runs: power-law losses with noise, an evaluation every 200 steps. */
async function makeWorkspace(dir: string): Promise<string[]> {
  const dataset = {
    vocab_size: 1024,
    modalities: [
      { name: 'text', start: 0, end: 256 },
      { name: 'image', start: 256, end: 768 },
      { name: 'speech', start: 768, end: 1024 },
    ],
  };
  const names: string[] = [];
  for (let r = 0; r < runCount; r++) {
    const name = `run-${String(r).padStart(2, '0')}`;
    const runDir = path.join(dir, 'runs', name);
    mkdirSync(runDir, { recursive: true });
    const preset = r % 2 ? 'mot' : 'dense';
    const now = new Date().toISOString();
    await writeRunJson(runDir, {
      name,
      created: now,
      updated: now,
      preset,
      size: 'tiny',
      model: buildModelConfig(preset, 'tiny', dataset),
      training: { ...TRAINING_DEFAULTS.tiny, steps },
      dataset: { path: dir, name: 'synthetic' },
      engine: 'wasm',
      seed: r,
      status: 'completed',
    });
    const rng = new Rng(r);
    const lines: string[] = [];
    for (let step = 1; step <= steps; step++) {
      const loss: Record<string, number> = {};
      let sum = 0;
      MODALITIES.forEach((m, i) => {
        loss[m] = 2 + i * 0.4 + 4 * Math.pow(step, -0.3 - 0.002 * r) + 0.08 * rng.normal();
        sum += loss[m];
      });
      const record = { type: 'train', step, time: 1.7e12 + step * 250, elapsed_s: step * 0.25, tokens: step * 2048, flops: step * 3.1e10 };
      lines.push(JSON.stringify({ ...record, loss: { all: sum / 3, ...loss } }));
      if (step % 200 === 0)
        lines.push(
          JSON.stringify({ type: 'eval', step, time: record.time, split: 'val', windows: 8, loss: { all: sum / 3 - 0.05, ...loss } }),
        );
    }
    writeFileSync(path.join(runDir, 'metrics.jsonl'), lines.join('\n') + '\n');
    names.push(name);
  }
  return names;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'motlab-bench-pan-'));
  let server: ChildProcess | undefined;
  const browser = await launchChromium();
  try {
    const t0 = performance.now();
    const names = await makeWorkspace(dir);
    console.log(`${runCount} runs × ${steps} steps written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const served = await startServe(dir);
    server = served.server;
    const url = served.url;

    // The view zoomed to the middle third: a drag pans over data the server sent for the range.
    const range: [number, number] = [steps / 3, (2 * steps) / 3];
    const modalities = values.panels === 'all' ? 'all' : '';
    const query = new URLSearchParams({ runs: names.join(','), split: 'train', xRange: JSON.stringify(range) });
    if (modalities) query.set('modalities', modalities);
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const loadStart = performance.now();
    await page.goto(`${url}#/losses?${query}`);
    const chart = page.getByTestId('losses-chart');
    await chart.waitFor({ timeout: 300_000 });
    const firstChart = performance.now() - loadStart;
    console.error(`first chart after ${(firstChart / 1000).toFixed(1)} s`);
    const paths = await chart.locator('[data-mark="line"]').count();
    const status = (await page.getByTestId('status').textContent())?.trim();

    // The server's answer for the same view, and the geometry of what it sent, timed in Node.
    const client = createApiClient(httpTransport({ baseUrl: url.replace(/\/$/, '') }));
    const width = (await chart.boundingBox())!.width;
    const buckets = Math.ceil((width / (values.panels === 'all' ? 1 : 2) / 2) * 2);
    const apiTimes: number[] = [];
    let report;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      report = await client.getLossCurves({ runs: names, split: 'train', range: [steps / 6, (5 * steps) / 6], buckets });
      apiTimes.push(performance.now() - t);
    }
    console.error(`server timed (median ${Math.round(quantile(apiTimes, 0.5))} ms)`);
    const data = lossChartData(report!, { modalities: modalities ? [modalities] : undefined });
    const geometryTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      lineChart(data, { width, height: 560 }, screenChartTheme('light'), {
        xDomain: [range[0] + i * 50, range[1] + i * 50],
        columns: modalities ? 1 : 2,
      });
      geometryTimes.push(performance.now() - t);
    }

    // The drag, with frame intervals recorded in the page.
    const box = (await chart.locator('svg').first().boundingBox())!;
    const y = box.y + box.height * 0.35;
    const times = await frameTimesDuring(page, async () => {
      await page.mouse.move(box.x + box.width * 0.8, y);
      await page.mouse.down();
      for (let i = 1; i <= moves; i++) await page.mouse.move(box.x + box.width * (0.8 - (0.6 * i) / moves), y);
      await page.mouse.up();
    });
    console.error('drag done');
    const result = {
      runs: runCount,
      steps,
      panels: modalities ? 1 : 4,
      lines: paths,
      status,
      firstChartMs: Math.round(firstChart),
      serverMs: { median: Math.round(quantile(apiTimes, 0.5)) },
      geometryMs: { median: Math.round(quantile(geometryTimes, 0.5)), p95: Math.round(quantile(geometryTimes, 0.95)) },
      frameMs: times.drag,
      idleFrameMs: { median: times.idle.median, p95: times.idle.p95 },
      loadAverage: os.loadavg()[0],
      cores: os.cpus().length,
      pageErrors: errors,
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await browser.close();
    server?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
