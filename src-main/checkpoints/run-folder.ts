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
import { open, readFile, readdir, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { modelConfigSchema, parseModelConfig, type ModelConfig } from '../model/config.ts';
import { trainingConfigSchema } from '../training/config.ts';
import { expectedTensorShapes } from '../model/tensor-names.ts';
import { MotlabError } from '../common/errors.ts';
import { STORED_RUN_STATUSES } from '../common/vocabulary.ts';
import { importedSourceSchema, WEIGHTS_ONLY_FORMAT, weightsOnlyMessage } from '../common/imported-source.ts';
import { parseOrThrow } from '../common/validate.ts';
import { fsyncDir, TEMP_PREFIX, tempSibling, writeFileAtomic, writeFileDurable } from './atomic.ts';
import { decodeSafetensors, encodeSafetensors, type TensorIn, type TensorOut } from './safetensors.ts';
import { LazySafetensors } from './lazy-safetensors.ts';

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
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new MotlabError('not_found', `${file}: no run.json (is ${runDir} a run folder?)`);
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new MotlabError('invalid_config', `${file}: not valid JSON (${(e as Error).message})`);
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
}

async function lineNumberAt(file: string, offset: number): Promise<number> {
  const bytes = await readFile(file);
  let line = 1;
  for (let i = 0; i < offset && i < bytes.length; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** The complete lines appended at or after `fromOffset` (a byte offset from a previous call). */
export async function readMetrics(runDir: string, fromOffset = 0): Promise<MetricsChunk> {
  const file = join(runDir, METRICS_FILE);
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') return { records: [], nextOffset: 0, reset: fromOffset !== 0 };
    throw e;
  }
  let bytes: Buffer;
  let start = fromOffset;
  let reset = false;
  try {
    const { size } = await handle.stat();
    if (start > 0) {
      // A valid offset sits just after a newline; otherwise the file was rewritten under us.
      const before = Buffer.alloc(1);
      const { bytesRead } = start <= size ? await handle.read(before, 0, 1, start - 1) : { bytesRead: 0 };
      if (bytesRead !== 1 || before[0] !== 0x0a) {
        start = 0;
        reset = true;
      }
    }
    bytes = Buffer.alloc(size - start);
    let got = 0;
    while (got < bytes.length) {
      const { bytesRead } = await handle.read(bytes, got, bytes.length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    bytes = bytes.subarray(0, got);
  } finally {
    await handle.close();
  }
  const complete = bytes.lastIndexOf(0x0a) + 1; // the torn tail after it is not ours yet
  const records: Record<string, unknown>[] = [];
  let lineStart = 0;
  while (lineStart < complete) {
    const lineEnd = bytes.indexOf(0x0a, lineStart);
    const text = bytes.subarray(lineStart, lineEnd).toString('utf8').trim();
    if (text.length > 0) {
      let value: unknown;
      let problem: string | undefined;
      try {
        value = JSON.parse(text);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) problem = 'not a JSON object';
      } catch (e) {
        problem = `not valid JSON (${(e as Error).message})`;
      }
      if (problem !== undefined) {
        const line = await lineNumberAt(file, start + lineStart);
        throw new MotlabError('invalid_checkpoint', `${file}:${line}: corrupt metrics record, ${problem}`);
      }
      records.push(value as Record<string, unknown>);
    }
    lineStart = lineEnd + 1;
  }
  return { records, nextOffset: start + complete, reset };
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
  const list = (names: string[]) => names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
  if (missing.length) problems.push(`missing tensors ${list(missing)}`);
  if (unexpected.length) problems.push(`unexpected tensors ${list(unexpected)}`);
  for (const [name, shape] of Object.entries(expected)) {
    const got = tensors[name]?.shape;
    if (got && (got.length !== shape.length || got.some((d, i) => d !== shape[i])))
      problems.push(`tensor ${name} has shape [${got.join(', ')}], the config needs [${shape.join(', ')}]`);
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
    return await readFile(file);
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new MotlabError('invalid_checkpoint', `${file}: missing (${what})`);
    throw e;
  }
}

/** A weights-only import (importers/) has no forward pass: say so from the header, before reading the weights. */
async function refuseWeightsOnly(file: string): Promise<void> {
  let lazy: LazySafetensors;
  try {
    lazy = await LazySafetensors.open(file);
  } catch {
    return; // the full read below reports what is wrong with the file
  }
  const { metadata } = lazy;
  await lazy.close();
  if (metadata.format === WEIGHTS_ONLY_FORMAT)
    throw new MotlabError('invalid_checkpoint', `${file}: ${weightsOnlyMessage(metadata.weights_only)}`);
}

/**
 * A model.safetensors written by the lab or by any implementation of architecture.md (e.g.
 * bench/torch_mot.py init): its config from the metadata, and tensors checked against it.
 */
export async function readModelFile(file: string): Promise<{ config: ModelConfig; tensors: Record<string, TensorOut> }> {
  await refuseWeightsOnly(file);
  const { tensors, metadata } = decodeSafetensors(await readBytes(file, 'the model weights'), file);
  if (metadata.format !== 'motlab')
    throw new MotlabError('invalid_checkpoint', `${file}: __metadata__.format is ${JSON.stringify(metadata.format)}, expected "motlab"`);
  if (metadata.config === undefined) throw new MotlabError('invalid_checkpoint', `${file}: __metadata__ has no "config"`);
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.config);
  } catch (e) {
    throw new MotlabError('invalid_checkpoint', `${file}: __metadata__.config is not valid JSON (${(e as Error).message})`);
  }
  let config: ModelConfig;
  try {
    config = parseModelConfig(raw);
  } catch (e) {
    throw new MotlabError('invalid_checkpoint', `${file}: ${(e as Error).message}`);
  }
  const problems = tensorMismatches(config, tensors);
  if (problems.length)
    throw new MotlabError('invalid_checkpoint', `${file}: tensors do not match the config in its metadata: ${problems.join('; ')}`);
  for (const [name, t] of Object.entries(tensors)) {
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i]))
        throw new MotlabError('invalid_checkpoint', `${file}: tensor ${name} holds a non-finite value at index ${i}`);
    }
  }
  return { config, tensors };
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
  const optimizerBytes = await readFile(optimizerFile).catch((e: unknown) => {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  });
  if (optimizerBytes) optimizer = decodeSafetensors(optimizerBytes, optimizerFile).tensors;

  const stateFile = join(entry.dir, STATE_FILE);
  let state: unknown;
  try {
    state = JSON.parse((await readBytes(stateFile, 'the training state')).toString('utf8'));
  } catch (e) {
    if (e instanceof MotlabError) throw e;
    throw new MotlabError('invalid_checkpoint', `${stateFile}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state))
    throw new MotlabError('invalid_checkpoint', `${stateFile}: not a JSON object`);
  const s = state as Record<string, unknown>;
  if (s.step !== entry.step)
    throw new MotlabError(
      'invalid_checkpoint',
      `${stateFile}: step is ${JSON.stringify(s.step)}, but the directory is ${checkpointDirName(entry.step)}`,
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
