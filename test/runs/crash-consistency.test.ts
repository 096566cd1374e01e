/**
 * Crash consistency of training through the real `motlab train`: kill -9 at random instants
 * of checkpoint writes (a checkpoint every step), sometimes with the newest checkpoint
 * damaged so that the resume re-writes that step over an incomplete folder. After every kill
 * each listed checkpoint must load and carry a valid state; at the end, the resumed run must
 * have exactly the losses of a run that was never interrupted.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { listCheckpoints, readCheckpoint } from '../../src-main/checkpoints/run-folder.ts';
import { parseTrainState } from '../../src-main/training/state.ts';
import { Rng } from '../../src-main/util/rng.ts';
import { metricsOf, motlab, motlabAsync, resumeArgs, tinyTrainArgs, trainLosses } from '../training/helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-crash-'));
const data = path.join(root, 'data');
after(() => rmSync(root, { recursive: true, force: true }));
before(() => assert.equal(motlab(['data', 'synth', '--out', data, '--tokens', '40000', '--seed', '8']).status, 0));

const KILLS = 6;
/** Every how many kills the newest checkpoint is damaged before resuming (forcing a re-write). */
const DAMAGE_EVERY = 2;
/** The kill lands up to this many ms (at random) after a checkpoint write begins: about as long as one takes. */
const MAX_KILL_DELAY_MS = 12;
const SETTINGS = ['--steps', '14', '--checkpoint-every', '1', '--eval-every', '5', '--seed', '9'];

const newArgs = (out: string) => tinyTrainArgs(data, out, SETTINGS);
const lastStep = (out: string) => Math.max(0, ...trainLosses(out).keys());

async function assertEveryListedCheckpointLoads(out: string): Promise<number> {
  const list = await listCheckpoints(out);
  for (const { step, dir } of list) {
    const checkpoint = await readCheckpoint(out, step); // throws on any partial or corrupt file
    assert.ok(checkpoint.optimizer, `${dir} has its optimizer state`);
    assert.equal(parseTrainState(checkpoint.state, dir).step, step);
  }
  return list.length;
}

test(
  'kill -9 around checkpoint writes: every listed checkpoint loads; resume matches the uninterrupted run bit for bit',
  { timeout: 600_000 },
  async () => {
    const full = path.join(root, 'full');
    assert.equal(motlab(newArgs(full)).status, 0);

    const out = path.join(root, 'killed');
    const rng = new Rng(2026);
    let leftBehind = 0;
    let damaged = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const child = motlabAsync(kill === 0 ? newArgs(out) : resumeArgs(out));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      let stderr = '';
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      if (kill === 0) {
        // The first run is killed at a random instant after step 2: step 1's checkpoint exists to resume from.
        while (lastStep(out) < 2) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, rng.int(MAX_KILL_DELAY_MS)));
      } else {
        // Later ones at a random instant of the first, second or third checkpoint write after the
        // resume (a write begins when its temporary folder appears).
        let writesToSkip = rng.int(3);
        await new Promise<void>((resolve) => {
          const watcher = watch(path.join(out, 'checkpoints'), (_event, name) => {
            if (!name?.startsWith('.tmp-step-') || writesToSkip-- > 0) return;
            watcher.close();
            setTimeout(resolve, rng.int(MAX_KILL_DELAY_MS));
          });
          void exited.then(() => {
            watcher.close();
            resolve();
          });
        });
      }
      assert.equal(child.exitCode, null, `the run ended before it could be killed: ${stderr}`);
      child.kill('SIGKILL');
      await exited;
      if (readdirSync(path.join(out, 'checkpoints')).some((e) => e.startsWith('.'))) leftBehind++;
      assert.ok((await assertEveryListedCheckpointLoads(out)) >= 1, `after kill ${kill + 1}`);
      const listed = await listCheckpoints(out);
      if (kill % DAMAGE_EVERY === DAMAGE_EVERY - 1 && listed.length >= 2) {
        // Damage the newest checkpoint: the resume goes back one step and re-writes this one.
        rmSync(path.join(listed.at(-1)!.dir, 'state.json'));
        damaged++;
      }
    }
    const finished = motlab(resumeArgs(out));
    assert.equal(finished.status, 0, finished.stderr);
    await assertEveryListedCheckpointLoads(out);

    assert.deepEqual([...trainLosses(out)], [...trainLosses(full)], 'train losses, bit for bit');
    const evals = (dir: string) =>
      metricsOf(dir)
        .filter((r) => r.type === 'eval')
        .map((r) => [r.step, (r.loss as { all: number }).all]);
    assert.deepEqual(evals(out), evals(full));
    // A damaged folder is kept as step-N.incomplete-<time> when a resume re-writes its step, or
    // stays as it is when a kill had left a complete copy of the next step, which the resume
    // restored and went on from (the damaged step then is never re-written).
    const entries = readdirSync(path.join(out, 'checkpoints'));
    const incomplete = entries.filter(
      (e) => e.includes('.incomplete-') || (/^step-\d+$/.test(e) && !existsSync(path.join(out, 'checkpoints', e, 'state.json'))),
    );
    assert.equal(
      incomplete.length,
      damaged,
      `every damaged step folder is kept (renamed or as it is), never deleted; checkpoints/ holds ${entries.join(', ')}`,
    );
    console.log(`# crash test: ${KILLS} kills, ${leftBehind} left a write in progress, ${damaged} re-writes over a damaged step`);
  },
);
