/**
 * NumPy .npy files (format versions 1.0–3.0), the one array format a Python user can write with
 * numpy alone. Little-endian, C order; the dtypes the lab uses. Reading never trusts the
 * header: every size is checked against the bytes actually present.
 */
import { MotlabError } from '../common/errors.ts';

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

export function decodeNpy(bytes: Uint8Array, source = 'npy file'): NpyArray {
  const fail = (why: string): never => {
    throw new MotlabError('invalid_dataset', `${source}: not a valid .npy file (${why})`);
  };
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail('missing the \\x93NUMPY magic');
  const major = buf[6];
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) fail('truncated header');
    headerLength = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    return fail(`unsupported format version ${major}`);
  }
  if (headerStart + headerLength > buf.length) fail('header runs past the end of the file');
  const header = buf.subarray(headerStart, headerStart + headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) return fail('header lacks descr, fortran_order or shape');
  if (fortran === 'True') fail('Fortran-ordered arrays are not supported; save with np.ascontiguousarray');
  const dtype = ALIASES[descr];
  if (!dtype) return fail(`dtype ${descr} is not supported (use uint16 '<u2', int32 '<i4', float32 '<f4' or uint8)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 0) fail(`bad dimension "${s}"`);
      return n;
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLength;
  const byteLength = count * ITEM_SIZE[dtype];
  if (dataStart + byteLength > buf.length)
    fail(`shape (${shape.join(', ')}) needs ${byteLength} data bytes, the file has ${buf.length - dataStart}`);
  // Copy into an aligned buffer: the data offset need not be a multiple of the item size.
  const raw = new Uint8Array(byteLength);
  raw.set(buf.subarray(dataStart, dataStart + byteLength));
  switch (dtype) {
    case '<u2':
      return { dtype, shape, data: new Uint16Array(raw.buffer) };
    case '<i4':
      return { dtype, shape, data: new Int32Array(raw.buffer) };
    case '<f4':
      return { dtype, shape, data: new Float32Array(raw.buffer) };
    case '|u1':
      return { dtype, shape, data: raw };
  }
}
