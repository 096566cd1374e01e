/**
 * The training engine end to end through the real `motlab` command: reproducibility, exact
 * resume after SIGKILL, gradient accumulation, non-finite losses, bad configs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isAlive, metricsOf, motlab, motlabAsync, resumeArgs, tinyTrainArgs, trainLosses } from './helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-train-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));

before(() => {
  const r = motlab(['data', 'synth', '--out', data, '--tokens', '60000', '--seed', '3']);
  assert.equal(r.status, 0, r.stderr);
});

function train(out: string, extra: string[] = []) {
  return motlab(tinyTrainArgs(data, out, extra));
}

test('same seed and engine give identical losses; a different seed does not', () => {
  const a = path.join(root, 'repro-a');
  const b = path.join(root, 'repro-b');
  const c = path.join(root, 'repro-c');
  for (const [dir, seed] of [
    [a, '7'],
    [b, '7'],
    [c, '8'],
  ] as const) {
    const r = train(dir, ['--steps', '6', '--seed', seed]);
    assert.equal(r.status, 0, r.stderr);
  }
  assert.deepEqual([...trainLosses(a)], [...trainLosses(b)]);
  assert.notDeepEqual([...trainLosses(a)], [...trainLosses(c)]);
  // Plain lines (not a terminal): one per step with per-modality losses.
  assert.match(train(path.join(root, 'repro-d'), ['--steps', '2']).stdout, /step 2\/2 loss \d+\.\d+ \(text \d+\.\d+, image/);
});

test('a run killed with SIGKILL mid-run resumes to the losses of the uninterrupted run', async () => {
  const steps = ['--steps', '24', '--checkpoint-every', '4', '--eval-every', '6', '--seed', '11'];
  const full = path.join(root, 'full');
  assert.equal(train(full, steps).status, 0);

  const killed = path.join(root, 'killed');
  const child = motlabAsync(tinyTrainArgs(data, killed, steps));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // Kill once step 10 is logged: past the checkpoint at 8, before the one at 12.
  while (!(trainLosses(killed).get(10) !== undefined)) {
    await new Promise((r) => setTimeout(r, 20));
    if (child.exitCode !== null) assert.fail('the run finished before it could be killed');
  }
  child.kill('SIGKILL');
  await exited;
  const checkpointsBefore = readdirSync(path.join(killed, 'checkpoints')).filter((d) => d.startsWith('step-'));
  assert.ok(checkpointsBefore.includes('step-000008'), `checkpoints: ${checkpointsBefore}`);
  assert.ok(!checkpointsBefore.includes('step-000024'));

  const resumed = motlab(resumeArgs(killed));
  assert.equal(resumed.status, 0, resumed.stderr);
  const expected = trainLosses(full);
  const got = trainLosses(killed);
  assert.equal(got.size, 24);
  for (const [step, loss] of expected) assert.equal(got.get(step), loss, `step ${step}`);
  // Validation records too, exactly once per evaluated step.
  const evals = (dir: string) =>
    metricsOf(dir)
      .filter((r) => r.type === 'eval')
      .map((r) => [r.step, (r.loss as { all: number }).all]);
  assert.deepEqual(evals(killed), evals(full));
  const run = JSON.parse(readFileSync(path.join(killed, 'run.json'), 'utf8'));
  assert.equal(run.status, 'completed');
});

test('gradient accumulation of 2×4 windows trains like one batch of 8 (dense model)', () => {
  const one = path.join(root, 'accum-1');
  const two = path.join(root, 'accum-2');
  const cfg = (file: string, training: object) => {
    writeFileSync(file, JSON.stringify({ preset: 'dense', size: 'tiny', training: { steps: 4, ...training } }));
    return file;
  };
  const common = ['--data', data, '--engine', 'wasm'];
  assert.equal(
    motlab(['train', '--config', cfg(path.join(root, 'a1.json'), { batch_size: 8, grad_accum: 1 }), '--out', one, ...common]).status,
    0,
  );
  assert.equal(
    motlab(['train', '--config', cfg(path.join(root, 'a2.json'), { batch_size: 4, grad_accum: 2 }), '--out', two, ...common]).status,
    0,
  );
  // Same crops in the same order (one RNG draw per row), same mean gradient: same trajectory.
  for (const [step, loss] of trainLosses(one)) assert.ok(Math.abs(trainLosses(two).get(step)! - loss) < 1e-4, `step ${step}`);
});

test('a non-finite loss stops the run, names the problem and keeps the last good checkpoint', () => {
  // Three sane steps, then the user raises the learning rate to 1e30 in run.json and resumes:
  // the first update at that rate ruins the weights, and the step after it fails.
  const out = path.join(root, 'nan');
  assert.equal(train(out, ['--steps', '3', '--checkpoint-every', '1']).status, 0);
  const runJson = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
  writeFileSync(path.join(out, 'run.json'), JSON.stringify({ ...runJson, training: { ...runJson.training, lr: 1e30, grad_clip: 0 } }));
  const r = motlab(resumeArgs(out, ['--steps', '10']));
  assert.equal(r.status, 1);
  const stopped = Number(/Training stopped at step (\d+): the (loss|gradient norm) is (NaN|Infinity|-Infinity)/.exec(r.stderr)?.[1]);
  assert.ok(stopped >= 5, r.stderr);
  // Step `stopped` ran on the weights of step stopped-1: that checkpoint is named as broken, not as good.
  assert.ok(r.stderr.includes(`Checkpoint step ${stopped - 1} holds the weights that gave it.`), r.stderr);
  const lastGood = Number(/last good checkpoint is step (\d+)/.exec(r.stderr)?.[1]);
  assert.equal(lastGood, stopped - 2, r.stderr);
  assert.equal(JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).status, 'failed');
  const kept = readdirSync(path.join(out, 'checkpoints')).filter((d) => d.startsWith('step-'));
  assert.equal(kept.length, stopped - 1, `every checkpoint is kept: ${kept.join(', ')}`);
  const evalOk = motlab(['eval', '--run', out, '--checkpoint', String(lastGood), '--json', '--engine', 'wasm']);
  assert.equal(evalOk.status, 0, evalOk.stderr);
  assert.ok(Number.isFinite(JSON.parse(evalOk.stdout).loss.all), evalOk.stdout);
});

test('bad configs are refused with the field and the reason, and create nothing', () => {
  const cases: [object, RegExp][] = [
    [{ preset: 'mot', model: { n_heads: 3 } }, /n_heads: must divide d_model \(32\)/],
    [{ preset: 'mot', trainng: {} }, /Unrecognized key.*"trainng"/],
    [{ preset: 'mot', training: { lr: -1 } }, /training\.lr/],
    [
      {
        preset: 'mot',
        model: { towers: { attention: [['text']], ffn: [['text', 'image', 'speech']], norm: [['text', 'image', 'speech']] } },
      },
      /towers\.attention: modality "image" must be in exactly one tower/,
    ],
    [{ preset: 'nonsense' }, /preset/],
  ];
  cases.forEach(([content, message], i) => {
    const file = path.join(root, `bad-${i}.json`);
    writeFileSync(file, JSON.stringify(content));
    const out = path.join(root, `bad-run-${i}`);
    const r = motlab(['train', '--config', file, '--size', 'tiny', '--data', data, '--out', out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(existsSync(out), false);
  });
  const notJson = path.join(root, 'broken.json');
  writeFileSync(notJson, '{"preset": "mot",');
  assert.match(
    motlab(['train', '--config', notJson, '--data', data, '--out', path.join(root, 'x')]).stderr,
    /cannot read config file .*broken\.json/,
  );
  assert.match(motlab(['train', '--config', 'mot', '--data', path.join(root, 'missing'), '--out', path.join(root, 'y')]).stderr, /missing/);
  assert.match(
    motlab(['train', '--config', 'mot', '--data', data, '--out', path.join(root, 'z'), '--engine', 'tensorflow-gpu']).stderr,
    /CUDA 11\.2/,
  );
});

test('an existing run is never overwritten without --resume', () => {
  const out = path.join(root, 'existing');
  assert.equal(train(out, ['--steps', '2']).status, 0);
  const before = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8');
  const r = train(out, ['--steps', '2']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already holds a run; pass --resume/);
  assert.equal(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8'), before);
});

test('without --data a run trains on the built-in fashion-tri dataset', () => {
  const out = path.join(root, 'default-data');
  const r = motlab(['train', '--config', 'dense', '--size', 'tiny', '--steps', '1', '--out', out, '--engine', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
  const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.dataset.name, 'fashion-tri');
  assert.deepEqual(
    run.model.modalities.map((m: { name: string }) => m.name),
    ['text', 'image', 'speech'],
  );
});

test('a training child whose parent dies keeps training and completes', async () => {
  // The app runs training as a job child (`motlab job`); if the app is killed the run must go on.
  const out = path.join(root, 'orphan');
  const parentScript = fileURLToPath(new URL('./fixtures/orphan-parent.ts', import.meta.url));
  const parent = spawnSync(process.execPath, ['--import', 'tsx', parentScript, out, data], { encoding: 'utf8', timeout: 120_000 });
  const childPid = Number(parent.stdout.trim());
  assert.ok(childPid > 0, parent.stderr);
  while (isAlive(childPid)) await new Promise((r) => setTimeout(r, 100));
  const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.status, 'completed', run.message);
  assert.equal(run.seed, 0);
  assert.equal(trainLosses(out).size, 12);
  assert.ok(existsSync(path.join(out, 'train.log')), 'the job wrote its output to train.log');
  assert.equal(existsSync(path.join(out, '.lock')), false, 'the run lock is released');
});
