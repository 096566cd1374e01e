/**
 * Crash-safe file writes. A reader sees either the old file or the complete new one, never a
 * torn one, even after kill -9 or a power cut: write a temporary file in the same directory,
 * fsync it, rename it over the target (atomic within one file system), then fsync the
 * directory so that the rename itself is durable.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Prefix of every temporary name we create; listers skip such entries. */
export const TEMP_PREFIX = '.tmp-';

/** A unique name beside `path`: `<prefix><name>-<pid>-<random>` (the prefix says what it is for). */
export function tempSibling(path: string, prefix = TEMP_PREFIX): string {
  return join(dirname(path), `${prefix}${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write `data` to a new file and fsync it before closing. */
export async function writeFileDurable(path: string, data: string | Uint8Array, flag = 'wx'): Promise<void> {
  const handle = await open(path, flag);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Make a directory's entries (creations, renames) durable. Windows cannot open a directory
 * for syncing (and does not need it: NTFS journals metadata), so those errors are ignored.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw e;
  } finally {
    await handle?.close();
  }
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = tempSibling(path);
  try {
    await writeFileDurable(temp, data);
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}
