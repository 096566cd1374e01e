/**
 * Cross-checks with bench/torch_mot.py, the independent PyTorch implementation of
 * docs/architecture.md: its self-test, the tensor-name table, and checkpoints in both directions.
 * (The end-to-end loss parity against the lab's own model lives with the model.)
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readModelFile, writeCheckpoint } from '../../src-main/checkpoints/run-folder.ts';
import { expectedTensorShapes } from '../../src-main/model/tensor-names.ts';
import type { ModelConfig } from '../../src-main/model/config.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import type { PresetName } from '../../src-main/common/vocabulary.ts';
import { encodeNpy } from '../../src-main/data/npy.ts';
import { Rng } from '../../src-main/util/rng.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../bench/torch_mot.py', import.meta.url));
const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : 'python3-torch is not installed (apt-get install python3-torch)';
if (skip) console.log(`\n#\n# SKIPPING PyTorch cross-checks: ${skip}; /usr/bin/python3 said: ${probe.stderr?.trim() ?? probe.error}\n#\n`);

const root = mkdtempSync(join(tmpdir(), 'motlab-torch-'));
after(() => rmSync(root, { recursive: true, force: true }));

const runPython = (args: string[]): string =>
  execFileSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const DATASET = {
  vocab_size: 48,
  modalities: [
    { name: 'text', start: 0, end: 24 },
    { name: 'image', start: 24, end: 40 },
    { name: 'speech', start: 40, end: 48 },
  ],
};
const config = (preset: PresetName, overrides: Partial<ModelConfig> = {}): ModelConfig =>
  buildModelConfig(preset, 'tiny', DATASET, { seq_len: 16, ...overrides });

test('torch_mot.py selftest passes', { skip }, () => {
  assert.match(runPython(['selftest']), /^selftest ok/m);
});

test('the PyTorch tensor table equals expectedTensorShapes, names and order, for every preset', { skip }, () => {
  const configs: ModelConfig[] = [];
  for (const preset of ['dense', 'mot', 'mot-ffn', 'mot-text-isolated', 'mot-speech-isolated', 'moe4x', 'moe4x-topk', 'mot-moe'] as const) {
    configs.push(config(preset), config(preset, { qk_norm: true, norm_style: 'pre' }));
  }
  const file = join(root, 'configs.json');
  writeFileSync(file, JSON.stringify(configs));
  const script = `import json, sys; sys.path.insert(0, sys.argv[1]); import torch_mot as tm
print(json.dumps([list(tm.expected_shapes(tm.check_config(c)).items()) for c in json.load(open(sys.argv[2]))]))`;
  const fromPython = JSON.parse(execFileSync(PYTHON, ['-c', script, join(SCRIPT, '..'), file], { encoding: 'utf8' })) as [
    string,
    number[],
  ][][];
  configs.forEach((c, i) => assert.deepEqual(fromPython[i], Object.entries(expectedTensorShapes(c)), `config ${i}`));
});

function randomWeights(c: ModelConfig, seed: number, zeroOutput = false) {
  const rng = new Rng(seed);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of Object.entries(expectedTensorShapes(c))) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = shape.length === 1 ? 1 + 0.1 * rng.normal() : rng.normal() / Math.sqrt(shape[1]);
    if (zeroOutput && name === 'output.weight') data.fill(0);
    out[name] = { shape, data };
  }
  return out;
}

function writeDataset(dir: string, tokens: number[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ name: 'cross', ...DATASET, splits: ['train', 'val'] }));
  const data = Uint16Array.from(tokens);
  writeFileSync(join(dir, 'val.tokens.npy'), encodeNpy({ dtype: '<u2', shape: [data.length], data }));
  writeFileSync(join(dir, 'train.tokens.npy'), encodeNpy({ dtype: '<u2', shape: [data.length], data }));
}

test('PyTorch evaluates a lab-written checkpoint: windows, target counts, ln V for a zero output head', { skip }, async () => {
  const rng = new Rng(4);
  // 5 full windows of 16 (+1 target) and a partial one; a text-heavy mix like real data.
  const tokens = Array.from({ length: 5 * 16 + 9 }, () => (rng.uniform() < 0.5 ? rng.int(24) : 24 + rng.int(24)));
  const dataDir = join(root, 'data');
  writeDataset(dataDir, tokens);
  // Expected target counts per modality, computed here from the windows' definition.
  const expectCounts = (windows: number) => {
    const counts: Record<string, number> = { all: 0, text: 0, image: 0, speech: 0 };
    for (let k = 0; k < windows; k++) {
      for (let i = 1; i <= 16; i++) {
        const t = tokens[k * 16 + i];
        counts.all++;
        counts[t < 24 ? 'text' : t < 40 ? 'image' : 'speech']++;
      }
    }
    return counts;
  };

  const presets = [
    ['mot-moe', { qk_norm: true }],
    ['moe4x-topk', {}],
    ['mot-ffn', { norm_style: 'pre' }],
  ] as const;
  const dirs: string[] = [];
  for (const [preset, overrides] of presets) {
    const c = config(preset, overrides);
    const runDir = join(root, `run-${preset}`);
    dirs.push(await writeCheckpoint(runDir, 7, { model: randomWeights(c, 1), optimizer: {}, state: {}, config: c }));
    const zero = await writeCheckpoint(runDir, 8, { model: randomWeights(c, 2, true), optimizer: {}, state: {}, config: c });
    dirs.push(join(zero, 'model.safetensors')); // the file itself is accepted too
  }
  // One Python process for all six checkpoints (torch takes seconds to import).
  const lines = runPython(['eval', ...dirs.flatMap((d) => ['--checkpoint', d]), '--data', dataDir, '--windows', '10', '--json'])
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  presets.forEach(([preset], i) => {
    const [out, flat] = [lines[2 * i], lines[2 * i + 1]];
    assert.equal(out.step, 7);
    assert.equal(out.windows, 5, 'stops when the split runs out');
    assert.deepEqual(out.targets, expectCounts(5));
    for (const key of ['all', 'text', 'image', 'speech'])
      assert.ok(Number.isFinite(out.loss[key]) && out.loss[key] > 0, `${preset} ${key}`);
    // "all" is the target-weighted mean of the modality losses.
    const weighted =
      (out.loss.text * out.targets.text + out.loss.image * out.targets.image + out.loss.speech * out.targets.speech) / out.targets.all;
    assert.ok(Math.abs(weighted - out.loss.all) < 1e-9);
    assert.equal(flat.step, 8);
    for (const key of ['all', 'text', 'image', 'speech'])
      assert.ok(Math.abs(flat.loss[key] - Math.log(48)) < 1e-5, `uniform logits give ln V (${key})`);
  });
  const three = JSON.parse(runPython(['eval', '--checkpoint', dirs[0], '--data', dataDir, '--windows', '3', '--json']));
  assert.equal(three.windows, 3);
  assert.deepEqual(three.targets, expectCounts(3));
});

test('the lab loads models written by PyTorch (torch_mot.py init)', { skip }, async () => {
  for (const [preset, overrides] of [
    ['mot', { qk_norm: true }],
    ['mot-moe', {}],
  ] as const) {
    const c = config(preset, overrides);
    const cfgFile = join(root, `init-${preset}.json`);
    writeFileSync(cfgFile, JSON.stringify(c));
    const out = join(root, `init-${preset}`);
    runPython(['init', '--config', cfgFile, '--out', out, '--seed', '3', '--norm-noise', '0.1']);
    const { config: loaded, tensors } = await readModelFile(join(out, 'model.safetensors'));
    assert.deepEqual(loaded, c);
    assert.deepEqual(Object.keys(tensors).sort(), Object.keys(expectedTensorShapes(c)).sort());
    const norm = tensors['norm.0.weight'].data;
    assert.ok(
      norm.some((v) => v !== 1),
      'norm noise reached the file',
    );
    const emb = tensors['embed.weight'].data;
    const mean = emb.reduce((a, b) => a + b, 0) / emb.length;
    const std = Math.sqrt(emb.reduce((a, b) => a + (b - mean) ** 2, 0) / emb.length);
    assert.ok(Math.abs(std - 1) < 0.15, `embedding ~ N(0, 1), std ${std}`);
  }
});

test('eval reports a clear error for a dataset that does not match the checkpoint', { skip }, async () => {
  const c = config('dense');
  const dir = await writeCheckpoint(join(root, 'run-mismatch'), 1, { model: randomWeights(c, 1), optimizer: {}, state: {}, config: c });
  const dataDir = join(root, 'data-other');
  writeDataset(dataDir, [1, 2, 3]);
  writeFileSync(
    join(dataDir, 'dataset.json'),
    JSON.stringify({ name: 'x', vocab_size: 64, modalities: DATASET.modalities, splits: ['val'] }),
  );
  const r = spawnSync(PYTHON, [SCRIPT, 'eval', '--checkpoint', dir, '--data', dataDir, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /vocabulary or modalities differ/);
});
