import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { writeRunJson } from '../../src-main/runs/run-json.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import { TRAINING_DEFAULTS } from '../../src-main/training/config.ts';
import { motlab } from '../training/helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-compare-'));
after(() => rmSync(root, { recursive: true, force: true }));

const dataset = {
  vocab_size: 30,
  modalities: [
    { name: 'text', start: 0, end: 10 },
    { name: 'image', start: 10, end: 30 },
  ],
};

async function fakeRun(name: string, preset: 'dense' | 'mot', curve: (step: number) => { text: number; image: number }) {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  const now = new Date().toISOString();
  await writeRunJson(dir, {
    name,
    created: now,
    updated: now,
    preset,
    size: 'tiny',
    model: buildModelConfig(preset, 'tiny', dataset),
    training: TRAINING_DEFAULTS.tiny,
    dataset: { path: root, name: 'x' },
    engine: 'wasm',
    seed: 0,
    status: 'completed',
  });
  const lines = [0, 100, 200, 300, 400].map((step) => {
    const l = curve(step);
    return JSON.stringify({
      type: 'eval',
      step,
      time: 1_700_000_000_000 + step,
      split: 'val',
      windows: 4,
      loss: { all: (l.text + l.image) / 2, ...l },
    });
  });
  writeFileSync(path.join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  return dir;
}

test('motlab compare reports the steps-to-match slope and the final-loss fraction per modality', async () => {
  // Reference: text 5 − s/100, image 6 − s/100. Other: text learns twice as fast; image never catches up.
  const dense = await fakeRun('dense', 'dense', (s) => ({ text: 5 - s / 100, image: 6 - s / 100 }));
  const mot = await fakeRun('mot', 'mot', (s) => ({ text: 5 - s / 50, image: 6.5 - s / 100 }));
  const r = motlab(['compare', '--reference', dense, '--run', mot, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  const text = report.rows.find((m: { modality: string }) => m.modality === 'text');
  // Dense reaches 5 − x/100 at x; the other run reaches it at x/2 exactly (linear curves).
  assert.ok(Math.abs(text.slope - 0.5) < 1e-12);
  assert.equal(text.xToReachFinal, 200);
  assert.equal(text.finalFraction, 0.5);
  const image = report.rows.find((m: { modality: string }) => m.modality === 'image');
  // Other image loss 6.5 − s/100 reaches dense's loss at x (6 − x/100) at step x + 50, up to 400.
  assert.equal(image.matchedPoints, 3);
  const expected = (100 * 150 + 200 * 250 + 300 * 350) / (100 * 100 + 200 * 200 + 300 * 300);
  assert.ok(Math.abs(image.slope - expected) < 1e-12);
  assert.equal(image.xToReachFinal, null);
  const human = motlab(['compare', '--reference', dense, '--run', mot]);
  assert.match(human.stdout, /text\s+mot\s+50\.0%/);
});
