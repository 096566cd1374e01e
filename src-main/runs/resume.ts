/**
 * Continuing a run: from its newest complete checkpoint, or (restart) from step 0 with the old
 * history archived. Nothing is lost or duplicated silently: without a usable checkpoint a
 * resume is refused (and says how to restart), incomplete step folders are reported and kept,
 * and a restart moves the old metrics and checkpoints aside instead of deleting them.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import {
  CHECKPOINTS_DIR,
  describeIncomplete,
  incompleteNewerThanLatest,
  METRICS_FILE,
  OPTIMIZER_FILE,
  restorableCheckpoints,
  scanCheckpoints,
} from '../checkpoints/run-folder.ts';
import { fsyncDir } from '../checkpoints/atomic.ts';
import { trainingConfigSchema } from '../training/config.ts';
import { MotlabError } from '../common/errors.ts';
import { parseOrThrow } from '../common/validate.ts';
import { definedOnly, type TrainingOverrides } from './create.ts';
import { readRunJson, RUN_JSON, writeRunJson, type RunJson } from './run-json.ts';
import { inspectRunLock, ownerDescription, unlockedTrainerAlive } from './lock.ts';
import { ACTIVE_STATUSES } from '../common/vocabulary.ts';

/** Where a restart puts the history it replaces: `<run>/archive/<time>/`. */
const ARCHIVE_DIR = 'archive';

export interface ResumeRequest {
  overrides: TrainingOverrides;
  /** Train again from step 0; the old metrics and checkpoints move to archive/<time>/. */
  restart: boolean;
}

export interface ResumePlan {
  /** run.json with the overrides applied. */
  run: RunJson;
  /** The checkpoint step training continues from; null for a restart from step 0. */
  from: number | null;
  /** What a person should know (incomplete step folders passed over, where a restart archives). */
  notes: string[];
}

const restartHint = (runDir: string) =>
  `restart it to train again from step 0 (motlab train --restart, or continueRun with restart): ` +
  `its metrics and checkpoints are moved to ${path.join(runDir, ARCHIVE_DIR)}/, not deleted`;

/** Check that the run in `runDir` can continue as asked, writing nothing. */
export async function planResume(runDir: string, request: ResumeRequest): Promise<ResumePlan> {
  if (!existsSync(path.join(runDir, RUN_JSON)))
    throw new MotlabError('not_found', `${runDir} holds no run to resume (no run.json); drop --resume to start a new run there`);
  const stored = await readRunJson(runDir);
  const lock = await inspectRunLock(runDir);
  // (The run service calls this again under its own lock, which is no conflict.)
  if (lock.state === 'held' && lock.holder.pid !== process.pid)
    throw new MotlabError('conflict', `${runDir} is already being trained by ${ownerDescription(lock.holder)}; stop it first`);
  if (ACTIVE_STATUSES.includes(stored.status) && unlockedTrainerAlive(lock, stored.pid))
    throw new MotlabError(
      'conflict',
      `${runDir}: run.json says process ${stored.pid} is training it (${stored.status}), and that process exists; ` +
        'it holds no run lock (an earlier lab or PyTorch trainer), so the lab cannot tell more: stop it first',
    );
  const { seed, ...settings } = request.overrides;
  if (seed !== undefined && seed !== stored.seed)
    throw new MotlabError('invalid_config', `--seed cannot change on --resume (the run was started with seed ${stored.seed})`);
  const training = parseOrThrow(trainingConfigSchema, { ...stored.training, ...definedOnly(settings) }, 'training settings');
  const run = { ...stored, training };
  if (request.restart)
    return { run, from: null, notes: [`the earlier metrics and checkpoints are moved to ${path.join(runDir, ARCHIVE_DIR)}/`] };

  const scan = await scanCheckpoints(runDir);
  // The trainer first puts back what an interrupted write left complete; plan with it.
  const restored = (await restorableCheckpoints(runDir)).at(-1);
  const listed = scan.complete.at(-1);
  if (restored && (!listed || restored.step > listed.step)) {
    const skipped = scan.incomplete.filter((c) => c.step > restored.step);
    const notes = [
      `${restored.dir} will be restored from a complete copy an interrupted write left behind (${restored.copy}); resuming from step ${restored.step}`,
      ...skipped.map((c) => `${describeIncomplete(c)}; resuming from step ${restored.step}, and the folder is kept`),
    ];
    return { run, from: restored.step, notes };
  }
  const latest = listed;
  const skipped = incompleteNewerThanLatest(scan);
  if (!latest) {
    const why = skipped.length ? ` (${skipped.map(describeIncomplete).join('; ')})` : '';
    throw new MotlabError('conflict', `${runDir} has no complete checkpoint to resume from${why}; ${restartHint(runDir)}`);
  }
  if (!existsSync(path.join(latest.dir, OPTIMIZER_FILE)))
    throw new MotlabError(
      'conflict',
      `${latest.dir} has no ${OPTIMIZER_FILE}, so training cannot continue exactly from it; ${restartHint(runDir)}`,
    );
  const notes = skipped.map((c) => `${describeIncomplete(c)}; resuming from step ${latest.step}, and the folder is kept`);
  return { run, from: latest.step, notes };
}

/** Carry out a plan (the caller holds the run lock): store the settings; for a restart, archive the history. */
export async function applyResume(runDir: string, plan: ResumePlan): Promise<void> {
  await writeRunJson(runDir, { ...plan.run, updated: new Date().toISOString() });
  if (plan.from === null) await archiveHistory(runDir);
}

/** Move metrics.jsonl and checkpoints/ into archive/<time>/ (renames: nothing is copied or deleted). */
async function archiveHistory(runDir: string): Promise<string> {
  const dir = path.join(runDir, ARCHIVE_DIR, new Date().toISOString().replace(/[:.]/g, '-'));
  await mkdir(dir, { recursive: true });
  for (const entry of [METRICS_FILE, CHECKPOINTS_DIR]) {
    if (existsSync(path.join(runDir, entry))) await rename(path.join(runDir, entry), path.join(dir, entry));
  }
  await fsyncDir(dir);
  await fsyncDir(runDir);
  return dir;
}
