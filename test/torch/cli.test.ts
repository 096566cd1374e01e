/**
 * The PyTorch trainer's command line on bad input (each error names the file or field and the
 * problem, and loses nothing), a non-finite loss, and `motlab_torch.command` (the torchrun plan
 * for a cluster).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { encodeNpy } from '../../src-main/data/npy.ts';
import { motlab, readJson, REPO, torchAvailable, torchModule, torchTrain } from './helpers.ts';

const skip = torchAvailable ? false : 'python3-torch is not installed (apt-get install python3-torch)';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-torch-cli-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));
before(() => {
  if (skip) return;
  const r = motlab(['data', 'synth', '--out', data, '--tokens', '20000', '--seed', '2']);
  assert.equal(r.status, 0, r.stderr);
});

function configFile(name: string, content: object): string {
  const file = path.join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

test('bad configs are refused with the field and the reason, and create nothing', { skip }, () => {
  const cases: [object, RegExp][] = [
    [{ preset: 'mot', model: { n_heads: 3 } }, /n_heads: must divide d_model \(32\)/],
    [{ preset: 'mot', trainng: {} }, /bad-1\.json: trainng: unknown field/],
    [{ preset: 'mot', training: { lr: -1 } }, /lr: must be > 0, got -1/],
    [
      {
        preset: 'mot',
        model: { towers: { attention: [['text']], ffn: [['text', 'image', 'speech']], norm: [['text', 'image', 'speech']] } },
      },
      /towers\.attention: modality "image" must be in exactly one tower/,
    ],
    [{ preset: 'nonsense' }, /preset: must be one of dense, mot/],
  ];
  cases.forEach(([content, message], i) => {
    const out = path.join(root, `bad-run-${i}`);
    const r = torchTrain(['--config', configFile(`bad-${i}`, content), '--size', 'tiny', '--data', data, '--out', out]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(!existsSync(out), 'no run folder');
  });
  const tooMany = torchTrain([
    '--config',
    configFile('one-window', { preset: 'mot', size: 'tiny', training: { batch_size: 1 } }),
    '--data',
    data,
    '--out',
    path.join(root, 'y'),
    '--nproc',
    '2',
  ]);
  assert.equal(tooMany.status, 2);
  assert.match(tooMany.stderr, /batch_size 1 is smaller than the number of processes \(2\)/);
  assert.ok(!existsSync(path.join(root, 'y')));
  const r = torchTrain(['--config', 'mot', '--size', 'tiny', '--data', data, '--out', path.join(root, 'x'), '--device', 'cuda']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--device cuda: PyTorch sees no CUDA/);
});

test('run folder problems: no run to resume, a run already there, a corrupt checkpoint', { skip }, () => {
  const none = torchTrain(['--out', path.join(root, 'nothing'), '--resume']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /nothing holds no run to resume \(no run\.json\)/);

  const out = path.join(root, 'run');
  const cfg = configFile('short', { preset: 'dense', size: 'tiny', training: { steps: 2, checkpoint_every: 1 } });
  assert.equal(torchTrain(['--config', cfg, '--data', data, '--out', out]).status, 0);
  const again = torchTrain(['--config', cfg, '--data', data, '--out', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already holds a run; pass --resume/);

  const model = path.join(out, 'checkpoints', 'step-000002', 'model.safetensors');
  truncateSync(model, 100);
  const corrupt = torchTrain(['--out', out, '--resume', '--steps', '3']);
  assert.equal(corrupt.status, 1);
  assert.ok(corrupt.stderr.includes(`${model}: header length`), corrupt.stderr);
  assert.ok(existsSync(path.join(out, 'checkpoints', 'step-000001', 'model.safetensors')), 'the earlier checkpoint is untouched');
});

test('a dataset with an id outside every modality is refused, naming the file and the first bad position', { skip }, () => {
  const bad = path.join(root, 'bad-data');
  mkdirSync(bad);
  const spec = JSON.parse(readFileSync(path.join(data, 'dataset.json'), 'utf8'));
  writeFileSync(path.join(bad, 'dataset.json'), JSON.stringify(spec));
  const tokens = new Uint16Array(5000).map((_, i) => i % 100);
  tokens[1234] = spec.vocab_size + 7;
  for (const split of ['train', 'val'])
    writeFileSync(path.join(bad, `${split}.tokens.npy`), encodeNpy({ dtype: '<u2', shape: [tokens.length], data: tokens }));
  const r = torchTrain(['--config', 'mot', '--size', 'tiny', '--data', bad, '--out', path.join(root, 'bad-data-run')]);
  assert.equal(r.status, 1);
  assert.ok(
    r.stderr.includes(`${path.join(bad, 'train.tokens.npy')}: 1 invalid token id(s); the first is ${spec.vocab_size + 7} at position 1234`),
    r.stderr,
  );
});

test('a non-finite loss stops the run, names the problem and keeps the last good checkpoint', { skip }, () => {
  // Three sane steps, then the user raises the learning rate to 1e30 in run.json and resumes:
  // the first update at that rate ruins the weights, and the step after it fails.
  const out = path.join(root, 'nan');
  const cfg = configFile('nan', { preset: 'mot', size: 'tiny', training: { checkpoint_every: 1, steps: 3 } });
  assert.equal(torchTrain(['--config', cfg, '--data', data, '--out', out]).status, 0);
  const runJson = readJson(path.join(out, 'run.json')) as { training: object };
  writeFileSync(path.join(out, 'run.json'), JSON.stringify({ ...runJson, training: { ...runJson.training, lr: 1e30, grad_clip: 0 } }));
  const r = torchTrain(['--out', out, '--resume', '--steps', '10']);
  assert.equal(r.status, 1);
  const stopped = Number(/Training stopped at step (\d+): the (loss|gradient norm) is (NaN|Infinity|-Infinity)/.exec(r.stderr)?.[1]);
  assert.ok(stopped >= 5, r.stderr);
  // Step `stopped` ran on the weights of step stopped-1: that checkpoint is named as broken, not as good.
  assert.ok(r.stderr.includes(`Checkpoint step ${stopped - 1} holds the weights that gave it.`), r.stderr);
  const lastGood = Number(/last good checkpoint is step (\d+)/.exec(r.stderr)?.[1]);
  assert.equal(lastGood, stopped - 2, r.stderr);
  assert.equal(readJson(path.join(out, 'run.json')).status, 'failed');
  for (let step = 1; step < stopped; step++)
    assert.ok(existsSync(path.join(out, 'checkpoints', `step-${String(step).padStart(6, '0')}`, 'model.safetensors')), `step ${step} kept`);
  const ok = motlab(['eval', '--run', out, '--checkpoint', String(lastGood), '--json', '--engine', 'wasm']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(Number.isFinite(JSON.parse(ok.stdout).loss.all), ok.stdout);
});

test('motlab_torch.command prints the torchrun plan: files to copy, the command on each node, the way back', { skip }, () => {
  const cfg = configFile('cluster', { preset: 'mot-moe', size: 'base', training: { steps: 5000 } });
  const r = torchModule('command', [
    '--config',
    cfg,
    '--data',
    data,
    '--nnodes',
    '2',
    '--nproc-per-node',
    '8',
    '--host',
    'gpu.example.org',
    '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  const locals = plan.files.map((f: { local: string }) => f.local);
  assert.deepEqual(locals, [path.join(REPO, 'python', 'motlab_torch'), cfg, data]);
  for (const f of locals) assert.ok(existsSync(f), f);
  const cmd: string[] = plan.command;
  assert.deepEqual(cmd.slice(0, 3), ['torchrun', '--nnodes=2', '--nproc-per-node=8']);
  assert.ok(cmd.includes('--node-rank=$NODE_RANK'));
  const train = cmd.slice(cmd.indexOf('-m') + 1);
  assert.deepEqual(train, [
    'motlab_torch.train',
    '--config',
    'motlab-job/cluster.json',
    '--data',
    'motlab-job/data/data',
    '--out',
    'motlab-job/runs/mot-moe-base',
    '--device',
    'cuda',
  ]);
  assert.equal(plan.env.PYTHONPATH, 'motlab-job');
  assert.match(plan.fetch, /^rsync -a gpu\.example\.org:motlab-job\/runs\/mot-moe-base\/ \.\/runs\/mot-moe-base\/$/);

  const text = torchModule('command', ['--config', 'mot', '--size', 'small', '--data', data, '--nproc-per-node', '4']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(
    text.stdout,
    /torchrun --standalone --nproc-per-node=4 -m motlab_torch\.train --config mot --size small --data motlab-job\/data\/data/,
  );
  assert.match(text.stdout, /python3 -m motlab_torch\.train --nproc 4 /);

  const bad = torchModule('command', ['--config', 'nonsense', '--data', data]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /"nonsense" is neither a preset/);
});
