/**
 * A safetensors file read lazily: the header when it is opened, then one tensor at a time, from
 * disk by offset, converted to float32 in bounded chunks. A checkpoint far larger than memory
 * can be inspected tensor by tensor; memory holds the header and the tensor being read.
 */
import { MotlabError } from '../common/errors.ts';
import { openRegularFile, readExactly, type OpenedFile } from '../data/regular-file.ts';
import { ITEM_SIZE, readSafetensorsHeader, toFloat32, type SafetensorsEntry } from './safetensors.ts';

/** Bytes read (and converted) at a time. */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface LazyTensor extends SafetensorsEntry {
  /** Elements in the tensor. */
  count: number;
}

export class LazySafetensors {
  private constructor(
    readonly file: string,
    private readonly opened: OpenedFile,
    private readonly dataStart: number,
    readonly metadata: Record<string, string>,
    /** By name, in the header's order. */
    readonly tensors: ReadonlyMap<string, LazyTensor>,
  ) {}

  /** Open `file` and check its header against its size; refuses anything but a regular file. */
  static async open(file: string): Promise<LazySafetensors> {
    let opened: OpenedFile;
    try {
      opened = await openRegularFile(file, 'invalid_checkpoint');
    } catch (e) {
      if (e instanceof MotlabError) throw e;
      throw new MotlabError('not_found', `${file}: no such file`);
    }
    try {
      const { header, dataStart } = await readSafetensorsHeader(opened, file);
      const tensors = new Map<string, LazyTensor>();
      for (const e of header.entries) tensors.set(e.name, { ...e, count: (e.end - e.begin) / ITEM_SIZE[e.dtype] });
      return new LazySafetensors(file, opened, dataStart, header.metadata, tensors);
    } catch (e) {
      await opened.handle.close();
      throw e;
    }
  }

  /** Bytes of the file. */
  get size(): number {
    return this.opened.size;
  }

  private entry(name: string): LazyTensor {
    const t = this.tensors.get(name);
    if (!t) throw new MotlabError('not_found', `${this.file}: no tensor "${name}"`);
    return t;
  }

  /**
   * The tensor as float32 in pieces of at most `chunkBytes` of the file: `use(values, first)`
   * gets the values of elements [first, first + values.length). `values` is only valid during the call.
   */
  async readChunks(
    name: string,
    use: (values: Float32Array, first: number) => void | Promise<void>,
    chunkBytes = READ_CHUNK_BYTES,
  ): Promise<void> {
    const t = this.entry(name);
    const itemSize = ITEM_SIZE[t.dtype];
    const perChunk = Math.max(1, Math.floor(chunkBytes / itemSize));
    const raw = new Uint8Array(Math.min(t.count, perChunk) * itemSize);
    for (let first = 0; first < t.count; first += perChunk) {
      const count = Math.min(perChunk, t.count - first);
      const bytes = raw.subarray(0, count * itemSize);
      await readExactly(this.opened, bytes, this.dataStart + t.begin + first * itemSize, this.file, 'invalid_checkpoint');
      const values =
        t.dtype === 'F32' && LITTLE_ENDIAN_HOST
          ? new Float32Array(raw.buffer, 0, count) // the bytes are the values: no copy
          : toFloat32(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, count, t.dtype);
      await use(values, first);
    }
  }

  /** Elements [first, first + count) of the tensor as float32, in `into` (reused by streaming callers) or their own array. */
  async readRange(name: string, first: number, count: number, into?: Float32Array): Promise<Float32Array> {
    const t = this.entry(name);
    if (!(Number.isSafeInteger(first) && Number.isSafeInteger(count) && first >= 0 && count >= 0 && first + count <= t.count))
      throw new MotlabError('invalid_request', `${this.file}: elements ${first}–${first + count} of tensor "${name}" (it has ${t.count})`);
    const out = into ? into.subarray(0, count) : new Float32Array(count);
    if (out.length !== count) throw new MotlabError('invalid_request', `readRange: ${count} values do not fit a buffer of ${into!.length}`);
    const itemSize = ITEM_SIZE[t.dtype];
    const start = this.dataStart + t.begin + first * itemSize;
    if (t.dtype === 'F32' && LITTLE_ENDIAN_HOST) {
      // Straight into the result: no intermediate buffers for the garbage collector to catch up with.
      const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      for (let at = 0; at < bytes.length; at += READ_CHUNK_BYTES)
        await readExactly(
          this.opened,
          bytes.subarray(at, Math.min(at + READ_CHUNK_BYTES, bytes.length)),
          start + at,
          this.file,
          'invalid_checkpoint',
        );
      return out;
    }
    const perChunk = Math.max(1, Math.floor(READ_CHUNK_BYTES / itemSize));
    const raw = new Uint8Array(Math.min(count, perChunk) * itemSize);
    for (let done = 0; done < count; done += perChunk) {
      const n = Math.min(perChunk, count - done);
      const bytes = raw.subarray(0, n * itemSize);
      await readExactly(this.opened, bytes, start + done * itemSize, this.file, 'invalid_checkpoint');
      out.set(toFloat32(new DataView(bytes.buffer, 0, bytes.byteLength), 0, n, t.dtype), done);
    }
    return out;
  }

  /** The whole tensor as float32 (its own array). */
  read(name: string): Promise<Float32Array> {
    return this.readRange(name, 0, this.entry(name).count);
  }

  async close(): Promise<void> {
    await this.opened.handle.close();
  }
}
