/**
 * The lab and the PyTorch trainer share one run format and one meaning of every setting: a run
 * started in PyTorch is the run the lab starts (same config, initial weights, training windows,
 * optimizer and schedule), and a checkpoint written by either continues training in the other.
 * The lab runs on wasm; the expected numbers are the other engine's.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { decodeSafetensors } from '../../src-main/checkpoints/safetensors.ts';
import { lossesClose, motlab, readJson, recordsOf, torchAvailable, torchTrain } from './helpers.ts';

const skip = torchAvailable ? false : 'python3-torch is not installed (apt-get install python3-torch)';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-cross-engine-'));
const data = path.join(root, 'data');
const config = path.join(root, 'mot.json');
const lab = path.join(root, 'lab');
const torch = path.join(root, 'torch');
after(() => rmSync(root, { recursive: true, force: true }));
before(() => {
  if (skip) return;
  const r = motlab(['data', 'synth', '--out', data, '--tokens', '40000', '--seed', '9']);
  assert.equal(r.status, 0, r.stderr);
  // Accumulation and a short warmup, so that both are exercised in both engines.
  writeFileSync(
    config,
    JSON.stringify({
      preset: 'mot',
      size: 'tiny',
      training: { steps: 12, grad_accum: 2, warmup_steps: 2, checkpoint_every: 6, eval_every: 6 },
    }),
  );
});

/** Train records of `b` equal `a`'s for the steps given, to `tol` (cross-engine float32 noise). */
function sameLosses(a: string, b: string, steps: number[], tol: number): void {
  const ra = recordsOf(a).train;
  const rb = recordsOf(b).train;
  for (const s of steps) {
    assert.ok(ra.has(s) && rb.has(s), `step ${s} in both runs`);
    lossesClose(rb.get(s)!.loss, ra.get(s)!.loss, tol, `step ${s}`);
    assert.ok(Math.abs(rb.get(s)!.grad_norm - ra.get(s)!.grad_norm) <= tol * Math.max(1, ra.get(s)!.grad_norm), `grad norm at step ${s}`);
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('a run started in PyTorch is the run the lab starts: config, files and losses (1e-4)', { skip }, () => {
  const r1 = motlab(['train', '--config', config, '--data', data, '--out', lab, '--engine', 'wasm']);
  assert.equal(r1.status, 0, r1.stderr);
  const r2 = torchTrain(['--config', config, '--data', data, '--out', torch]);
  assert.equal(r2.status, 0, r2.stderr);

  const [a, b] = [readJson(path.join(lab, 'run.json')), readJson(path.join(torch, 'run.json'))];
  assert.deepEqual(b.model, a.model);
  assert.deepEqual(b.training, a.training);
  // `workers` is the lab's own gradient workers (docs/workers.md): a PyTorch run records none.
  const labKeys = Object.keys(a).filter((k) => k !== 'workers');
  assert.deepEqual(Object.keys(b).sort(), labKeys.sort());
  assert.equal(b.engine, 'torch');

  // Same initial weights and windows: the same trajectory, up to float32 differences.
  sameLosses(lab, torch, range(1, 12), 1e-4);
  for (const step of [0, 6, 12])
    lossesClose(recordsOf(torch).eval.get(step)!.loss, recordsOf(lab).eval.get(step)!.loss, 1e-4, `eval ${step}`);

  // The same record and file layout.
  const keys = (dir: string, type: string) => Object.keys([...recordsOf(dir)[type as 'train'].values()][0]).sort();
  assert.deepEqual(keys(torch, 'train'), keys(lab, 'train'));
  assert.deepEqual(keys(torch, 'eval'), keys(lab, 'eval'));
  const towers = (dir: string) => Object.keys(recordsOf(dir).train.get(1)!.grad_norm_towers as object).sort();
  assert.deepEqual(towers(torch), towers(lab));
  for (const dir of [lab, torch]) assert.deepEqual(readdirSync(path.join(dir, 'checkpoints')), ['step-000006', 'step-000012']);
  const ckpt = (dir: string, file: string) => path.join(dir, 'checkpoints', 'step-000012', file);
  const state = (dir: string) => readJson(ckpt(dir, 'state.json'));
  assert.deepEqual(Object.keys(state(torch)).sort(), Object.keys(state(lab)).sort());
  for (const k of ['step', 'tokens', 'flops', 'data_rng', 'seed']) assert.deepEqual(state(torch)[k], state(lab)[k], k);
  for (const file of ['model.safetensors', 'optimizer.safetensors']) {
    const [x, y] = [lab, torch].map((dir) => decodeSafetensors(readFileSync(ckpt(dir, file)), file));
    assert.deepEqual(Object.keys(y.tensors).sort(), Object.keys(x.tensors).sort(), file);
    assert.deepEqual(y.metadata, x.metadata, `${file} metadata`);
    for (const [name, t] of Object.entries(x.tensors)) {
      const u = y.tensors[name];
      assert.deepEqual(u.shape, t.shape, name);
      let worst = 0;
      for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(u.data[i] - t.data[i]));
      assert.ok(worst <= 1e-4, `${file} ${name}: max |diff| ${worst}`);
    }
  }
});

test('a lab-trained checkpoint continues training in PyTorch', { skip }, () => {
  // The lab's run as it was after step 6 (a later checkpoint and records are what the resume replaces).
  const run = path.join(root, 'lab-then-torch');
  cpSync(lab, run, { recursive: true });
  rmSync(path.join(run, 'checkpoints', 'step-000012'), { recursive: true });
  const r = torchTrain(['--out', run, '--resume']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readJson(path.join(run, 'run.json')).engine, 'torch');
  assert.equal(readJson(path.join(run, 'run.json')).status, 'completed');
  assert.deepEqual([...recordsOf(run).train.keys()], range(1, 12));
  sameLosses(lab, run, range(7, 12), 1e-4); // PyTorch's steps 7-12 are the lab's
  assert.equal(readJson(path.join(run, 'checkpoints', 'step-000012', 'state.json')).engine, 'torch');
});

test('a PyTorch-trained checkpoint continues training in the lab, and further with --steps', { skip }, () => {
  const run = path.join(root, 'torch-then-lab');
  cpSync(torch, run, { recursive: true });
  rmSync(path.join(run, 'checkpoints', 'step-000012'), { recursive: true });
  const r = motlab(['train', '--out', run, '--resume', '--engine', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readJson(path.join(run, 'run.json')).engine, 'wasm');
  sameLosses(torch, run, range(7, 12), 1e-4); // the lab's steps 7-12 are PyTorch's

  // The completed run, extended by the lab beyond the schedule PyTorch ran.
  const more = motlab(['train', '--out', run, '--resume', '--steps', '14', '--engine', 'wasm']);
  assert.equal(more.status, 0, more.stderr);
  const records = recordsOf(run).train;
  assert.deepEqual([...records.keys()], range(1, 14));
  for (const s of [13, 14]) assert.ok(Number.isFinite(records.get(s)!.loss.all), `step ${s}`);
  assert.deepEqual(readdirSync(path.join(run, 'checkpoints')), ['step-000006', 'step-000012', 'step-000014']);
});
