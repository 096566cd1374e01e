/**
 * Opening files the lab did not write (run folders, checkpoints, datasets): only regular files,
 * and their size known before anything is read. A FIFO would block the open (and a libuv thread)
 * forever, /dev/zero never ends, a directory fails mid-read with EISDIR, a 3 GB "metrics.jsonl"
 * would be read whole; each is refused up front with a MotlabError naming the file.
 *
 * A missing file (ENOENT) is passed through unchanged: callers say what "missing" means.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { MotlabError, type MotlabErrorCode } from '../common/errors.ts';

// O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer (we
// refuse it right after). It changes nothing for regular files. Windows has neither.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** Node's largest single read; bigger regions are read in pieces. */
const READ_CHUNK = 1 << 30;

export interface OpenedFile {
  handle: FileHandle;
  size: number;
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
  ENOTDIR: 'a part of the path is not a folder',
  ENAMETOOLONG: 'the path is too long',
  EISDIR: 'is a folder, not a file',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
};

function kindOf(stats: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The errno code of a failed fs call, if it is one. */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Open `file` for reading if it is a regular file. Everything but ENOENT becomes a MotlabError
 * with `code` ("<file>: is a FIFO (named pipe), not a regular file").
 */
export async function openRegularFile(file: string, code: MotlabErrorCode): Promise<OpenedFile> {
  if (file.includes('\0')) throw new MotlabError(code, `${JSON.stringify(file)}: a path cannot contain a NUL character`);
  let handle: FileHandle;
  try {
    handle = await open(file, OPEN_FLAGS);
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 'ENOENT') throw e;
    throw new MotlabError(code, `${file}: cannot be opened (${(errno && REASONS[errno]) ?? errno ?? String(e)})`, { cause: e });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new MotlabError(code, `${file}: is ${kindOf(stats)}, not a regular file`);
    return { handle, size: stats.size };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Read `length` bytes at `position` into `target` (a view of any typed array), in pieces Node accepts. */
export async function readExactly(
  opened: OpenedFile,
  target: Uint8Array,
  position: number,
  file: string,
  code: MotlabErrorCode,
): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const want = Math.min(READ_CHUNK, target.length - done);
    let bytesRead: number;
    try {
      ({ bytesRead } = await opened.handle.read(target, done, want, position + done));
    } catch (e) {
      const errno = errnoOf(e);
      throw new MotlabError(code, `${file}: cannot be read (${(errno && REASONS[errno]) ?? errno ?? String(e)})`, { cause: e });
    }
    if (bytesRead === 0) throw new MotlabError(code, `${file}: the file shrank while it was being read (${position + done} bytes)`);
    done += bytesRead;
  }
}

/**
 * The whole of a regular file of at most `maxBytes` bytes. `what` says what the file is for the
 * size message ("run.json", "a token file").
 */
export async function readRegularFile(file: string, options: { maxBytes: number; code: MotlabErrorCode; what?: string }): Promise<Buffer> {
  const opened = await openRegularFile(file, options.code);
  try {
    if (opened.size > options.maxBytes)
      throw new MotlabError(
        options.code,
        `${file}: ${formatBytes(opened.size)} is more than ${options.what ?? 'such a file'} can be (at most ${formatBytes(options.maxBytes)})`,
      );
    const bytes = Buffer.alloc(opened.size);
    await readExactly(opened, bytes, 0, file, options.code);
    return bytes;
  } finally {
    await opened.handle.close();
  }
}

/** readRegularFile for synchronous readers (small files: codebooks, specs). */
export function readRegularFileSync(file: string, options: { maxBytes: number; code: MotlabErrorCode; what?: string }): Buffer {
  if (file.includes('\0')) throw new MotlabError(options.code, `${JSON.stringify(file)}: a path cannot contain a NUL character`);
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 'ENOENT') throw e;
    throw new MotlabError(options.code, `${file}: cannot be opened (${(errno && REASONS[errno]) ?? errno ?? String(e)})`, { cause: e });
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new MotlabError(options.code, `${file}: is ${kindOf(stats)}, not a regular file`);
    if (stats.size > options.maxBytes)
      throw new MotlabError(
        options.code,
        `${file}: ${formatBytes(stats.size)} is more than ${options.what ?? 'such a file'} can be (at most ${formatBytes(options.maxBytes)})`,
      );
    const bytes = Buffer.alloc(stats.size);
    for (let done = 0; done < bytes.length;) {
      const n = readSync(fd, bytes, done, Math.min(READ_CHUNK, bytes.length - done), done);
      if (n === 0) throw new MotlabError(options.code, `${file}: the file shrank while it was being read`);
      done += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** UTF-8 text of a regular file (see readRegularFile). */
export async function readRegularText(file: string, options: { maxBytes: number; code: MotlabErrorCode; what?: string }): Promise<string> {
  return (await readRegularFile(file, options)).toString('utf8');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Size limits of the small JSON files of run folders and datasets (real ones are a few KB). */
export const MAX_JSON_FILE_BYTES = 16 * 1024 * 1024;
