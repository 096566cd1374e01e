/**
 * A checkpoint from anywhere, opened lazily: one safetensors file, a sharded checkpoint
 * (`model.safetensors.index.json` with its `weight_map` of tensor → shard file), a folder holding
 * either, or one of our run folders (its latest checkpoint). Only headers are read on opening;
 * tensors are read one at a time by offset (checkpoints/lazy-safetensors.ts).
 *
 * The index file is trusted no more than a safetensors header: its size is bounded, a tensor
 * listed twice, a shard outside the checkpoint's folder (an absolute path, `..`, or a symbolic
 * link leading out), a missing shard, or a shard whose tensors differ from what the index says
 * is an error naming the file and the problem.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { MotlabError } from '../common/errors.ts';
import { quoteName } from '../common/text.ts';
import { errnoOf, readRegularText } from '../data/regular-file.ts';
import { CHECKPOINTS_DIR, listCheckpoints, MODEL_FILE } from '../checkpoints/run-folder.ts';
import { LazySafetensors, type LazyTensor } from '../checkpoints/lazy-safetensors.ts';

export const INDEX_SUFFIX = '.safetensors.index.json';
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;
export const MAX_SHARDS = 4096;

export interface SourceTensor extends LazyTensor {
  /** The file that holds it. */
  file: LazySafetensors;
}

export interface CheckpointSource {
  /** What was opened (a file, an index file or a folder), as given. */
  path: string;
  kind: 'safetensors' | 'sharded';
  /** The safetensors files, in shard order. */
  files: string[];
  /** The single file's __metadata__, or the index's "metadata" (values as strings). */
  metadata: Record<string, string>;
  tensors: ReadonlyMap<string, SourceTensor>;
  /** The training step, when the source says (our run folders and step folders, "step" metadata). */
  step: number | null;
  read(name: string): Promise<Float32Array>;
  readRange(name: string, first: number, count: number, into?: Float32Array): Promise<Float32Array>;
  readChunks(name: string, use: (values: Float32Array, first: number) => void | Promise<void>): Promise<void>;
  close(): Promise<void>;
}

async function statOrNull(p: string) {
  try {
    return await stat(p);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return null;
    throw new MotlabError('invalid_checkpoint', `${p}: cannot read (${errnoOf(e) ?? String(e)})`);
  }
}

function makeSource(
  given: string,
  kind: CheckpointSource['kind'],
  files: LazySafetensors[],
  metadata: Record<string, string>,
  tensors: Map<string, SourceTensor>,
  step: number | null,
): CheckpointSource {
  const find = (name: string): SourceTensor => {
    const t = tensors.get(name);
    if (!t) throw new MotlabError('not_found', `${given}: no tensor "${name}"`);
    return t;
  };
  return {
    path: given,
    kind,
    files: files.map((f) => f.file),
    metadata,
    tensors,
    step,
    read: (name) => find(name).file.read(name),
    readRange: (name, first, count, into) => find(name).file.readRange(name, first, count, into),
    readChunks: (name, use) => find(name).file.readChunks(name, use),
    close: async () => {
      await Promise.all(files.map((f) => f.close()));
    },
  };
}

/** A step from metadata ("step", "global_step", "iteration") or the folder name `step-000500`. */
function stepOf(metadata: Record<string, string>, file: string): number | null {
  for (const key of ['step', 'global_step', 'iteration']) {
    const v = metadata[key];
    if (v !== undefined && /^\d{1,15}$/.test(v)) return Number(v);
  }
  const m = /^step-(\d{1,15})$/.exec(path.basename(path.dirname(file)));
  return m ? Number(m[1]) : null;
}

async function openSingle(file: string, given: string): Promise<CheckpointSource> {
  const lazy = await LazySafetensors.open(file);
  const tensors = new Map<string, SourceTensor>();
  for (const [name, t] of lazy.tensors) tensors.set(name, { ...t, file: lazy });
  return makeSource(given, 'safetensors', [lazy], lazy.metadata, tensors, stepOf(lazy.metadata, file));
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints

/** The first key that appears twice in one object of valid JSON `text`, with its object's path. */
export function firstDuplicateKey(text: string): { key: string; where: string } | null {
  type Frame = { keys: Set<string> | null; path: string; nextIsKey: boolean; lastKey: string };
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack.at(-1);
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top?.keys && top.nextIsKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { key, where: top.path || '(top level)' };
        top.keys.add(key);
        top.lastKey = key;
        top.nextIsKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const childPath = top ? (top.keys ? `${top.path}.${top.lastKey}` : `${top.path}[]`) : '';
      stack.push({ keys: c === '{' ? new Set() : null, path: childPath.replace(/^\./, ''), nextIsKey: c === '{', lastKey: '' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top?.keys) {
      top.nextIsKey = true;
    }
  }
  return null;
}

/** The shard files of an index, each resolved inside `dir` (or an error naming the index). */
async function shardPaths(index: string, weightMap: Record<string, string>): Promise<Map<string, string>> {
  const dir = path.dirname(index);
  const realDir = await realpath(dir);
  const resolved = new Map<string, string>();
  for (const shard of new Set(Object.values(weightMap))) {
    const fail = (what: string): never => {
      throw new MotlabError('invalid_checkpoint', `${index}: shard ${quoteName(shard)} ${what}`);
    };
    if (shard.length === 0 || shard.length > 1024 || shard.includes('\0')) fail('is not a file name');
    if (path.isAbsolute(shard) || path.win32.isAbsolute(shard) || shard.split(/[\\/]/).includes('..'))
      fail('lies outside the checkpoint folder (shards must be files in the folder of the index)');
    const full = path.resolve(dir, shard);
    let real: string;
    try {
      real = await realpath(full);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return fail(`is missing (${full})`);
      return fail(`cannot be read (${errnoOf(e) ?? String(e)})`);
    }
    if (real !== realDir && !real.startsWith(realDir + path.sep)) fail(`leads outside the checkpoint folder (a link to ${real})`);
    resolved.set(shard, full);
  }
  if (resolved.size > MAX_SHARDS) throw new MotlabError('invalid_checkpoint', `${index}: ${resolved.size} shards (at most ${MAX_SHARDS})`);
  return resolved;
}

/** Parse and check an index file's text. */
export function parseShardIndex(text: string, index: string): { metadata: Record<string, string>; weightMap: Record<string, string> } {
  const fail = (what: string): never => {
    throw new MotlabError('invalid_checkpoint', `${index}: ${what}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${e instanceof Error ? e.message.slice(0, 200) : String(e)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('not a JSON object');
  const { weight_map: weightMap, metadata: rawMetadata } = json as Record<string, unknown>;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap))
    return fail('has no "weight_map" object (tensor name → shard file)');
  const entries = Object.entries(weightMap as Record<string, unknown>);
  if (entries.length === 0) fail('"weight_map" lists no tensors');
  const duplicate = firstDuplicateKey(text);
  if (duplicate) fail(`tensor ${quoteName(duplicate.key)} is listed twice (in ${duplicate.where})`);
  const map: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, shard] of entries) {
    if (typeof shard !== 'string')
      fail(`"weight_map" gives tensor ${quoteName(name)} a ${shard === null ? 'null' : typeof shard}, not a shard file name`);
    map[name] = shard as string;
  }
  const metadata: Record<string, string> = {};
  if (rawMetadata !== undefined && rawMetadata !== null) {
    if (typeof rawMetadata !== 'object' || Array.isArray(rawMetadata)) fail('"metadata" is not an object');
    for (const [k, v] of Object.entries(rawMetadata as Record<string, unknown>)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        Object.defineProperty(metadata, k, { value: String(v), enumerable: true, writable: true, configurable: true });
    }
  }
  return { metadata, weightMap: map };
}

async function openSharded(index: string, given: string): Promise<CheckpointSource> {
  let text: string;
  try {
    text = await readRegularText(index, { maxBytes: MAX_INDEX_BYTES, code: 'invalid_checkpoint', what: 'an index file' });
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') throw new MotlabError('not_found', `${index}: no such file`);
    throw e;
  }
  const { metadata, weightMap } = parseShardIndex(text, index);
  const shards = await shardPaths(index, weightMap);
  const files: LazySafetensors[] = [];
  try {
    const byShard = new Map<string, LazySafetensors>();
    // Shards in a stable order (their names sort as model-00001-of-000NN).
    for (const shard of [...shards.keys()].sort()) {
      const lazy = await LazySafetensors.open(shards.get(shard)!);
      files.push(lazy);
      byShard.set(shard, lazy);
    }
    const tensors = new Map<string, SourceTensor>();
    for (const [name, shard] of Object.entries(weightMap)) {
      const lazy = byShard.get(shard)!;
      const t = lazy.tensors.get(name);
      if (!t) throw new MotlabError('invalid_checkpoint', `${index}: lists tensor ${quoteName(name)} in ${shard}, which does not hold it`);
      tensors.set(name, { ...t, file: lazy });
    }
    for (const [shard, lazy] of byShard) {
      for (const name of lazy.tensors.keys()) {
        if (weightMap[name] !== shard) {
          const elsewhere = Object.hasOwn(weightMap, name)
            ? `, which the index puts in ${weightMap[name]} (listed twice)`
            : ', which the index does not list';
          throw new MotlabError('invalid_checkpoint', `${index}: shard ${shard} holds tensor ${quoteName(name)}${elsewhere}`);
        }
      }
    }
    return makeSource(given, 'sharded', files, metadata, tensors, stepOf(metadata, index));
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Any source

/** Open a checkpoint file, index file, checkpoint folder or run folder. */
export async function openCheckpointSource(given: string): Promise<CheckpointSource> {
  const target = path.resolve(given);
  const s = await statOrNull(target);
  if (!s) throw new MotlabError('not_found', `${target}: no such file or folder`);
  if (s.isFile()) return target.endsWith('.json') ? openSharded(target, target) : openSingle(target, target);
  if (!s.isDirectory()) throw new MotlabError('invalid_checkpoint', `${target}: neither a file nor a folder`);

  // One of our run folders: its latest checkpoint.
  if (await statOrNull(path.join(target, CHECKPOINTS_DIR))) {
    const latest = (await listCheckpoints(target)).at(-1);
    if (!latest) throw new MotlabError('not_found', `${target}: a run folder without a complete checkpoint`);
    const source = await openSingle(path.join(latest.dir, MODEL_FILE), target);
    return { ...source, step: latest.step };
  }
  for (const name of [`model${INDEX_SUFFIX}`, MODEL_FILE]) {
    const candidate = path.join(target, name);
    if ((await statOrNull(candidate))?.isFile()) return openCheckpointSource(candidate);
  }
  const entries = await readdir(target);
  const indexes = entries.filter((e) => e.endsWith(INDEX_SUFFIX));
  const singles = entries.filter((e) => e.endsWith('.safetensors'));
  if (indexes.length === 1) return openCheckpointSource(path.join(target, indexes[0]));
  if (indexes.length === 0 && singles.length === 1) return openCheckpointSource(path.join(target, singles[0]));
  const found = indexes.length ? indexes : singles;
  throw new MotlabError(
    'not_found',
    found.length
      ? `${target}: holds several checkpoints (${found.slice(0, 5).join(', ')}${found.length > 5 ? ', …' : ''}); pass the file to import`
      : `${target}: no safetensors checkpoint in this folder (no ${MODEL_FILE}, no *${INDEX_SUFFIX}, no *.safetensors)`,
  );
}
