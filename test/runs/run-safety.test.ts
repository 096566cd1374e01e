/**
 * Run safety through the real `motlab` command (issue 8): a second writer is refused, a resume
 * without a usable checkpoint refuses and says how to restart, a restart archives instead of
 * deleting, incomplete step folders are reported, passed over and kept, and a checkpoint's
 * state.json is validated before a resume.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseTrainState } from '../../src-main/training/state.ts';
import { metricsOf, motlab, motlabAsync, resumeArgs, tinyTrainArgs, trainLosses } from '../training/helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-safety-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));

before(() => {
  const r = motlab(['data', 'synth', '--out', data, '--tokens', '60000', '--seed', '3']);
  assert.equal(r.status, 0, r.stderr);
});

const trainArgs = (out: string, extra: string[]) => tinyTrainArgs(data, out, extra);
const resume = (out: string, extra: string[] = []) => motlab(resumeArgs(out, extra));
const stepDirs = (out: string) =>
  readdirSync(path.join(out, 'checkpoints'))
    .filter((d) => d.startsWith('step-'))
    .sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start a long training run and wait until it has logged `steps` steps. */
async function startLongRun(out: string, extra: string[], steps: number) {
  const child = motlabAsync(trainArgs(out, ['--steps', '100000', ...extra]));
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  while (trainLosses(out).size < steps) {
    await sleep(25);
    if (child.exitCode !== null) assert.fail(`training ended early: ${stderr}`);
  }
  return { child, exited };
}

test('a second writer is refused while the run trains, and the run is intact afterwards', { timeout: 240_000 }, async () => {
  const out = path.join(root, 'two-writers');
  const { child, exited } = await startLongRun(out, ['--checkpoint-every', '2'], 3);
  const second = resume(out);
  assert.equal(second.status, 1);
  assert.match(second.stderr, new RegExp(`is already being trained by process ${child.pid} on .*; stop it first`));

  child.kill('SIGTERM'); // the protocol's "stop": a checkpoint at the current step, status stopped
  assert.equal(await exited, 0);
  const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.status, 'stopped');
  const steps = metricsOf(out)
    .filter((r) => r.type === 'train')
    .map((r) => r.step as number);
  assert.deepEqual(steps, [...new Set(steps)], 'one record per step: nobody else wrote');
  assert.equal(stepDirs(out).at(-1), `step-${String(steps.at(-1)).padStart(6, '0')}`);
  assert.equal(existsSync(path.join(out, '.lock')), false);

  const again = resume(out, ['--steps', String(steps.at(-1)! + 1)]);
  assert.equal(again.status, 0, again.stderr);
});

test('--resume without a usable checkpoint refuses and loses nothing; --restart archives the history', { timeout: 240_000 }, async () => {
  const out = path.join(root, 'no-checkpoint');
  const { child, exited } = await startLongRun(out, ['--checkpoint-every', '1000', '--seed', '4'], 3);
  child.kill('SIGKILL');
  await exited;
  const history = readFileSync(path.join(out, 'metrics.jsonl'));

  const refused = resume(out);
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /has no complete checkpoint to resume from; restart it to train again from step 0 \(motlab train --restart, or continueRun with restart\): its metrics and checkpoints are moved to .*archive\/, not deleted/,
  );
  assert.deepEqual(readFileSync(path.join(out, 'metrics.jsonl')), history, 'the history is untouched');
  assert.equal(existsSync(path.join(out, 'checkpoints')), false);

  const restarted = motlab(['train', '--out', out, '--restart', '--steps', '3', '--engine', 'wasm']);
  assert.equal(restarted.status, 0, restarted.stderr);
  const archives = readdirSync(path.join(out, 'archive'));
  assert.equal(archives.length, 1);
  assert.deepEqual(readFileSync(path.join(out, 'archive', archives[0], 'metrics.jsonl')), history, 'the old history is archived as it was');
  const records = metricsOf(out).map((r) => `${r.type} ${r.step}`);
  assert.deepEqual(records, ['eval 0', 'train 1', 'train 2', 'train 3', 'eval 3']);

  // A restart is a fresh start: the same losses as a run that was never interrupted.
  const fresh = path.join(root, 'fresh-4');
  assert.equal(motlab(trainArgs(fresh, ['--steps', '3', '--seed', '4'])).status, 0);
  assert.deepEqual([...trainLosses(out)], [...trainLosses(fresh)]);
});

test('an incomplete newest step folder is named, passed over by eval and resume, and kept', { timeout: 240_000 }, () => {
  const out = path.join(root, 'incomplete');
  assert.equal(motlab(trainArgs(out, ['--steps', '4', '--checkpoint-every', '2', '--seed', '6'])).status, 0);
  const losses = [...trainLosses(out)];
  rmSync(path.join(out, 'checkpoints', 'step-000004', 'state.json')); // damaged by hand

  const evaluated = motlab(['eval', '--run', out, '--checkpoint', 'latest', '--engine', 'wasm', '--json']);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  assert.equal(JSON.parse(evaluated.stdout).step, 2);
  assert.match(evaluated.stderr, /step-000004 is incomplete \(missing state\.json\); evaluating step 2, the newest complete one/);

  const resumed = resume(out);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /note: .*step-000004 is incomplete \(missing state\.json\); resuming from step 2, and the folder is kept/);
  assert.match(resumed.stdout, /note: .*step-000004 was incomplete \(missing state\.json\); it is kept as .*step-000004\.incomplete-/);
  const entries = readdirSync(path.join(out, 'checkpoints')).sort();
  assert.deepEqual(entries.slice(0, 2), ['step-000002', 'step-000004']);
  assert.equal(entries.length, 3);
  assert.match(entries[2], /^step-000004\.incomplete-/);
  assert.deepEqual(readdirSync(path.join(out, 'checkpoints', entries[2])).sort(), ['model.safetensors', 'optimizer.safetensors']);
  assert.deepEqual([...trainLosses(out)], losses, 'steps 3 and 4 trained again to the same losses');
});

test('a resume plans with the copy an interrupted write left complete, and goes on from it', { timeout: 240_000 }, () => {
  const out = path.join(root, 'interrupted-write');
  assert.equal(motlab(trainArgs(out, ['--steps', '4', '--checkpoint-every', '2', '--seed', '8'])).status, 0);
  const losses = [...trainLosses(out)];
  // A kill after step 4's copy was complete but before its rename; step 2, the newest folder
  // listed, is then damaged. The resume must neither refuse nor name step 2.
  const ck = path.join(out, 'checkpoints');
  renameSync(path.join(ck, 'step-000004'), path.join(ck, '.tmp-step-000004-1-abcd'));
  rmSync(path.join(ck, 'step-000002', 'state.json'));
  const resumed = resume(out, ['--steps', '5']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(
    resumed.stdout,
    /note: .*step-000004 will be restored from a complete copy an interrupted write left behind \(.*\.tmp-step-000004-1-abcd\); resuming from step 4/,
  );
  assert.doesNotMatch(resumed.stdout, /resuming from step 2/);
  assert.deepEqual([...trainLosses(out)].slice(0, 4), losses, 'steps 1 to 4 are not trained again');
  assert.deepEqual(stepDirs(out), ['step-000002', 'step-000004', 'step-000005']);
});

test("a checkpoint's state.json is validated before a resume", { timeout: 240_000 }, () => {
  const out = path.join(root, 'state');
  assert.equal(motlab(trainArgs(out, ['--steps', '2', '--checkpoint-every', '2'])).status, 0);
  const file = path.join(out, 'checkpoints', 'step-000002', 'state.json');
  const original = readFileSync(file, 'utf8');
  const state = JSON.parse(original);
  const { data_rng: _cursor, ...withoutCursor } = state;
  writeFileSync(file, JSON.stringify(withoutCursor));
  const refused = resume(out, ['--steps', '3']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /step-000002\/state\.json: cannot resume exactly from this state: data_rng: /);

  // The other ways a state is unusable, checked by the same reader.
  const { tokens: _tokens, ...withoutTokens } = state;
  assert.throws(() => parseTrainState(withoutTokens, file), /state\.json: cannot resume exactly from this state: tokens: /);
  assert.throws(() => parseTrainState({ ...state, data_rng: [0, 0, 0, 0] }, file), /data_rng: an all-zero generator state/);
  assert.throws(() => parseTrainState({ ...state, data_rng: [1, 2, 3] }, file), /data_rng/);
  assert.throws(() => parseTrainState({ ...state, step: -1 }, file), /step/);
  assert.deepEqual(parseTrainState(state, file), state);

  writeFileSync(file, original);
  const resumed = resume(out, ['--steps', '3']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).status, 'completed');
});
