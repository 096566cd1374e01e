/**
 * The run folder of architecture.md ("Checkpoint files"):
 *
 *   <run>/run.json             config, dataset reference, engine, seed, status (atomic rewrites)
 *   <run>/metrics.jsonl        one JSON object per line, append-only, fsynced per append
 *   <run>/checkpoints/step-000500/{model.safetensors, optimizer.safetensors, state.json}
 *
 * Crash safety: run.json is replaced atomically; a checkpoint is written into a temporary
 * sibling directory and renamed into place only when every file in it is on disk, so a kill
 * at any instant leaves earlier checkpoints intact and no half-written step-* directory.
 * Leftover temporary directories are invisible to the lister and removed by the next write.
 */
import { open, readdir, mkdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { modelConfigSchema, parseModelConfig, tensorTableSize, type ModelConfig } from '../model/config.ts';
import { trainingConfigSchema } from '../training/config.ts';
import { expectedTensorShapes } from '../model/tensor-names.ts';
import { MAX_JSON_FILE_BYTES, openRegularFile, readRegularFile, readRegularText } from '../data/regular-file.ts';
import { MotlabError } from '../common/errors.ts';
import { parseMetricsRecord } from '../common/metrics.ts';
import { describeList, oneLine, plainOrQuoted, quoteName } from '../common/text.ts';
import { STORED_RUN_STATUSES } from '../common/vocabulary.ts';
import { importedSourceSchema, WEIGHTS_ONLY_FORMAT, weightsOnlyMessage } from '../common/imported-source.ts';
import { parseOrThrow } from '../common/validate.ts';
import { fsyncDir, TEMP_PREFIX, tempSibling, writeFileAtomic, writeFileDurable } from './atomic.ts';
import { encodeSafetensors, readSafetensorsFile, type TensorIn, type TensorOut } from './safetensors.ts';

// ---------------------------------------------------------------------------------------------
// run.json

export const runJsonSchema = z.strictObject({
  name: z.string().min(1),
  created: z.iso.datetime({ offset: true }),
  preset: z.string().optional(),
  size: z.string().optional(),
  model: modelConfigSchema,
  training: trainingConfigSchema,
  dataset: z.strictObject({ path: z.string(), name: z.string() }),
  engine: z.string().min(1),
  seed: z.number().int().nonnegative(),
  status: z.enum(STORED_RUN_STATUSES),
  /** Why the run stopped or failed, in words a person can act on. */
  message: z.string().optional(),
  /** Process id of the trainer while status is "running". */
  pid: z.number().int().positive().optional(),
  updated: z.iso.datetime({ offset: true }),
  /** Set for a run imported from a checkpoint trained elsewhere (importers/). */
  source: importedSourceSchema.optional(),
});
export type RunJson = z.infer<typeof runJsonSchema>;

export const RUN_JSON = 'run.json';
export const METRICS_FILE = 'metrics.jsonl';
export const CHECKPOINTS_DIR = 'checkpoints';

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

export async function readRunJson(runDir: string): Promise<RunJson> {
  const file = join(runDir, RUN_JSON);
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_config', what: 'run.json' });
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new MotlabError('not_found', `${file}: no run.json (is ${runDir} a run folder?)`);
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
export async function updateRunStatus(
  runDir: string,
  patch: Partial<Pick<RunJson, 'status' | 'message' | 'pid' | 'engine'>>,
): Promise<RunJson> {
  const run = await readRunJson(runDir);
  const next: RunJson = { ...run, ...patch, updated: new Date().toISOString() };
  for (const key of Object.keys(patch) as (keyof typeof patch)[]) {
    if (patch[key] === undefined) delete next[key];
  }
  await writeRunJson(runDir, next);
  return next;
}

// ---------------------------------------------------------------------------------------------
// metrics.jsonl

/** Bytes of the file that end in its last newline (a torn final line is not counted). */
async function completeLength(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const chunk = Buffer.alloc(64 * 1024);
    for (let end = size; end > 0;) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (at >= 0) return start + at + 1;
      end = start;
    }
    return 0;
  } finally {
    await handle.close();
  }
}

/**
 * Append one record as a JSON line and fsync. If a crash left a torn final line, it is cut
 * off first: appending after it would glue the new record onto garbage.
 */
export async function appendMetrics(runDir: string, record: object): Promise<void> {
  const file = join(runDir, METRICS_FILE);
  const line = JSON.stringify(record) + '\n';
  const handle = await open(file, 'a+');
  try {
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await handle.truncate(await completeLength(file));
    }
    await handle.appendFile(line);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface MetricsChunk {
  records: Record<string, unknown>[];
  /** Pass this back as `fromOffset` to get only what was appended since. */
  nextOffset: number;
  /**
   * True when `fromOffset` no longer fit the file (it was rewritten, e.g. on resume) and the
   * records are the whole file again: the caller should drop what it had.
   */
  reset: boolean;
  /** Complete lines that are not records (what a power cut or an editor can leave), skipped. */
  skipped: SkippedLines;
}

export interface SkippedLines {
  count: number;
  /** 1-based line numbers of the first few (at most MAX_SKIPPED_REPORTED). */
  lines: number[];
  /** Why the first one was skipped. */
  reason: string | null;
}

export const MAX_SKIPPED_REPORTED = 20;
/** metrics.jsonl is read whole; a million-step run logs a few hundred MB. */
export const MAX_METRICS_BYTES = 1024 ** 3;

/** "…/metrics.jsonl: skipped 2 corrupt lines (3, 9): not valid JSON (…)", for a warning. */
export function describeSkipped(file: string, skipped: SkippedLines): string {
  const more = skipped.count > skipped.lines.length ? ', …' : '';
  return `${file}: skipped ${skipped.count} corrupt line${skipped.count === 1 ? '' : 's'} (${skipped.lines.join(', ')}${more}): ${skipped.reason}`;
}

/** Newlines in bytes [0, end) of the file: the line number of offset `end`, minus one. */
async function newlinesBefore(handle: FileHandle, end: number): Promise<number> {
  const chunk = Buffer.alloc(1 << 20);
  let count = 0;
  for (let at = 0; at < end;) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, end - at), at);
    if (bytesRead === 0) break;
    for (let i = 0; i < bytesRead; i++) if (chunk[i] === 0x0a) count++;
    at += bytesRead;
  }
  return count;
}

/**
 * The complete lines appended at or after `fromOffset` (a byte offset from a previous call).
 * A line that is not a record (garbage, NULs, a wrong shape) is skipped and reported in
 * `skipped`, never fatal: one bad line must not hide a run's history. Only a regular file is
 * read (a FIFO or a folder named metrics.jsonl is a MotlabError, not a hang or a crash).
 */
export async function readMetrics(runDir: string, fromOffset = 0): Promise<MetricsChunk> {
  const file = join(runDir, METRICS_FILE);
  const skipped: SkippedLines = { count: 0, lines: [], reason: null };
  let opened;
  try {
    opened = await openRegularFile(file, 'invalid_checkpoint');
  } catch (e) {
    if (errno(e) === 'ENOENT') return { records: [], nextOffset: 0, reset: fromOffset !== 0, skipped };
    throw e;
  }
  const { handle, size } = opened;
  const records: Record<string, unknown>[] = [];
  let start = fromOffset;
  let reset = false;
  try {
    if (start > 0) {
      // A valid offset sits just after a newline; otherwise the file was rewritten under us.
      const before = Buffer.alloc(1);
      const { bytesRead } = start <= size ? await handle.read(before, 0, 1, start - 1) : { bytesRead: 0 };
      if (bytesRead !== 1 || before[0] !== 0x0a) {
        start = 0;
        reset = true;
      }
    }
    if (size - start > MAX_METRICS_BYTES)
      throw new MotlabError('invalid_checkpoint', `${file}: ${size - start} bytes to read, more than the ${MAX_METRICS_BYTES}-byte limit`);
    let bytes = Buffer.alloc(size - start);
    let got = 0;
    while (got < bytes.length) {
      const { bytesRead } = await handle.read(bytes, got, bytes.length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    bytes = bytes.subarray(0, got);
    const complete = bytes.lastIndexOf(0x0a) + 1; // the torn tail after it is not ours yet
    let lineStart = 0;
    let firstLine: number | undefined; // line number of `start`, counted only if a line is bad
    for (let index = 0; lineStart < complete; index++) {
      const lineEnd = bytes.indexOf(0x0a, lineStart);
      const text = bytes.subarray(lineStart, lineEnd).toString('utf8').trim();
      lineStart = lineEnd + 1;
      if (text.length === 0) continue;
      let problem: string;
      try {
        const parsed = parseMetricsRecord(JSON.parse(text));
        if ('record' in parsed) {
          records.push(parsed.record as unknown as Record<string, unknown>);
          continue;
        }
        problem = parsed.problem;
      } catch (e) {
        problem = `not valid JSON (${oneLine((e as Error).message, 120)})`;
      }
      if (skipped.count++ === 0) skipped.reason = oneLine(problem, 200);
      if (skipped.lines.length < MAX_SKIPPED_REPORTED) {
        firstLine ??= 1 + (await newlinesBefore(handle, start));
        skipped.lines.push(firstLine + index);
      }
    }
    return { records, nextOffset: start + complete, reset, skipped };
  } finally {
    await handle.close();
  }
}

/**
 * On resume from step `step`: keep the records with step ≤ `step` (and records without a
 * numeric step), drop the rest and any torn tail. The file is replaced atomically.
 */
export async function truncateMetricsAfterStep(runDir: string, step: number): Promise<void> {
  const file = join(runDir, METRICS_FILE);
  const { records } = await readMetrics(runDir, 0);
  try {
    await stat(file);
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw e;
  }
  const kept = records.filter((r) => typeof r.step !== 'number' || r.step <= step);
  await writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
}

// ---------------------------------------------------------------------------------------------
// Tensor names: the table lives with the model (model/tensor-names.ts)

/** Problems with `tensors` for `config`, each naming the tensor (empty when they match). */
export function tensorMismatches(config: ModelConfig, tensors: Record<string, { shape: number[] }>): string[] {
  const expected = expectedTensorShapes(config);
  const problems: string[] = [];
  const missing = Object.keys(expected).filter((n) => !Object.hasOwn(tensors, n));
  const unexpected = Object.keys(tensors).filter((n) => !Object.hasOwn(expected, n));
  const list = (names: string[]) =>
    names
      .slice(0, 5)
      .map((n) => plainOrQuoted(n, 80))
      .join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
  if (missing.length) problems.push(`missing tensors ${list(missing)}`);
  if (unexpected.length) problems.push(`unexpected tensors ${list(unexpected)}`);
  for (const [name, shape] of Object.entries(expected)) {
    const got = tensors[name]?.shape;
    if (got && (got.length !== shape.length || got.some((d, i) => d !== shape[i])))
      problems.push(`tensor ${name} has shape ${describeList(got)}, the config needs ${describeList(shape)}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';

export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

export interface CheckpointData {
  model: Record<string, TensorIn>;
  optimizer: Record<string, TensorIn>;
  /** Step, tokens seen, FLOPs, wall-clock, data cursor, RNG state — whatever resume needs. */
  state: object;
  config: ModelConfig;
}

export interface LoadedCheckpoint {
  step: number;
  dir: string;
  config: ModelConfig;
  model: Record<string, TensorOut>;
  optimizer: Record<string, TensorOut> | null;
  state: Record<string, unknown>;
}

/** Remove temporary directories left by an interrupted write. */
async function cleanTemporaries(checkpointsDir: string): Promise<void> {
  for (const entry of await readdir(checkpointsDir)) {
    if (entry.startsWith(TEMP_PREFIX)) await rm(join(checkpointsDir, entry), { recursive: true, force: true });
  }
}

export async function writeCheckpoint(runDir: string, step: number, data: CheckpointData): Promise<string> {
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`checkpoint step must be a non-negative integer, got ${step}`);
  const problems = tensorMismatches(data.config, data.model);
  if (problems.length) throw new Error(`writeCheckpoint: model tensors do not match the config: ${problems.join('; ')}`);
  const checkpointsDir = join(runDir, CHECKPOINTS_DIR);
  if (await mkdir(checkpointsDir, { recursive: true })) await fsyncDir(runDir);
  await cleanTemporaries(checkpointsDir);

  const finalDir = join(checkpointsDir, checkpointDirName(step));
  const temp = tempSibling(finalDir);
  await mkdir(temp);
  const modelBytes = encodeSafetensors(data.model, { format: 'motlab', config: JSON.stringify(data.config) });
  const optimizerBytes = encodeSafetensors(data.optimizer, { format: 'motlab-optimizer', step: String(step) });
  await writeFileDurable(join(temp, MODEL_FILE), modelBytes);
  await writeFileDurable(join(temp, OPTIMIZER_FILE), optimizerBytes);
  await writeFileDurable(join(temp, STATE_FILE), JSON.stringify({ ...data.state, step }, null, 2) + '\n');
  await fsyncDir(temp);

  // Re-writing an existing step (a resume from an earlier checkpoint reaches it again): a
  // directory cannot be renamed over a non-empty one, so move the old one aside first.
  let old: string | undefined;
  try {
    await stat(finalDir);
    old = tempSibling(finalDir);
    await rename(finalDir, old);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }
  await rename(temp, finalDir);
  await fsyncDir(checkpointsDir);
  if (old) await rm(old, { recursive: true, force: true });
  return finalDir;
}

/** Complete checkpoints, oldest first. */
export async function listCheckpoints(runDir: string): Promise<{ step: number; dir: string }[]> {
  const checkpointsDir = join(runDir, CHECKPOINTS_DIR);
  let entries: string[];
  try {
    entries = await readdir(checkpointsDir);
  } catch (e) {
    if (errno(e) === 'ENOENT') return [];
    throw e;
  }
  const found: { step: number; dir: string }[] = [];
  for (const entry of entries) {
    const m = /^step-(\d+)$/.exec(entry);
    if (!m) continue;
    const dir = join(checkpointsDir, entry);
    // Our writer only ever renames complete directories into place; a directory copied by
    // hand might still lack files, and is not offered.
    const complete = await Promise.all(
      [MODEL_FILE, STATE_FILE].map((f) =>
        stat(join(dir, f)).then(
          (s) => s.isFile(),
          () => false,
        ),
      ),
    );
    if (complete.every(Boolean)) found.push({ step: Number(m[1]), dir });
  }
  return found.sort((a, b) => a.step - b.step);
}

async function readBytes(file: string, what: string): Promise<Buffer> {
  try {
    return await readRegularFile(file, { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_checkpoint', what });
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new MotlabError('invalid_checkpoint', `${file}: missing (${what})`);
    throw e;
  }
}

/** The model config in a model file's metadata. */
function configFromMetadata(file: string, metadata: Record<string, string>): ModelConfig {
  // A weights-only import (importers/) has no forward pass: say so before anything else.
  if (metadata.format === WEIGHTS_ONLY_FORMAT)
    throw new MotlabError('invalid_checkpoint', `${file}: ${weightsOnlyMessage(metadata.weights_only)}`);
  if (metadata.format !== 'motlab')
    throw new MotlabError(
      'invalid_checkpoint',
      `${file}: __metadata__.format is ${quoteName(String(metadata.format), 40)}, expected "motlab"`,
    );
  if (metadata.config === undefined) throw new MotlabError('invalid_checkpoint', `${file}: __metadata__ has no "config"`);
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.config);
  } catch (e) {
    throw new MotlabError('invalid_checkpoint', `${file}: __metadata__.config is not valid JSON (${oneLine((e as Error).message, 200)})`);
  }
  try {
    return parseModelConfig(raw);
  } catch (e) {
    throw new MotlabError('invalid_checkpoint', `${file}: ${(e as Error).message}`);
  }
}

/**
 * A model.safetensors written by the lab or by any implementation of architecture.md (e.g.
 * bench/torch_mot.py init): its config from the metadata, and tensors checked against it. The
 * config (within the model limits), the tensor count and every shape are checked from the
 * header alone, before any tensor data is read.
 */
export async function readModelFile(file: string): Promise<{ config: ModelConfig; tensors: Record<string, TensorOut> }> {
  let config: ModelConfig | undefined;
  let decoded;
  try {
    decoded = await readSafetensorsFile(file, ({ metadata, entries }) => {
      config = configFromMetadata(file, metadata);
      const expected = tensorTableSize(config).tensors;
      if (entries.length !== expected)
        throw new MotlabError(
          'invalid_checkpoint',
          `${file}: holds ${entries.length} tensors, the config in its metadata needs ${expected}`,
        );
      const problems = tensorMismatches(config, Object.fromEntries(entries.map((e) => [e.name, e])));
      if (problems.length)
        throw new MotlabError('invalid_checkpoint', `${file}: tensors do not match the config in its metadata: ${problems.join('; ')}`);
    });
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new MotlabError('invalid_checkpoint', `${file}: missing (the model weights)`);
    throw e;
  }
  const tensors = decoded.tensors;
  for (const [name, t] of Object.entries(tensors)) {
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i]))
        throw new MotlabError('invalid_checkpoint', `${file}: tensor ${quoteName(name)} holds a non-finite value at index ${i}`);
    }
  }
  return { config: config!, tensors };
}

export async function readCheckpoint(runDir: string, step: number | 'latest'): Promise<LoadedCheckpoint> {
  const list = await listCheckpoints(runDir);
  const entry = step === 'latest' ? list.at(-1) : list.find((c) => c.step === step);
  if (!entry) {
    const have = list.length ? `available steps: ${list.map((c) => c.step).join(', ')}` : 'it has no checkpoints';
    throw new MotlabError('not_found', `${runDir}: no checkpoint ${step === 'latest' ? 'yet' : `at step ${step}`} (${have})`);
  }
  const { config, tensors: model } = await readModelFile(join(entry.dir, MODEL_FILE));

  const optimizerFile = join(entry.dir, OPTIMIZER_FILE);
  let optimizer: Record<string, TensorOut> | null = null;
  try {
    optimizer = (await readSafetensorsFile(optimizerFile)).tensors;
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
  }

  const stateFile = join(entry.dir, STATE_FILE);
  let state: unknown;
  try {
    state = JSON.parse((await readBytes(stateFile, 'the training state')).toString('utf8'));
  } catch (e) {
    if (e instanceof MotlabError) throw e;
    throw new MotlabError('invalid_checkpoint', `${stateFile}: not valid JSON (${oneLine((e as Error).message, 200)})`);
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state))
    throw new MotlabError('invalid_checkpoint', `${stateFile}: not a JSON object`);
  const s = state as Record<string, unknown>;
  if (s.step !== entry.step)
    throw new MotlabError(
      'invalid_checkpoint',
      `${stateFile}: step is ${oneLine(JSON.stringify(s.step) ?? 'missing', 80)}, but the directory is ${checkpointDirName(entry.step)}`,
    );
  return { step: entry.step, dir: entry.dir, config, model, optimizer, state: s };
}

/**
 * Delete a checkpoint (e.g. to keep only the last few). Renamed to a temporary name first, so
 * that a kill during the recursive delete never leaves a partial step-* directory visible.
 */
export async function deleteCheckpoint(runDir: string, step: number): Promise<void> {
  const dir = join(runDir, CHECKPOINTS_DIR, checkpointDirName(step));
  const doomed = tempSibling(dir);
  try {
    await rename(dir, doomed);
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw e;
  }
  await fsyncDir(join(runDir, CHECKPOINTS_DIR));
  await rm(doomed, { recursive: true, force: true });
}
