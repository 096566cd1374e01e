/**
 * NumPy .npy files (format versions 1.0–3.0), the one array format a Python user can write with
 * numpy alone. Little-endian, C order; the dtypes the lab uses. Reading never trusts the
 * header: every size is checked against the bytes actually present.
 */
import { constants as bufferConstants } from 'node:buffer';
import { MotlabError } from '../common/errors.ts';
import { oneLine } from '../common/text.ts';
import { formatBytes, openRegularFile, readExactly } from './regular-file.ts';

export type NpyArray =
  | { dtype: '<u2'; shape: number[]; data: Uint16Array }
  | { dtype: '<i4'; shape: number[]; data: Int32Array }
  | { dtype: '<f4'; shape: number[]; data: Float32Array }
  | { dtype: '|u1'; shape: number[]; data: Uint8Array };
export type NpyDtype = NpyArray['dtype'];

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ITEM_SIZE: Record<NpyDtype, number> = { '<u2': 2, '<i4': 4, '<f4': 4, '|u1': 1 };
const ALIASES: Record<string, NpyDtype> = { '<u2': '<u2', '<i4': '<i4', '<f4': '<f4', '|u1': '|u1', '<u1': '|u1' };

export function encodeNpy(array: NpyArray): Buffer {
  const expected = array.shape.reduce((a, b) => a * b, 1);
  if (expected !== array.data.length)
    throw new Error(`npy: shape ${JSON.stringify(array.shape)} does not match ${array.data.length} values`);
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${array.dtype}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad so that magic(6) + version(2) + length(2) + header + '\n' is a multiple of 64.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const prefix = Buffer.alloc(10);
  MAGIC.copy(prefix, 0);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const body = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]);
}

interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  dataStart: number;
  /** Bytes of data the shape needs (a safe integer: checked). */
  byteLength: number;
}

/** Header fields longer than this are not a .npy a person wrote (numpy pads to 64 bytes). */
const MAX_HEADER_BYTES = 1 << 16;
const MAX_RANK = 32;

/**
 * Parse the prefix and header dictionary from the first bytes of a file of `fileBytes` bytes
 * (`head` need only hold the header). Checks that the data the shape needs is present.
 */
function parseNpyHeader(head: Buffer, fileBytes: number, source: string): NpyHeader {
  const fail = (why: string): never => {
    throw new MotlabError('invalid_dataset', `${source}: not a valid .npy file (${why})`);
  };
  if (head.length < 10 || !head.subarray(0, 6).equals(MAGIC)) fail('missing the \\x93NUMPY magic');
  const major = head[6];
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = head.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (head.length < 12) fail('truncated header');
    headerLength = head.readUInt32LE(8);
    headerStart = 12;
  } else {
    return fail(`unsupported format version ${major}`);
  }
  if (headerLength > MAX_HEADER_BYTES) fail(`header of ${headerLength} bytes (numpy writes well under ${MAX_HEADER_BYTES})`);
  if (headerStart + headerLength > Math.min(head.length, fileBytes)) fail('header runs past the end of the file');
  const header = head.subarray(headerStart, headerStart + headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) return fail('header lacks descr, fortran_order or shape');
  if (fortran === 'True') fail('Fortran-ordered arrays are not supported; save with np.ascontiguousarray');
  const dtype = ALIASES[descr];
  if (!dtype) return fail(`dtype ${oneLine(descr, 40)} is not supported (use uint16 '<u2', int32 '<i4', float32 '<f4' or uint8)`);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (dims.length > MAX_RANK) fail(`shape has ${dims.length} dimensions (at most ${MAX_RANK})`);
  const shape = dims.map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n)) fail(`bad dimension ${oneLine(JSON.stringify(s), 40)}`);
    return n;
  });
  const dataStart = headerStart + headerLength;
  // Any zero dimension makes the array empty; otherwise the product only grows, so an unsafe
  // total is larger than any file.
  const byteLength = shape.includes(0) ? 0 : shape.reduce((a, b) => a * b, ITEM_SIZE[dtype]);
  if (!Number.isSafeInteger(byteLength) || dataStart + byteLength > fileBytes)
    fail(
      `shape (${shape.length > 8 ? shape.slice(0, 8).join(', ') + ', …' : shape.join(', ')}) needs ${Number.isSafeInteger(byteLength) ? byteLength : 'about ' + byteLength.toExponential(3)} data bytes, the file has ${Math.max(0, fileBytes - dataStart)}`,
    );
  return { dtype, shape, dataStart, byteLength };
}

function arrayOf(header: NpyHeader, raw: Uint8Array): NpyArray {
  const { dtype, shape } = header;
  switch (dtype) {
    case '<u2':
      return { dtype, shape, data: new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2) };
    case '<i4':
      return { dtype, shape, data: new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) };
    case '<f4':
      return { dtype, shape, data: new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4) };
    case '|u1':
      return { dtype, shape, data: raw };
  }
}

export function decodeNpy(bytes: Uint8Array, source = 'npy file'): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = parseNpyHeader(buf, buf.length, source);
  // Copy into an aligned buffer: the data offset need not be a multiple of the item size.
  const raw = new Uint8Array(header.byteLength);
  raw.set(buf.subarray(header.dataStart, header.dataStart + header.byteLength));
  return arrayOf(header, raw);
}

/**
 * Read a .npy file lazily: the header first (bounded, checked against the file's size), then the
 * data straight into its typed array. Only regular files are opened; ENOENT is passed through.
 */
export async function readNpyFile(file: string): Promise<NpyArray> {
  const opened = await openRegularFile(file, 'invalid_dataset');
  try {
    const head = Buffer.alloc(Math.min(opened.size, 12 + MAX_HEADER_BYTES));
    await readExactly(opened, head, 0, file, 'invalid_dataset');
    const header = parseNpyHeader(head, opened.size, file);
    if (header.byteLength > MAX_ARRAY_BYTES)
      throw new MotlabError(
        'invalid_dataset',
        `${file}: ${formatBytes(header.byteLength)} of data is more than one array can hold here (${formatBytes(MAX_ARRAY_BYTES)}); split it into smaller files`,
      );
    const raw = new Uint8Array(header.byteLength);
    await readExactly(opened, raw, header.dataStart, file, 'invalid_dataset');
    return arrayOf(header, raw);
  } finally {
    await opened.handle.close();
  }
}

/** Node's largest typed array (4 GiB on 64-bit Node 20). */
const MAX_ARRAY_BYTES = bufferConstants.MAX_LENGTH;
