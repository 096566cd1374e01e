/**
 * Writing an imported model.safetensors without holding the model: the header first
 * (checkpoints/safetensors.ts's encodeF32Header, as the lab's own writer), then each tensor
 * streamed from the source in chunks, converted to float32 (F16/BF16 and the rest) on the way.
 * Memory stays at one chunk however large the checkpoint. The step folder is written under a
 * temporary name and renamed into place once every file is on disk (checkpoints/atomic.ts), so
 * an interrupted import leaves no half-written checkpoint.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { MotlabError } from '../common/errors.ts';
import { describeList, quoteName } from '../common/text.ts';
import { fsyncDir, tempSibling, writeFileDurable } from '../checkpoints/atomic.ts';
import { CHECKPOINTS_DIR, checkpointDirName, MODEL_FILE, STATE_FILE } from '../checkpoints/run-folder.ts';
import { encodeF32Header, floatBytesLE } from '../checkpoints/safetensors.ts';
import type { CheckpointSource } from './source.ts';

export interface PlannedTensor {
  /** Our name. */
  name: string;
  /** The source's name for it. */
  from: string;
  shape: number[];
}

export interface WriteProgress {
  bytesWritten: number;
  bytesTotal: number;
  tensor: string;
}

/**
 * Write `<runDir>/checkpoints/step-NNNNNN/{model.safetensors, state.json}` from `source`.
 * Non-finite values are refused (the lab's reader refuses them too), naming the tensor.
 */
export async function writeImportedCheckpoint(
  runDir: string,
  step: number,
  source: CheckpointSource,
  planned: readonly PlannedTensor[],
  metadata: Record<string, string>,
  onProgress?: (p: WriteProgress) => void,
): Promise<string> {
  const checkpointsDir = path.join(runDir, CHECKPOINTS_DIR);
  await mkdir(checkpointsDir, { recursive: true });
  const finalDir = path.join(checkpointsDir, checkpointDirName(step));
  const temp = tempSibling(finalDir);
  await mkdir(temp);
  try {
    const byName = new Map(planned.map((t) => [t.name, t]));
    const { header, names, dataBytes } = encodeF32Header(Object.fromEntries(planned.map((t) => [t.name, t.shape])), metadata);
    const bytesTotal = header.length + dataBytes;
    const handle = await open(path.join(temp, MODEL_FILE), 'wx');
    try {
      let at = 0;
      const write = async (bytes: Uint8Array): Promise<void> => {
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, at + done);
          done += bytesWritten;
        }
        at += bytes.length;
      };
      await write(header);
      for (const name of names) {
        const t = byName.get(name)!;
        const expected = t.shape.reduce((a, b) => a * b, 1);
        const got = source.tensors.get(t.from)?.count;
        if (got !== expected)
          throw new MotlabError(
            'invalid_checkpoint',
            `${source.path}: tensor ${quoteName(t.from)} holds ${got} values, its shape ${describeList(t.shape)} needs ${expected}`,
          );
        await source.readChunks(t.from, async (values, first) => {
          for (let i = 0; i < values.length; i++) {
            if (!Number.isFinite(values[i]))
              throw new MotlabError(
                'invalid_checkpoint',
                `${source.path}: tensor ${quoteName(t.from)} holds a non-finite value (${values[i]}) at index ${first + i}`,
              );
          }
          await write(floatBytesLE(values));
          onProgress?.({ bytesWritten: at, bytesTotal, tensor: t.name });
        });
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await writeFileDurable(path.join(temp, STATE_FILE), JSON.stringify({ step, imported: true }, null, 2) + '\n');
    await fsyncDir(temp);
    await rename(temp, finalDir);
    await fsyncDir(checkpointsDir);
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
  return finalDir;
}
