/**
 * The contract of docs/architecture.md, checked against an independent PyTorch implementation
 * (bench/torch_mot.py, Debian python3-torch): a checkpoint trained by the lab gives the same
 * per-modality evaluation losses in PyTorch as `motlab eval` (1e-4 relative), for every kind of
 * model; and a model written by PyTorch evaluates the same in the lab.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { motlab, PYTHON, TORCH_SCRIPT, torchAvailable } from './helpers.ts';

const skip = torchAvailable ? false : 'python3-torch is not installed (apt-get install python3-torch)';
if (skip) console.log(`\n#\n# SKIPPING the PyTorch parity tests: ${skip}\n#\n`);

const root = mkdtempSync(path.join(tmpdir(), 'motlab-parity-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));
before(() => {
  const r = motlab(['data', 'synth', '--out', data, '--tokens', '40000', '--seed', '5']);
  assert.equal(r.status, 0, r.stderr);
});

type Loss = Record<string, number | null>;

function assertClose(ours: Loss, theirs: Loss, what: string): void {
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), what);
  for (const [k, v] of Object.entries(theirs)) {
    if (v === null) assert.equal(ours[k], null, `${what} ${k}`);
    else assert.ok(Math.abs((ours[k] as number) - v) <= 1e-4 * Math.abs(v), `${what} ${k}: lab ${ours[k]}, PyTorch ${v}`);
  }
}

function torchEval(checkpointDir: string, windows: number): { step: number; windows: number; loss: Loss } {
  const out = execFileSync(
    PYTHON,
    [TORCH_SCRIPT, 'eval', '--checkpoint', checkpointDir, '--data', data, '--windows', String(windows), '--json'],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

function labEval(runDir: string, windows: number): { step: number; windows: number; loss: Loss } {
  const r = motlab([
    'eval',
    '--run',
    runDir,
    '--checkpoint',
    'latest',
    '--data',
    data,
    '--windows',
    String(windows),
    '--json',
    '--engine',
    'wasm',
  ]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim());
}

const CASES: { name: string; config: object }[] = [
  { name: 'dense', config: { preset: 'dense' } },
  { name: 'mot', config: { preset: 'mot' } },
  { name: 'mot-ffn', config: { preset: 'mot-ffn' } },
  { name: 'mot-text-isolated, pre-norm, qk-norm', config: { preset: 'mot-text-isolated', model: { norm_style: 'pre', qk_norm: true } } },
  { name: 'moe4x (expert choice)', config: { preset: 'moe4x' } },
  {
    name: 'moe4x-topk (token choice, capacity)',
    config: {
      preset: 'moe4x-topk',
      model: {
        moe: {
          experts: 4,
          routing: 'token_choice',
          top_k: 2,
          capacity_factor: 0.75,
          renormalize: true,
          aux_loss: 0.01,
          z_loss: 0.001,
          towers: [0],
        },
      },
    },
  },
  { name: 'mot-moe', config: { preset: 'mot-moe' } },
];

for (const c of CASES) {
  test(`lab-trained ${c.name}: motlab eval equals PyTorch to 1e-4`, { skip }, () => {
    const slug = c.name.replace(/[^a-z0-9]+/g, '-');
    const file = path.join(root, `${slug}.json`);
    writeFileSync(
      file,
      JSON.stringify({ size: 'tiny', ...c.config, training: { steps: 3, checkpoint_every: 3, eval_every: 3, lr: 0.01 } }),
    );
    const runDir = path.join(root, slug);
    const r = motlab(['train', '--config', file, '--data', data, '--out', runDir, '--engine', 'wasm']);
    assert.equal(r.status, 0, r.stderr);
    const ours = labEval(runDir, 12);
    const theirs = torchEval(path.join(runDir, 'checkpoints', 'step-000003'), 12);
    assert.equal(ours.step, 3);
    assert.equal(ours.windows, theirs.windows);
    assertClose(ours.loss, theirs.loss, c.name);
  });
}

test('a model written by PyTorch evaluates the same in the lab', { skip }, () => {
  const spec = JSON.parse(readFileSync(path.join(data, 'dataset.json'), 'utf8'));
  const config = {
    vocab_size: spec.vocab_size,
    d_model: 32,
    n_layers: 2,
    n_heads: 4,
    ffn_hidden: 48,
    seq_len: 24,
    norm_style: 'chameleon',
    qk_norm: true,
    rope_theta: 500,
    modalities: spec.modalities,
    towers: { attention: [['text'], ['image', 'speech']], ffn: [['text'], ['image'], ['speech']], norm: [['text', 'image', 'speech']] },
  };
  const cfgFile = path.join(root, 'torch-config.json');
  writeFileSync(cfgFile, JSON.stringify(config));
  const runDir = path.join(root, 'from-torch');
  const ckpt = path.join(runDir, 'checkpoints', 'step-000000');
  mkdirSync(ckpt, { recursive: true });
  execFileSync(PYTHON, [TORCH_SCRIPT, 'init', '--config', cfgFile, '--out', ckpt, '--seed', '3', '--norm-noise', '0.3']);
  writeFileSync(path.join(ckpt, 'state.json'), JSON.stringify({ step: 0 }));
  const ours = labEval(runDir, 10);
  const theirs = torchEval(ckpt, 10);
  assertClose(ours.loss, theirs.loss, 'PyTorch-written model');
});
