/**
 * The PyTorch trainer (python/motlab_torch) across processes: DistributedDataParallel over gloo,
 * started by its own `--nproc 2` launcher or as torchrun would start it (RANK, WORLD_SIZE, …),
 * trains like one process with the same global batch;
 * the lab reads the run folder it writes; a stopped or killed run resumes exactly.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readMetrics } from '../../src-main/checkpoints/run-folder.ts';
import { parseMetricsRecord } from '../../src-main/common/metrics.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import {
  lossesClose,
  motlab,
  PYTHON,
  readJson,
  recordsOf,
  TORCH_SCRIPT,
  torchAvailable,
  torchTrain,
  torchTrainLaunched,
  torchTrainLive,
} from './helpers.ts';

const skip = torchAvailable ? false : 'python3-torch is not installed (apt-get install python3-torch)';
if (skip) console.log(`\n#\n# SKIPPING the PyTorch trainer tests: ${skip}\n#\n`);

const root = mkdtempSync(path.join(tmpdir(), 'motlab-ddp-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));
before(() => {
  if (skip) return;
  const r = motlab(['data', 'synth', '--out', data, '--tokens', '40000', '--seed', '5']);
  assert.equal(r.status, 0, r.stderr);
});

function configFile(name: string, content: object): string {
  const file = path.join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const MOT = { preset: 'mot', size: 'tiny', training: { steps: 20, checkpoint_every: 10, eval_every: 10 } };
const one = path.join(root, 'mot-1proc');
const two = path.join(root, 'mot-2proc');

function train(config: string, out: string, extra: string[] = []): void {
  const r = torchTrain(['--config', config, '--data', data, '--out', out, ...extra]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
}

/** Every train and eval record of `b` equals `a`'s within `tol` (losses, gradient norms, MoE routing). */
function sameTrajectory(a: string, b: string, tol: number): void {
  const ra = recordsOf(a);
  const rb = recordsOf(b);
  assert.deepEqual([...rb.train.keys()], [...ra.train.keys()]);
  assert.deepEqual([...rb.eval.keys()], [...ra.eval.keys()]);
  for (const [step, x] of ra.train) {
    const y = rb.train.get(step)!;
    lossesClose(y.loss, x.loss, tol, `train step ${step}`);
    assert.ok(Math.abs(y.grad_norm - x.grad_norm) <= tol * Math.max(1, x.grad_norm), `grad norm at step ${step}`);
    const towers = x.grad_norm_towers as Record<string, number>;
    for (const [k, v] of Object.entries(towers))
      assert.ok(Math.abs((y.grad_norm_towers as Record<string, number>)[k] - v) <= tol * Math.max(1, v), k);
    assert.equal(y.tokens, x.tokens);
    assert.equal(y.lr, x.lr);
    if (x.moe) {
      type Tower = { tokens: number; capacity: number; tokensPerExpert: number[]; dropped: number; expertsPerToken: number[] | null };
      const strip = (m: unknown) =>
        (m as { towers: Tower[] }[]).map((l) =>
          l.towers.map(({ tokens, capacity, tokensPerExpert, dropped, expertsPerToken }) => ({
            tokens,
            capacity,
            tokensPerExpert,
            dropped,
            expertsPerToken,
          })),
        );
      assert.deepEqual(strip(y.moe), strip(x.moe), `routing at step ${step}`);
    }
  }
  for (const [step, x] of ra.eval) lossesClose(rb.eval.get(step)!.loss, x.loss, tol, `eval step ${step}`);
}

test('2 processes (DDP over gloo) train a tiny MoT exactly like one process with the same global batch (1e-5)', { skip }, () => {
  const config = configFile('mot', MOT);
  train(config, one);
  train(config, two, ['--nproc', '2']);
  sameTrajectory(one, two, 1e-5);
  const records = recordsOf(two);
  assert.equal(records.train.size, 20);
  assert.ok(records.train.get(20)!.loss.all! < records.train.get(1)!.loss.all! - 0.2, 'it learns');
  const run = readJson(path.join(two, 'run.json'));
  assert.equal(run.engine, 'torch');
  assert.equal(run.status, 'completed');
  assert.deepEqual(readdirSync(path.join(two, 'checkpoints')), ['step-000010', 'step-000020']);
});

test('MoE under DDP routes over the global batch: expert choice (MoT-MoE, accumulation, uneven shares) and token choice', { skip }, () => {
  const cases = {
    'mot-moe': {
      preset: 'mot-moe',
      size: 'tiny',
      training: { steps: 6, batch_size: 3, grad_accum: 2, eval_every: 3, checkpoint_every: 6 },
    },
    'moe-topk': {
      preset: 'moe4x-topk',
      size: 'tiny',
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
      training: { steps: 6, eval_every: 3, checkpoint_every: 6 },
    },
  };
  for (const [name, content] of Object.entries(cases)) {
    const config = configFile(name, content);
    train(config, path.join(root, `${name}-1`));
    train(config, path.join(root, `${name}-2`), ['--nproc', '2']);
    sameTrajectory(path.join(root, `${name}-1`), path.join(root, `${name}-2`), 1e-5);
    const moe = recordsOf(path.join(root, `${name}-2`)).train.get(6)!.moe as { layer: number; towers: { routing: string }[] }[];
    assert.equal(moe.length, 2, 'one routing entry per layer');
    assert.equal(moe[0].towers[0].routing, content.preset === 'mot-moe' ? 'expert_choice' : 'token_choice');
  }
});

test('motlab eval on the 2-process checkpoint equals the PyTorch evaluation to 1e-4', { skip }, () => {
  const r = motlab(['eval', '--run', two, '--checkpoint', 'latest', '--json', '--engine', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  const lab = JSON.parse(r.stdout.trim());
  const ours = recordsOf(two).eval.get(20)!; // written by the trainer at step 20, same windows
  assert.equal(lab.step, 20);
  assert.equal(lab.windows, ours.windows);
  for (const [k, v] of Object.entries(ours.loss))
    assert.ok(Math.abs(lab.loss[k] - v!) <= 1e-4 * Math.abs(v!), `${k}: lab ${lab.loss[k]}, PyTorch ${v}`);
  // And the parity script (bench/torch_mot.py) on the same checkpoint file.
  const script = JSON.parse(
    execFileSync(
      PYTHON,
      [
        TORCH_SCRIPT,
        'eval',
        '--checkpoint',
        path.join(two, 'checkpoints', 'step-000020'),
        '--data',
        data,
        '--windows',
        String(ours.windows),
        '--json',
      ],
      {
        encoding: 'utf8',
      },
    ),
  );
  for (const [k, v] of Object.entries(ours.loss)) assert.ok(Math.abs(script.loss[k] - v!) <= 1e-6, k);
});

test('the lab reads the run: motlab info, its metrics reader, motlab compare', { skip }, async () => {
  const r = motlab(['info', '--run', two, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.engine, 'torch');
  assert.equal(info.status, 'completed');
  assert.deepEqual(info.checkpoints, [10, 20]);
  const spec = JSON.parse(readFileSync(path.join(data, 'dataset.json'), 'utf8'));
  assert.deepEqual(info.model, buildModelConfig('mot', 'tiny', spec), 'the preset, as the lab builds it');
  assert.equal(info.training.steps, 20);

  const { records } = await readMetrics(two);
  for (const record of records) assert.ok('record' in parseMetricsRecord(record), JSON.stringify(parseMetricsRecord(record)));
  assert.equal(records.filter((x) => x.type === 'train').length, 20);
  assert.equal(records.filter((x) => x.type === 'eval').length, 3);
  const trainKeys = [
    'elapsed_s',
    'flops',
    'grad_norm',
    'grad_norm_towers',
    'loss',
    'lr',
    'step',
    'step_ms',
    'time',
    'tokens',
    'tokens_per_s',
    'type',
  ];
  assert.deepEqual(Object.keys(records.find((x) => x.type === 'train')!).sort(), trainKeys);
  const towers = Object.keys(records.find((x) => x.type === 'train')!.grad_norm_towers as object).sort();
  assert.deepEqual(towers, [
    'attention.image',
    'attention.speech',
    'attention.text',
    'embed',
    'ffn.image',
    'ffn.speech',
    'ffn.text',
    'norm.image',
    'norm.speech',
    'norm.text',
    'output',
  ]);
  assert.deepEqual(Object.keys(records.find((x) => x.type === 'eval')!).sort(), ['loss', 'split', 'step', 'time', 'type', 'windows']);
  // FLOPs as the lab counts them (info's flops_per_token) times the tokens seen.
  const last = records.filter((x) => x.type === 'train').at(-1)!;
  assert.equal(last.flops, info.flops_per_token.train * (last.tokens as number));

  const c = motlab(['compare', '--reference', one, '--run', two, '--json']);
  assert.equal(c.status, 0, c.stderr);
  const report = JSON.parse(c.stdout);
  assert.deepEqual(report.modalities, ['all', 'text', 'image', 'speech']);
  for (const m of report.rows) assert.ok(Math.abs(m.slope - 1) < 1e-3, `${m.modality}: the same curve, slope ${m.slope}`);
});

test(
  'a 2-process run stopped by SIGTERM resumes exactly under a launcher (--resume reproduces the uninterrupted losses)',
  { skip },
  async () => {
    const out = path.join(root, 'mot-2proc-stopped');
    let stopped = false;
    const first = await torchTrainLive(['--config', configFile('mot', MOT), '--data', data, '--out', out, '--nproc', '2'], (e, child) => {
      if (!stopped && e.type === 'metrics' && e.record!.type === 'train' && e.record!.step >= 7) {
        stopped = true;
        child.kill('SIGTERM');
      }
    });
    assert.equal(first.code, 0, first.stderr);
    const run = readJson(path.join(out, 'run.json'));
    assert.equal(run.status, 'stopped');
    const at = Number(/stopped at step (\d+) of 20/.exec(run.message as string)![1]);
    assert.ok(at >= 7 && at < 20, `stopped at ${at}`);
    assert.ok(readdirSync(path.join(out, 'checkpoints')).includes(`step-${String(at).padStart(6, '0')}`), 'a checkpoint at the stop');

    // Resumed by two processes started as torchrun or srun would start them (RANK, WORLD_SIZE, …).
    const ranks = await torchTrainLaunched(['--out', out, '--resume'], 2);
    ranks.forEach((r, rank) => assert.equal(r.status, 0, `rank ${rank}: ${r.stderr}`));
    assert.match(ranks[0].stdout, /completed: completed 20 steps/);
    assert.equal(ranks[1].stdout, '', 'only rank 0 reports');
    sameTrajectory(two, out, 0); // bit for bit
  },
);

test(
  'one process: SIGUSR1 pauses, SIGUSR2 resumes, and after SIGKILL --resume continues from the last checkpoint exactly',
  { skip },
  async () => {
    const out = path.join(root, 'mot-killed');
    const seen: string[] = [];
    let statusWhilePaused: unknown;
    let paused = false;
    let killed = false;
    const first = await torchTrainLive(['--config', configFile('mot', MOT), '--data', data, '--out', out], (e, child) => {
      if (e.type === 'status') {
        seen.push(e.status!);
        if (e.status === 'paused') {
          statusWhilePaused = readJson(path.join(out, 'run.json')).status;
          child.kill('SIGUSR2');
        }
      }
      if (e.type !== 'metrics' || e.record!.type !== 'train') return;
      if (!paused && e.record!.step >= 3) {
        paused = true;
        child.kill('SIGUSR1');
      }
      if (!killed && e.record!.step >= 13) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    assert.equal(first.signal, 'SIGKILL');
    assert.deepEqual(seen, ['running', 'paused', 'running']);
    assert.equal(statusWhilePaused, 'paused');
    assert.ok(recordsOf(out).train.size >= 13, 'records after the last checkpoint (step 10) exist before the resume');

    const second = torchTrain(['--out', out, '--resume']);
    assert.equal(second.status, 0, second.stderr);
    sameTrajectory(one, out, 0);
    assert.equal(readJson(path.join(out, 'run.json')).status, 'completed');
  },
);
