/**
 * run.json, the run's identity card (docs/runs.md): config, dataset reference, engine, seed and
 * status. It belongs to the run service: the trainer never reads or writes it (it is handed the
 * configs and reports statuses), so the training config schema stays where it is defined.
 * Every rewrite is atomic (checkpoints/atomic.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { modelConfigSchema } from '../model/config.ts';
import { trainingConfigSchema } from '../training/config.ts';
import { MAX_WORKERS } from '../training/workers/count.ts';
import { MotlabError } from '../common/errors.ts';
import { STORED_RUN_STATUSES } from '../common/vocabulary.ts';
import { importedSourceSchema } from '../common/imported-source.ts';
import { parseOrThrow } from '../common/validate.ts';
import { writeFileAtomic } from '../checkpoints/atomic.ts';
import { MAX_JSON_FILE_BYTES, readRegularText } from '../data/regular-file.ts';
import { oneLine } from '../common/text.ts';

export const runJsonSchema = z.strictObject({
  name: z.string().min(1),
  created: z.iso.datetime({ offset: true }),
  preset: z.string().optional(),
  size: z.string().optional(),
  model: modelConfigSchema,
  training: trainingConfigSchema,
  dataset: z.strictObject({ path: z.string(), name: z.string() }),
  engine: z.string().min(1),
  /**
   * Gradient workers (docs/workers.md): asked for at creation, then the number the last training
   * process used; a resume without --workers trains with it again. Absent: the cores available.
   */
  workers: z.number().int().positive().max(MAX_WORKERS).optional(),
  seed: z.number().int().nonnegative(),
  status: z.enum(STORED_RUN_STATUSES),
  /** Why the run stopped or failed, in words a person can act on. */
  message: z.string().optional(),
  /** Process id of the last trainer (informative only: the run lock, runs/lock.ts, says who owns the run). */
  pid: z.number().int().positive().optional(),
  updated: z.iso.datetime({ offset: true }),
  /** Set for a run imported from a checkpoint trained elsewhere (importers/). */
  source: importedSourceSchema.optional(),
});
export type RunJson = z.infer<typeof runJsonSchema>;

export const RUN_JSON = 'run.json';

export async function readRunJson(runDir: string): Promise<RunJson> {
  const file = join(runDir, RUN_JSON);
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_config', what: 'run.json' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new MotlabError('not_found', `${file}: no run.json (is ${runDir} a run folder?)`);
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new MotlabError('invalid_config', `${file}: not valid JSON (${oneLine((e as Error).message, 200)})`);
  }
  return parseOrThrow(runJsonSchema, value, file);
}

export async function writeRunJson(runDir: string, run: RunJson): Promise<void> {
  const valid = parseOrThrow(runJsonSchema, run, `run.json for ${runDir}`);
  await mkdir(runDir, { recursive: true });
  await writeFileAtomic(join(runDir, RUN_JSON), JSON.stringify(valid, null, 2) + '\n');
}

/**
 * Read, patch, stamp `updated`, write back. A key present in `patch` with the value undefined
 * removes that field (e.g. `{ status: 'completed', pid: undefined }`).
 */
export async function updateRunJson(
  runDir: string,
  patch: Partial<Pick<RunJson, 'status' | 'message' | 'pid' | 'engine' | 'workers' | 'training'>>,
): Promise<RunJson> {
  const run = await readRunJson(runDir);
  const next: RunJson = { ...run, ...patch, updated: new Date().toISOString() };
  for (const key of Object.keys(patch) as (keyof typeof patch)[]) {
    if (patch[key] === undefined) delete next[key];
  }
  await writeRunJson(runDir, next);
  return next;
}
