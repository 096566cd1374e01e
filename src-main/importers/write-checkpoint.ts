/**
 * Writing an imported model.safetensors without holding the model: the header first (every
 * tensor F32, sorted by name, contiguous, as checkpoints/safetensors.ts writes), then each tensor
 * streamed from the source in chunks, converted to float32 (F16/BF16 and the rest) on the way.
 * Memory stays at one chunk however large the checkpoint. The step folder is written under a
 * temporary name and renamed into place once every file is on disk (checkpoints/atomic.ts), so
 * an interrupted import leaves no half-written checkpoint.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { MotlabError } from '../common/errors.ts';
import { fsyncDir, tempSibling, writeFileDurable } from '../checkpoints/atomic.ts';
import { CHECKPOINTS_DIR, checkpointDirName, MODEL_FILE, STATE_FILE } from '../checkpoints/run-folder.ts';
import type { CheckpointSource } from './source.ts';

export interface PlannedTensor {
  /** Our name. */
  name: string;
  /** The source's name for it. */
  from: string;
  shape: number[];
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The header bytes (length prefix included) for F32 tensors in this order, padded to 8 bytes. */
function headerBytes(tensors: readonly PlannedTensor[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json]);
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
  const tensors = [...planned].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const checkpointsDir = path.join(runDir, CHECKPOINTS_DIR);
  await mkdir(checkpointsDir, { recursive: true });
  const finalDir = path.join(checkpointsDir, checkpointDirName(step));
  const temp = tempSibling(finalDir);
  await mkdir(temp);
  try {
    const header = headerBytes(tensors, metadata);
    const bytesTotal = header.length + tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * 4, 0);
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
      for (const t of tensors) {
        const expected = t.shape.reduce((a, b) => a * b, 1);
        const got = source.tensors.get(t.from)?.count;
        if (got !== expected)
          throw new MotlabError(
            'invalid_checkpoint',
            `${source.path}: tensor ${t.from} holds ${got} values, its shape [${t.shape.join(', ')}] needs ${expected}`,
          );
        await source.readChunks(t.from, async (values, first) => {
          for (let i = 0; i < values.length; i++) {
            if (!Number.isFinite(values[i]))
              throw new MotlabError(
                'invalid_checkpoint',
                `${source.path}: tensor ${t.from} holds a non-finite value (${values[i]}) at index ${first + i}`,
              );
          }
          let bytes: Uint8Array;
          if (LITTLE_ENDIAN_HOST) bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
          else {
            bytes = new Uint8Array(values.byteLength);
            const view = new DataView(bytes.buffer);
            for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
          }
          await write(bytes);
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
