/**
 * What the API adds on top of src-main/checkpoints/run-folder.ts (the run-folder format's
 * reader/writer): lenient reading for display, the last training record from the file's
 * tail, and checkpoint sizes. Who owns a run is the run lock's business (runs/lock.ts).
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listCheckpoints, METRICS_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE } from '../checkpoints/run-folder.ts';
import { readRunJson, RUN_JSON, type RunJson } from '../runs/run-json.ts';
import type { CheckpointInfo } from '../common/api/types.ts';
import { parseMetricsRecord, type TrainRecord } from '../common/metrics.ts';

export type RunJsonRead = { ok: true; run: RunJson } | { ok: false; missing: boolean; message: string; raw: Partial<RunJson> | null };

/** run.json validated; when it is not valid, still what can be shown of it. */
export async function readRunJsonForDisplay(runDir: string): Promise<RunJsonRead> {
  try {
    return { ok: true, run: await readRunJson(runDir) };
  } catch (error) {
    let raw: Partial<RunJson> | null = null;
    let missing = false;
    try {
      raw = JSON.parse(await readFile(join(runDir, RUN_JSON), 'utf8')) as Partial<RunJson>;
    } catch (e) {
      missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    }
    return { ok: false, missing, message: (error as Error).message, raw };
  }
}

/** The last training record, reading only the end of the file (runs can log many lines). */
export async function lastTrainRecord(runDir: string): Promise<TrainRecord | null> {
  let handle;
  try {
    handle = await open(join(runDir, METRICS_FILE), 'r');
  } catch {
    return null;
  }
  try {
    const { size } = await handle.stat();
    for (let span = 16_384; ; span *= 4) {
      const start = Math.max(0, size - span);
      const buf = Buffer.alloc(size - start);
      await handle.read(buf, 0, buf.length, start);
      const lines = buf.toString('utf8').split('\n');
      // The first line may be cut by the window (unless it starts the file); the last may be torn.
      for (let i = lines.length - 1; i >= (start === 0 ? 0 : 1); i--) {
        let parsed: ReturnType<typeof parseMetricsRecord>;
        try {
          parsed = parseMetricsRecord(JSON.parse(lines[i]));
        } catch {
          continue; // not a complete JSON line
        }
        if ('record' in parsed && parsed.record.type === 'train') return parsed.record;
      }
      if (start === 0) return null;
    }
  } finally {
    await handle.close();
  }
}

export async function checkpointInfos(runDir: string): Promise<CheckpointInfo[]> {
  const list = await listCheckpoints(runDir);
  return Promise.all(
    list.map(async ({ step, dir }) => {
      const modelStat = await stat(join(dir, MODEL_FILE)).catch(() => null);
      const hasOptimizer = (await stat(join(dir, OPTIMIZER_FILE)).catch(() => null)) !== null;
      let state: Record<string, unknown> | null = null;
      try {
        state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as Record<string, unknown>;
      } catch {
        state = null;
      }
      return { step, path: dir, modelBytes: modelStat?.size ?? 0, hasOptimizer, state };
    }),
  );
}
