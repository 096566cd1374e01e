/**
 * Loading a dataset folder (format.ts) into memory, and the two ways the trainer reads it:
 * random training crops driven by the run's RNG, and fixed non-overlapping evaluation windows.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MotlabError } from '../common/errors.ts';
import type { Rng } from '../util/rng.ts';
import { parseOrThrow } from '../common/validate.ts';
import { datasetSpecSchema, splitFileName, type DatasetSpec } from './format.ts';
import { readNpyFile } from './npy.ts';
import { MAX_JSON_FILE_BYTES, readRegularText } from './regular-file.ts';
import { modalityTable } from '../common/modalities.ts';
import { oneLine } from '../common/text.ts';

export type TokenArray = Uint16Array | Int32Array;

export interface Dataset {
  dir: string;
  spec: DatasetSpec;
  splits: Record<string, TokenArray>;
}

/** Read and validate `<dir>/dataset.json`. */
export async function loadDatasetSpec(dir: string): Promise<DatasetSpec> {
  const file = path.join(dir, 'dataset.json');
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_dataset', what: 'dataset.json' });
  } catch (e) {
    if (e instanceof MotlabError) throw e;
    throw new MotlabError('not_found', `Dataset file ${file} is missing or unreadable (${errorText(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MotlabError('invalid_dataset', `${file} is not valid JSON (${oneLine(errorText(e), 200)})`);
  }
  return parseOrThrow(datasetSpecSchema, json, file, 'invalid_dataset');
}

/** Read one split's token file: a 1-D uint16 or int32 .npy. */
export async function loadSplitTokens(file: string): Promise<TokenArray> {
  let array;
  try {
    array = await readNpyFile(file);
  } catch (e) {
    if (e instanceof MotlabError) throw e;
    throw new MotlabError('not_found', `Dataset file ${file} is missing or unreadable (${errorText(e)})`);
  }
  if (array.dtype !== '<u2' && array.dtype !== '<i4')
    throw new MotlabError('invalid_dataset', `${file}: token ids must be uint16 or int32, found dtype ${array.dtype}`);
  if (array.shape.length !== 1)
    throw new MotlabError('invalid_dataset', `${file}: token ids must be a 1-D array, found shape (${array.shape.join(', ')})`);
  return array.data;
}

export interface TokenViolations {
  /** Tokens outside [0, vocab_size) or outside every modality's range. */
  count: number;
  firstPosition: number;
  firstToken: number;
}

/** Tokens that no declared modality holds (which includes those outside [0, vocab_size)). */
export function findInvalidTokens(tokens: TokenArray, spec: DatasetSpec): TokenViolations | null {
  const table = modalityTable(spec.modalities, spec.vocab_size);
  let count = 0;
  let firstPosition = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t < 0 || t >= table.length || table[t] < 0) {
      if (count === 0) firstPosition = i;
      count++;
    }
  }
  return count === 0 ? null : { count, firstPosition, firstToken: tokens[firstPosition] };
}

export async function loadDataset(dir: string): Promise<Dataset> {
  const spec = await loadDatasetSpec(dir);
  const splits: Record<string, TokenArray> = {};
  for (const split of spec.splits) {
    const file = path.join(dir, splitFileName(split));
    const tokens = await loadSplitTokens(file);
    const bad = findInvalidTokens(tokens, spec);
    if (bad) {
      const where = bad.firstToken < 0 || bad.firstToken >= spec.vocab_size ? `outside [0, ${spec.vocab_size})` : "in no modality's range";
      throw new MotlabError(
        'invalid_dataset',
        `${file}: ${bad.count} invalid token id(s); the first is ${bad.firstToken} at position ${bad.firstPosition} (${where}). ` +
          `Modalities: ${spec.modalities.map((m) => `${m.name} [${m.start}, ${m.end})`).join(', ')}`,
      );
    }
    splits[split] = tokens;
  }
  return { dir, spec, splits };
}

/** Where built-in datasets live: the nearest `assets/datasets` above this file (source or bundle). */
export function builtinDatasetsDir(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'assets', 'datasets');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Names of the built-in datasets (folders holding a dataset.json). */
export function listBuiltinDatasets(): string[] {
  const root = builtinDatasetsDir();
  if (!root) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(root, e.name, 'dataset.json')))
    .map((e) => e.name)
    .sort();
}

/** A dataset folder path, or the name of a built-in dataset, to an absolute folder path. */
export function resolveDatasetDir(nameOrPath: string): string {
  const asPath = path.resolve(nameOrPath);
  if (existsSync(asPath) && statSync(asPath).isDirectory()) return asPath;
  const builtins = listBuiltinDatasets();
  const root = builtinDatasetsDir();
  if (root && builtins.includes(nameOrPath)) return path.join(root, nameOrPath);
  throw new MotlabError(
    'not_found',
    `No dataset "${nameOrPath}": it is neither a folder (${asPath}) nor a built-in dataset ` +
      `(built-ins: ${builtins.length ? builtins.join(', ') : 'none found'})`,
  );
}

/** Token count per modality name (in the spec's order); tokens outside every range are not counted. */
export function countTokensPerModality(
  tokens: ArrayLike<number>,
  spec: Pick<DatasetSpec, 'modalities' | 'vocab_size'>,
): Record<string, number> {
  const table = modalityTable(spec.modalities, spec.vocab_size);
  const counts = new Array<number>(spec.modalities.length).fill(0);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t >= 0 && t < table.length && table[t] >= 0) counts[table[t]]++;
  }
  return Object.fromEntries(spec.modalities.map((m, i) => [m.name, counts[i]]));
}

export interface Batch {
  /** Row-major [rows, seqLen]. */
  inputs: Int32Array;
  targets: Int32Array;
}

/**
 * `batchSize` random crops of `seqLen + 1` tokens. Exactly one `rng.int` call per row, so the
 * trainer's saved RNG state is the whole data cursor.
 */
export function sampleTrainBatch(tokens: ArrayLike<number>, seqLen: number, batchSize: number, rng: Rng): Batch {
  const starts = tokens.length - seqLen; // number of valid starts: 0 … len − seqLen − 1
  if (starts < 1)
    throw new MotlabError(
      'invalid_dataset',
      `The training split has ${tokens.length} tokens; a window of seq_len ${seqLen} needs at least ${seqLen + 1}`,
    );
  const inputs = new Int32Array(batchSize * seqLen);
  const targets = new Int32Array(batchSize * seqLen);
  for (let b = 0; b < batchSize; b++) {
    const s = rng.int(starts);
    const row = b * seqLen;
    for (let j = 0; j < seqLen; j++) {
      inputs[row + j] = tokens[s + j];
      targets[row + j] = tokens[s + j + 1];
    }
  }
  return { inputs, targets };
}

/** Number of non-overlapping evaluation windows of `seqLen` (+1 target) in `length` tokens. */
export function windowCount(length: number, seqLen: number): number {
  return length > seqLen ? Math.floor((length - 1) / seqLen) : 0;
}

/** Non-overlapping windows k = 0, 1, …: inputs tokens[kS, kS+S), targets shifted by one. */
export function evalWindows(tokens: ArrayLike<number>, seqLen: number, maxWindows: number): Batch & { count: number } {
  const count = Math.max(0, Math.min(Math.floor(maxWindows), windowCount(tokens.length, seqLen)));
  const inputs = new Int32Array(count * seqLen);
  const targets = new Int32Array(count * seqLen);
  for (let k = 0; k < count; k++) {
    const s = k * seqLen;
    for (let j = 0; j < seqLen; j++) {
      inputs[s + j] = tokens[s + j];
      targets[s + j] = tokens[s + j + 1];
    }
  }
  return { inputs, targets, count };
}

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}
