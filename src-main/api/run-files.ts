/**
 * What the API adds on top of src-main/checkpoints/run-folder.ts (the run-folder format's
 * reader/writer): lenient reading for display, the last training record from the file's
 * tail, and checkpoint sizes. Who owns a run is the run lock's business (runs/lock.ts).
 *
 * Lenient means: a damaged run folder (a hand-edited run.json, a folder or FIFO where a file
 * should be, garbage in metrics.jsonl) still yields what can be shown of it, every field checked
 * for its type, and never an exception that would take the whole Runs list down with it.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listCheckpoints, METRICS_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE } from '../checkpoints/run-folder.ts';
import { readRunJson, RUN_JSON, type RunJson } from '../runs/run-json.ts';
import { moeConfigSchema } from '../model/config.ts';
import { errnoOf, MAX_JSON_FILE_BYTES, openRegularFile, readRegularText } from '../data/regular-file.ts';
import { parseMetricsRecord, type TrainRecord } from '../common/metrics.ts';
import { oneLine } from '../common/text.ts';
import { STORED_RUN_STATUSES } from '../common/vocabulary.ts';
import type { CheckpointInfo, RunSummary } from '../common/api/types.ts';

/** The fields of a run.json that passed their own type check (the rest are left out). */
export type RunJsonShown = Partial<Omit<RunJson, 'model' | 'training'>> & {
  model?: Partial<RunJson['model']> & { modalities?: RunJson['model']['modalities'] };
  training?: Partial<RunJson['training']>;
};

export type RunJsonRead = { ok: true; run: RunJson } | { ok: false; missing: boolean; message: string; raw: RunJsonShown | null };

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown, max = 500): string | undefined => (typeof v === 'string' ? v.slice(0, max) : undefined);
const wholeNumber = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

/** Keep only the fields of a raw run.json that have the type the API promises. */
export function shownFieldsOf(raw: unknown): RunJsonShown | null {
  if (!isObject(raw)) return null;
  const out: RunJsonShown = {};
  for (const key of ['name', 'created', 'updated', 'preset', 'size', 'engine', 'message'] as const) {
    const v = text(raw[key], key === 'message' ? 2000 : 200);
    if (v !== undefined) out[key] = v;
  }
  if ((STORED_RUN_STATUSES as readonly unknown[]).includes(raw.status)) out.status = raw.status as RunJson['status'];
  const pid = wholeNumber(raw.pid);
  if (pid !== undefined && pid > 0) out.pid = pid;
  const seed = wholeNumber(raw.seed);
  if (seed !== undefined) out.seed = seed;
  if (isObject(raw.dataset)) {
    const name = text(raw.dataset.name, 200);
    const path = text(raw.dataset.path, 4096);
    if (name !== undefined && path !== undefined) out.dataset = { name, path };
  }
  if (isObject(raw.model)) {
    const model: NonNullable<RunJsonShown['model']> = {};
    const m = raw.model;
    for (const key of ['vocab_size', 'd_model', 'n_layers', 'n_heads', 'ffn_hidden', 'seq_len'] as const) {
      const v = wholeNumber(m[key]);
      if (v !== undefined) model[key] = v;
    }
    if (Array.isArray(m.modalities))
      model.modalities = m.modalities
        .filter((x): x is Raw => isObject(x) && typeof x.name === 'string')
        .slice(0, 16)
        .map((x) => ({ name: (x.name as string).slice(0, 64), start: wholeNumber(x.start) ?? 0, end: wholeNumber(x.end) ?? 0 }));
    if (isObject(m.towers)) {
      const groups = (v: unknown) =>
        Array.isArray(v) && v.every((g) => Array.isArray(g) && g.every((n) => typeof n === 'string')) ? (v as string[][]) : undefined;
      const attention = groups(m.towers.attention);
      const ffn = groups(m.towers.ffn);
      const norm = groups(m.towers.norm);
      if (attention && ffn && norm) model.towers = { attention, ffn, norm };
    }
    const moe = moeConfigSchema.safeParse(m.moe);
    if (moe.success) model.moe = moe.data;
    out.model = model;
  }
  if (isObject(raw.training)) {
    const training: Raw = {};
    for (const [k, v] of Object.entries(raw.training)) if (typeof v === 'number' && Number.isFinite(v)) training[k] = v;
    out.training = training as RunJsonShown['training'];
  }
  return out;
}

/**
 * The fields of a JSON object worth showing as they are: scalars and short lists of numbers (a
 * state.json's tokens, step, RNG state). Nested structure from a file is left out: it could be
 * nested deep enough to break whoever serialises it next.
 */
function flatFields(raw: Raw): Raw {
  const out: Raw = {};
  for (const [k, v] of Object.entries(raw).slice(0, 256)) {
    if (v === null || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'string') out[k] = v.slice(0, 500);
    else if (Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === 'number')) out[k] = v;
  }
  return out;
}

/** run.json validated; when it is not valid, still what can be shown of it (and why not). */
export async function readRunJsonForDisplay(runDir: string): Promise<RunJsonRead> {
  try {
    return { ok: true, run: await readRunJson(runDir) };
  } catch (error) {
    let raw: RunJsonShown | null = null;
    let missing = false;
    try {
      raw = shownFieldsOf(
        JSON.parse(await readRegularText(join(runDir, RUN_JSON), { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_config' })),
      );
    } catch (e) {
      missing = errnoOf(e) === 'ENOENT';
    }
    return { ok: false, missing, message: oneLine(error instanceof Error ? error.message : String(error)), raw };
  }
}

/**
 * The last training record, reading only the end of the file (runs can log many lines). A
 * metrics.jsonl that is not a regular file is a MotlabError (the caller shows the run as
 * damaged); lines that are not records are passed over.
 */
export async function lastTrainRecord(runDir: string): Promise<TrainRecord | null> {
  let opened;
  try {
    opened = await openRegularFile(join(runDir, METRICS_FILE), 'invalid_checkpoint');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    throw e;
  }
  const { handle, size } = opened;
  try {
    for (let span = 16_384; ; span *= 4) {
      const start = Math.max(0, size - span);
      const buf = Buffer.alloc(size - start);
      await handle.read(buf, 0, buf.length, start);
      const lines = buf.toString('utf8').split('\n');
      // The first line may be cut by the window (unless it starts the file); the last may be torn.
      for (let i = lines.length - 1; i >= (start === 0 ? 0 : 1); i--) {
        try {
          const parsed = parseMetricsRecord(JSON.parse(lines[i]));
          if ('record' in parsed && parsed.record.type === 'train') return parsed.record;
        } catch {
          // not a complete JSON line
        }
      }
      if (start === 0) return null;
      // A file of megabytes without one train record is damaged beyond a tail search.
      if (span > 64 * 1024 * 1024) return null;
    }
  } finally {
    await handle.close();
  }
}

export async function checkpointInfos(runDir: string): Promise<CheckpointInfo[]> {
  const list = await listCheckpoints(runDir);
  return Promise.all(
    list.map(async ({ step, dir }) => {
      const modelStat = await stat(join(dir, MODEL_FILE)).catch(() => null);
      const optimizerStat = await stat(join(dir, OPTIMIZER_FILE)).catch(() => null);
      let state: Record<string, unknown> | null = null;
      try {
        const parsed: unknown = JSON.parse(
          await readRegularText(join(dir, STATE_FILE), { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_checkpoint' }),
        );
        state = isObject(parsed) ? flatFields(parsed) : null;
      } catch {
        state = null;
      }
      return {
        step,
        path: dir,
        modelBytes: modelStat?.isFile() ? modelStat.size : 0,
        hasOptimizer: optimizerStat?.isFile() ?? false,
        state,
      };
    }),
  );
}

/** The last non-empty line of a log file (its tail only), or null. */
export async function lastLogLine(file: string): Promise<string | null> {
  let opened;
  try {
    opened = await openRegularFile(file, 'invalid_checkpoint');
  } catch {
    return null;
  }
  try {
    const start = Math.max(0, opened.size - 16_384);
    const buf = Buffer.alloc(opened.size - start);
    await opened.handle.read(buf, 0, buf.length, start);
    const last = buf
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l)
      .at(-1);
    return last ? oneLine(last, 500) : null;
  } finally {
    await opened.handle.close();
  }
}

/** The Runs-list entry of a run folder that could not be summarized at all. */
export function damagedRun(name: string, path: string, error: unknown): RunSummary {
  return {
    name,
    path,
    status: 'failed',
    message: `Damaged run folder: ${oneLine(error instanceof Error ? error.message : String(error))}`,
    modelKind: '—',
    modalities: [],
    step: 0,
    latestLoss: null,
    controllable: false,
  };
}
