/**
 * The safetensors format, read and written by our own code (no maintained npm package exists;
 * see field-notes.md). Layout: an 8-byte little-endian u64 header length N, N bytes of UTF-8
 * JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then
 * the raw little-endian tensor data; offsets are relative to the start of the data area.
 *
 * We write F32 only, tensors sorted by name with contiguous offsets, the header padded with
 * spaces to a multiple of 8 (so the data area is 8-byte aligned, as the reference writer does).
 *
 * The reader trusts nothing in the file: every size, offset and type is checked against the
 * bytes present, and every failure is a MotlabError('invalid_checkpoint', "<file>: <problem>").
 * Float and integer dtypes are converted to Float32Array (the lab computes in float32).
 */
import { openRegularFile, readExactly, type OpenedFile } from '../data/regular-file.ts';
import { MAX_MODEL_TENSORS } from '../model/config.ts';
import { MotlabError } from '../common/errors.ts';
import { describeList, oneLine, quoteName } from '../common/text.ts';

export interface TensorIn {
  shape: number[];
  data: Float32Array;
}
export interface TensorOut {
  /** The dtype stored in the file (e.g. "F32", "BF16"); `data` is always float32. */
  dtype: string;
  shape: number[];
  data: Float32Array;
}
export interface DecodedSafetensors {
  tensors: Record<string, TensorOut>;
  metadata: Record<string, string>;
}

/**
 * Limits for our checkpoints, refused before anything is allocated or parsed. The most tensors
 * a model config may have (MAX_MODEL_TENSORS) doubled for the optimizer's two moments per weight;
 * 256 bytes of header per tensor (a long name, a 2-d shape and two offsets take about 130).
 */
export const MAX_TENSORS = 2 * MAX_MODEL_TENSORS;
export const MAX_HEADER_BYTES = 256 * MAX_TENSORS;
/** Our tensors have 1 or 2 dimensions; other writers' rarely more than 5. */
export const MAX_RANK = 16;

export const ITEM_SIZE: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The little-endian bytes of float32 values (a view of them on a little-endian host). */
export function floatBytesLE(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

/**
 * The header of an F32 safetensors file for tensors of these shapes, sorted by name with
 * contiguous offsets: the 8-byte length prefix and the JSON padded with spaces to a multiple of
 * 8 (so the data area is 8-byte aligned, as the reference writer does). The data follows in
 * `names` order. Streaming writers (importers/) write this, then each tensor's bytes.
 */
export function encodeF32Header(
  shapes: Record<string, readonly number[]>,
  metadata?: Record<string, string>,
): { header: Buffer; names: string[]; dataBytes: number } {
  const names = Object.keys(shapes).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__' || name.length === 0) throw new Error(`invalid tensor name "${name}"`);
    const shape = shapes[name];
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`tensor ${name}: bad shape ${JSON.stringify(shape)}`);
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape: [...shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);
  return { header: Buffer.concat([prefix, json]), names, dataBytes: offset };
}

export function encodeSafetensors(tensors: Record<string, TensorIn>, metadata?: Record<string, string>): Buffer {
  for (const [name, { shape, data }] of Object.entries(tensors)) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`tensor ${name}: shape ${JSON.stringify(shape)} needs ${count} values, got ${data.length}`);
  }
  const { header, names, dataBytes } = encodeF32Header(
    Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.shape])),
    metadata,
  );
  const out = Buffer.alloc(header.length + dataBytes);
  header.copy(out, 0);
  let at = header.length;
  for (const name of names) {
    out.set(floatBytesLE(tensors[name].data), at);
    at += tensors[name].data.byteLength;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeShape(shape: number[]): string {
  return describeList(shape);
}

/** Convert `count` values of `dtype` starting at `view[byteOffset]` to float32. */
export function toFloat32(view: DataView, byteOffset: number, count: number, dtype: string): Float32Array {
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN_HOST) {
        // One copy into an aligned buffer: the data need not be 4-byte aligned in the file.
        new Uint8Array(out.buffer).set(new Uint8Array(view.buffer, view.byteOffset + byteOffset, count * 4));
      } else {
        for (let i = 0; i < count; i++) out[i] = view.getFloat32(byteOffset + 4 * i, true);
      }
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(byteOffset + 8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(byteOffset + 2 * i, true));
      break;
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(byteOffset + 2 * i, true) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(byteOffset + 8 * i, true));
      break;
    case 'U64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigUint64(byteOffset + 8 * i, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(byteOffset + 4 * i, true);
      break;
    case 'U32':
      for (let i = 0; i < count; i++) out[i] = view.getUint32(byteOffset + 4 * i, true);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(byteOffset + 2 * i, true);
      break;
    case 'U16':
      for (let i = 0; i < count; i++) out[i] = view.getUint16(byteOffset + 2 * i, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(byteOffset + i);
      break;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(byteOffset + i);
      break;
    default:
      throw new Error(`unreachable dtype ${dtype}`);
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** One tensor's entry in the header, checked against the data area. */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte offsets relative to the start of the data area. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In the header's order. */
  entries: SafetensorsEntry[];
}

/**
 * Structural limits checked by a linear scan before JSON.parse, so that a hostile header costs
 * at most one pass over its bytes: a valid header nests 3 deep (header → entry → shape), has
 * one top-level key per tensor (plus __metadata__), and a handful of JSON values per tensor.
 */
const MAX_HEADER_DEPTH = 3;
const MAX_VALUES_PER_TENSOR = 24;
const MAX_METADATA_VALUES = 4096;

function scanHeader(bytes: Uint8Array, fail: (what: string) => never): void {
  let depth = 0;
  let topLevelKeys = 0;
  let values = 0;
  const maxValues = MAX_TENSORS * MAX_VALUES_PER_TENSOR + MAX_METADATA_VALUES;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x22) {
      // Skip a string (escapes included); structure characters inside it do not count.
      for (i++; i < bytes.length && bytes[i] !== 0x22; i++) if (bytes[i] === 0x5c) i++;
      continue;
    }
    if (b === 0x7b || b === 0x5b) {
      if (++depth > MAX_HEADER_DEPTH) fail(`header nests deeper than a safetensors header can (more than ${MAX_HEADER_DEPTH} levels)`);
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    } else if (b === 0x3a || b === 0x2c) {
      if (b === 0x3a && depth === 1 && ++topLevelKeys > MAX_TENSORS + 1)
        fail(`header lists more than ${MAX_TENSORS.toLocaleString('en-US')} tensors (the most a checkpoint of ours can hold)`);
      if (++values > maxValues) fail('header holds far more JSON values than its tensors need');
    }
  }
}

/**
 * Parse and check a header: `headerBytes` are the N bytes after the length prefix, `dataLength`
 * the bytes after them. Every entry is checked against the data area, and the entries must tile
 * it exactly. Nothing proportional to the (claimed) tensor sizes is allocated.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, dataLength: number, source: string): SafetensorsHeader {
  const fail = (what: string): never => {
    throw new MotlabError('invalid_checkpoint', `${source}: ${what}`);
  };
  if (headerBytes.length < 2) fail(`header length ${headerBytes.length} is too short for a JSON object`);
  scanHeader(headerBytes, fail);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${oneLine(e instanceof Error ? e.message : String(e), 200)})`);
  }
  if (!isPlainObject(header)) return fail('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const rawMeta = header.__metadata__;
  if (rawMeta !== undefined && rawMeta !== null) {
    if (!isPlainObject(rawMeta)) fail('__metadata__ is not an object of strings');
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__[${quoteName(k)}] is a ${v === null ? 'null' : typeof v}, not a string`);
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const where = `tensor ${quoteName(name)}`;
    if (!isPlainObject(info)) return fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string') return fail(`${where}: dtype is missing or not a string`);
    const itemSize = ITEM_SIZE[dtype];
    if (itemSize === undefined) return fail(`${where}: unsupported dtype ${quoteName(dtype, 20)}`);
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0))
      return fail(`${where}: shape must be an array of non-negative integers`);
    if (shape.length > MAX_RANK) return fail(`${where}: shape has ${shape.length} dimensions (at most ${MAX_RANK} are supported)`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    )
      return fail(`${where}: data_offsets must be two non-negative integers`);
    const [begin, end] = offsets as [number, number];
    if (end < begin) return fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) return fail(`${where}: data_offsets [${begin}, ${end}] run past the data area (${dataLength} bytes; truncated?)`);
    // With no zero dimension the running product only grows, so when the total is a safe
    // integer every step was exact; a larger total cannot equal the (safe) span.
    const span = end - begin;
    const dims = shape as number[];
    const bytesNeeded = dims.includes(0) ? 0 : dims.reduce((a, d) => a * d, itemSize);
    if (bytesNeeded !== span)
      return fail(
        `${where}: shape ${describeShape(dims)} of ${dtype} needs ${Number.isSafeInteger(bytesNeeded) ? bytesNeeded : 'about ' + bytesNeeded.toExponential(3)} bytes, data_offsets span ${span}`,
      );
    entries.push({ name, dtype, shape: dims, begin, end });
  }

  // The tensors must tile the data area exactly: no overlap, no gap, nothing left over.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of byOffset) {
    if (e.begin < covered) fail(`tensor ${quoteName(e.name)} overlaps another tensor (data_offsets [${e.begin}, ${e.end}])`);
    if (e.begin > covered)
      fail(`gap in the data area before tensor ${quoteName(e.name)} (bytes ${covered}–${e.begin} belong to no tensor)`);
    covered = e.end;
  }
  if (covered !== dataLength) fail(`data area has ${dataLength} bytes but the tensors cover ${covered} (trailing bytes or truncated)`);
  return { metadata, entries };
}

/** The header length from the 8-byte prefix, checked against the limit and the file size. */
function headerLengthOf(prefix: Uint8Array, fileBytes: number, source: string): number {
  const fail = (what: string): never => {
    throw new MotlabError('invalid_checkpoint', `${source}: ${what}`);
  };
  if (fileBytes < 8) fail(`not a safetensors file (${fileBytes} bytes, the 8-byte header length is missing)`);
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  const n = Number(headerLength);
  if (8 + n > fileBytes) fail(`header length ${n} runs past the end of the file (${fileBytes} bytes; truncated?)`);
  return n;
}

function defineTensor(tensors: Record<string, TensorOut>, name: string, value: TensorOut): void {
  // defineProperty: a tensor named "__proto__" must not replace the object's prototype.
  Object.defineProperty(tensors, name, { value, enumerable: true, writable: true, configurable: true });
}

/** Decode a whole safetensors file held in memory. */
export function decodeSafetensors(bytes: Uint8Array, source: string): DecodedSafetensors {
  const n = headerLengthOf(bytes, bytes.byteLength, source);
  const dataStart = 8 + n;
  const { metadata, entries } = parseSafetensorsHeader(bytes.subarray(8, dataStart), bytes.byteLength - dataStart, source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors: Record<string, TensorOut> = {};
  for (const e of entries) {
    const count = (e.end - e.begin) / ITEM_SIZE[e.dtype];
    defineTensor(tensors, e.name, { dtype: e.dtype, shape: [...e.shape], data: toFloat32(view, dataStart + e.begin, count, e.dtype) });
  }
  return { tensors, metadata };
}

/** The header of an opened safetensors file (bounded, checked against the file's size) and where its data starts. */
export async function readSafetensorsHeader(opened: OpenedFile, file: string): Promise<{ header: SafetensorsHeader; dataStart: number }> {
  const prefix = new Uint8Array(8);
  if (opened.size >= 8) await readExactly(opened, prefix, 0, file, 'invalid_checkpoint');
  const n = headerLengthOf(prefix, opened.size, file);
  const headerBytes = new Uint8Array(n);
  await readExactly(opened, headerBytes, 8, file, 'invalid_checkpoint');
  return { header: parseSafetensorsHeader(headerBytes, opened.size - 8 - n, file), dataStart: 8 + n };
}

/**
 * Read a safetensors file lazily: the header first (bounded, checked against the file's size),
 * then `check` (which may refuse the file from its header alone: a config that does not match,
 * the wrong tensors), and only then the tensors, each straight into its own array. Nothing is
 * allocated from a size the file merely claims, and files over 2 GiB need no single buffer.
 * Only regular files are opened (see data/regular-file.ts); ENOENT is passed through.
 */
export async function readSafetensorsFile(file: string, check?: (header: SafetensorsHeader) => void): Promise<DecodedSafetensors> {
  const opened = await openRegularFile(file, 'invalid_checkpoint');
  try {
    const { header, dataStart } = await readSafetensorsHeader(opened, file);
    check?.(header);
    const tensors: Record<string, TensorOut> = {};
    for (const e of header.entries) {
      const count = (e.end - e.begin) / ITEM_SIZE[e.dtype];
      let data: Float32Array;
      if (e.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
        data = new Float32Array(count);
        await readExactly(opened, new Uint8Array(data.buffer), dataStart + e.begin, file, 'invalid_checkpoint');
      } else {
        const raw = new Uint8Array(e.end - e.begin);
        await readExactly(opened, raw, dataStart + e.begin, file, 'invalid_checkpoint');
        data = toFloat32(new DataView(raw.buffer), 0, count, e.dtype);
      }
      defineTensor(tensors, e.name, { dtype: e.dtype, shape: [...e.shape], data });
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await opened.handle.close();
  }
}
