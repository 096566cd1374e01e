/**
 * The run folder of docs/architecture.md ("Checkpoint files"), except run.json (the run service's,
 * src-main/runs/run-json.ts):
 *
 *   <run>/metrics.jsonl        one JSON object per line, append-only, fsynced per append
 *   <run>/checkpoints/step-000500/{model.safetensors, optimizer.safetensors, state.json}
 *
 * Crash safety: a checkpoint is written into a temporary sibling directory (state.json last)
 * and renamed into place only when every file in it is on disk, so a kill at any instant leaves
 * earlier checkpoints intact and no half-written step-* directory. Re-writing an existing step
 * moves the old copy aside first; a kill between the two renames leaves two complete copies
 * beside the missing step, and the next writer puts the newer one back (recoverInterruptedWrites).
 * A step folder is never deleted silently: an incomplete one that is replaced is kept under
 * another name and reported.
 */
import { open, readdir, mkdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseModelConfig, tensorTableSize, type ModelConfig } from '../model/config.ts';
import { expectedTensorShapes } from '../model/tensor-names.ts';
import { MAX_JSON_FILE_BYTES, openRegularFile, readRegularFile, readRegularText } from '../data/regular-file.ts';
import { MotlabError } from '../common/errors.ts';
import { parseMetricsRecord, type MetricsRecord } from '../common/metrics.ts';
import { describeList, oneLine, plainOrQuoted, quoteName } from '../common/text.ts';
import { WEIGHTS_ONLY_FORMAT, weightsOnlyMessage } from '../common/imported-source.ts';
import { fsyncDir, TEMP_PREFIX, tempSibling, writeFileAtomic, writeFileDurable } from './atomic.ts';
import { encodeSafetensors, readSafetensorsFile, type TensorIn, type TensorOut } from './safetensors.ts';

export const METRICS_FILE = 'metrics.jsonl';
export const CHECKPOINTS_DIR = 'checkpoints';

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
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
export async function appendMetrics(runDir: string, record: MetricsRecord): Promise<void> {
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
  records: MetricsRecord[];
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
  const records: MetricsRecord[] = [];
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
          records.push(parsed.record);
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
 * On resume from step `step`: keep the records with step ≤ `step`, drop the rest, any torn
 * tail and any line that is not a record. The file is replaced atomically.
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
  const kept = records.filter((r) => r.step <= step);
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

/**
 * What the names of the checkpoints folder mean. Only `step-N` folders are checkpoints; the
 * dot-prefixed ones are a writer's work in progress and are never listed.
 */
const STEP_DIR = /^step-(\d+)$/;
/** A checkpoint being written (state.json is its last file). */
const WRITING_PREFIX = TEMP_PREFIX;
/** The previous copy of a step being re-written, moved aside until the new copy is in place. */
const REPLACED_PREFIX = '.replaced-';
/** A checkpoint being deleted. */
const DELETING_PREFIX = '.deleted-';
const LEFTOVER = /^\.(tmp|replaced|deleted)-(step-\d+)-/;

export interface CheckpointEntry {
  step: number;
  dir: string;
}

/** A step folder that lacks files a checkpoint needs (copied by hand, or damaged). */
export interface IncompleteCheckpoint extends CheckpointEntry {
  missing: string[];
}

export interface CheckpointScan {
  /** Complete checkpoints, oldest first. */
  complete: CheckpointEntry[];
  /** Step folders that are not complete checkpoints, oldest first. */
  incomplete: IncompleteCheckpoint[];
}

/** Files a step folder must hold to be listed (optimizer.safetensors is needed only to resume). */
const REQUIRED_FILES = [MODEL_FILE, STATE_FILE];

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function missingFiles(dir: string, files: readonly string[]): Promise<string[]> {
  const present = await Promise.all(files.map((f) => isFile(join(dir, f))));
  return files.filter((_, i) => !present[i]);
}

/** Every step folder of the run, split into complete checkpoints and incomplete folders. */
export async function scanCheckpoints(runDir: string): Promise<CheckpointScan> {
  const checkpointsDir = join(runDir, CHECKPOINTS_DIR);
  let entries: string[];
  try {
    entries = await readdir(checkpointsDir);
  } catch (e) {
    if (errno(e) === 'ENOENT') return { complete: [], incomplete: [] };
    throw e;
  }
  const scan: CheckpointScan = { complete: [], incomplete: [] };
  for (const entry of entries) {
    const m = STEP_DIR.exec(entry);
    if (!m) continue;
    const dir = join(checkpointsDir, entry);
    const missing = await missingFiles(dir, REQUIRED_FILES);
    if (missing.length === 0) scan.complete.push({ step: Number(m[1]), dir });
    else scan.incomplete.push({ step: Number(m[1]), dir, missing });
  }
  scan.complete.sort((a, b) => a.step - b.step);
  scan.incomplete.sort((a, b) => a.step - b.step);
  return scan;
}

/** Complete checkpoints, oldest first. */
export async function listCheckpoints(runDir: string): Promise<CheckpointEntry[]> {
  return (await scanCheckpoints(runDir)).complete;
}

/** Incomplete step folders newer than the newest complete checkpoint: what "latest" passes over. */
export function incompleteNewerThanLatest(scan: CheckpointScan): IncompleteCheckpoint[] {
  const latest = scan.complete.at(-1)?.step ?? -1;
  return scan.incomplete.filter((c) => c.step > latest);
}

export function describeIncomplete(c: IncompleteCheckpoint): string {
  return `${c.dir} is incomplete (missing ${c.missing.join(', ')})`;
}

/** True when a leftover folder holds a whole checkpoint of `step` (state.json, written last, parses and names it). */
async function holdsCompleteCheckpoint(dir: string, step: number): Promise<boolean> {
  if ((await missingFiles(dir, [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE])).length > 0) return false;
  try {
    const state: unknown = JSON.parse(
      await readRegularText(join(dir, STATE_FILE), { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_checkpoint' }),
    );
    return typeof state === 'object' && state !== null && (state as { step?: unknown }).step === step;
  } catch {
    return false;
  }
}

/** What a killed writer left in the checkpoints folder, read only. */
interface Leftovers {
  checkpointsDir: string;
  /** Per step folder name (step-N), its leftover copies (.tmp-, .replaced-), the copy being written first. */
  byStep: Map<string, string[]>;
  /** Leftovers that are never restored (deletions, stray temporary folders). */
  stray: string[];
  /** Per step folder name missing from the folder, the complete leftover copy recovery puts back. */
  restorable: Map<string, string>;
}

async function readLeftovers(runDir: string): Promise<Leftovers> {
  const checkpointsDir = join(runDir, CHECKPOINTS_DIR);
  const entries = await readdir(checkpointsDir).catch((e: unknown) => {
    if (errno(e) === 'ENOENT') return [] as string[];
    throw e;
  });
  const byStep = new Map<string, string[]>();
  const stray: string[] = [];
  for (const entry of entries) {
    const m = LEFTOVER.exec(entry);
    if (m && m[1] !== 'deleted') byStep.set(m[2], [...(byStep.get(m[2]) ?? []), entry]);
    else if (m || entry.startsWith(WRITING_PREFIX)) stray.push(entry);
  }
  const restorable = new Map<string, string>();
  for (const [stepName, leftovers] of byStep) {
    // The copy being written is newer than the one it replaces: try it first.
    leftovers.sort((a, b) => Number(b.startsWith(WRITING_PREFIX)) - Number(a.startsWith(WRITING_PREFIX)));
    if (entries.includes(stepName)) continue;
    const step = Number(STEP_DIR.exec(stepName)![1]);
    for (const candidate of leftovers)
      if (await holdsCompleteCheckpoint(join(checkpointsDir, candidate), step)) {
        restorable.set(stepName, candidate);
        break;
      }
  }
  return { checkpointsDir, byStep, stray, restorable };
}

/**
 * The checkpoints recoverInterruptedWrites would put back (a kill between the two renames of a
 * re-write left a complete copy beside a missing step folder), oldest first, without touching
 * anything: what a resume will find once its writer has recovered.
 */
export async function restorableCheckpoints(runDir: string): Promise<{ step: number; dir: string; copy: string }[]> {
  const { checkpointsDir, restorable } = await readLeftovers(runDir);
  return [...restorable]
    .map(([stepName, copy]) => ({
      step: Number(STEP_DIR.exec(stepName)![1]),
      dir: join(checkpointsDir, stepName),
      copy: join(checkpointsDir, copy),
    }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Finish or undo what a killed writer left in the checkpoints folder. Where a step folder is
 * missing but a complete copy of it was left beside it (a kill between the two renames of a
 * re-write), the newest complete copy is put back; everything else left over is removed.
 * Only the run's writer (the holder of the run lock) may call this. Returns what it did.
 */
export async function recoverInterruptedWrites(runDir: string): Promise<string[]> {
  const { checkpointsDir, byStep, stray, restorable } = await readLeftovers(runDir);
  const notes: string[] = [];
  for (const entry of stray) await rm(join(checkpointsDir, entry), { recursive: true, force: true });
  for (const [stepName, leftovers] of byStep) {
    const restored = restorable.get(stepName);
    if (restored) {
      const finalDir = join(checkpointsDir, stepName);
      await rename(join(checkpointsDir, restored), finalDir);
      await fsyncDir(checkpointsDir);
      notes.push(`${finalDir} was restored from a complete copy an interrupted write left behind`);
    }
    for (const leftover of leftovers) if (leftover !== restored) await rm(join(checkpointsDir, leftover), { recursive: true, force: true });
  }
  return notes;
}

export interface WriteCheckpointOptions {
  /** Told what the writer did beyond writing (a recovered copy, an incomplete folder kept aside). */
  onNote?: (note: string) => void;
}

async function writeStepFolder(dir: string, step: number, data: CheckpointData): Promise<void> {
  await mkdir(dir);
  const modelBytes = encodeSafetensors(data.model, { format: 'motlab', config: JSON.stringify(data.config) });
  const optimizerBytes = encodeSafetensors(data.optimizer, { format: 'motlab-optimizer', step: String(step) });
  await writeFileDurable(join(dir, MODEL_FILE), modelBytes);
  await writeFileDurable(join(dir, OPTIMIZER_FILE), optimizerBytes);
  // Last: a copy whose state.json parses is complete (recoverInterruptedWrites relies on it).
  await writeFileDurable(join(dir, STATE_FILE), JSON.stringify({ ...data.state, step }, null, 2) + '\n');
  await fsyncDir(dir);
}

/**
 * Move an existing step folder out of the way of its re-write. A complete one goes to a
 * `.replaced-` name (removed once the new copy is in place); an incomplete one is never
 * deleted: it is kept as `step-N.incomplete-<time>` and reported.
 */
async function moveAsideForRewrite(finalDir: string, options: WriteCheckpointOptions): Promise<string | undefined> {
  const s = await stat(finalDir).catch((e: unknown) => {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  });
  if (!s) return undefined;
  const missing = await missingFiles(finalDir, REQUIRED_FILES);
  if (missing.length === 0) {
    const aside = tempSibling(finalDir, REPLACED_PREFIX);
    await rename(finalDir, aside);
    return aside;
  }
  const kept = `${finalDir}.incomplete-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await rename(finalDir, kept);
  options.onNote?.(`${finalDir} was incomplete (missing ${missing.join(', ')}); it is kept as ${kept}`);
  return undefined;
}

export async function writeCheckpoint(
  runDir: string,
  step: number,
  data: CheckpointData,
  options: WriteCheckpointOptions = {},
): Promise<string> {
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`checkpoint step must be a non-negative integer, got ${step}`);
  const problems = tensorMismatches(data.config, data.model);
  if (problems.length) throw new Error(`writeCheckpoint: model tensors do not match the config: ${problems.join('; ')}`);
  const checkpointsDir = join(runDir, CHECKPOINTS_DIR);
  if (await mkdir(checkpointsDir, { recursive: true })) await fsyncDir(runDir);
  for (const note of await recoverInterruptedWrites(runDir)) options.onNote?.(note);

  const finalDir = join(checkpointsDir, checkpointDirName(step));
  const temp = tempSibling(finalDir, WRITING_PREFIX);
  await writeStepFolder(temp, step, data);
  // A directory cannot be renamed over a non-empty one: a re-written step's old copy moves aside
  // first. Killed between the two renames, both complete copies stay for recovery.
  const replaced = await moveAsideForRewrite(finalDir, options);
  await rename(temp, finalDir);
  await fsyncDir(checkpointsDir);
  if (replaced) await rm(replaced, { recursive: true, force: true });
  return finalDir;
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
 * A model.safetensors written by the lab or by any implementation of docs/architecture.md (e.g.
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
  const doomed = tempSibling(dir, DELETING_PREFIX);
  try {
    await rename(dir, doomed);
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw e;
  }
  await fsyncDir(join(runDir, CHECKPOINTS_DIR));
  await rm(doomed, { recursive: true, force: true });
}
