/**
 * What the checkpoint analyses (routing, towers) read from a run folder: run.json, the parsed
 * metrics records, the chosen checkpoints' weights, and the probe windows — the first
 * `probeWindows` evaluation windows of the run's validation split (a fixed, deterministic set,
 * identical for every checkpoint, so checkpoints are compared on the same tokens).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { MotlabError } from '../common/errors.ts';
import { parseMetricsRecord, type MetricsRecord } from '../common/metrics.ts';
import { listCheckpoints, MODEL_FILE, readMetrics, readModelFile } from '../checkpoints/run-folder.ts';
import { readRunJson, type RunJson } from '../runs/run-json.ts';
import { evalWindows, loadDataset, resolveDatasetDir, type Dataset } from '../data/dataset.ts';
import type { ModelConfig } from '../model/config.ts';
import type { Params } from '../model/params.ts';

export interface CheckpointSelection {
  /** Steps to analyse; all checkpoints when absent. */
  checkpoints?: readonly number[];
}

export interface RunForAnalysis {
  runDir: string;
  run: RunJson;
  records: MetricsRecord[];
  checkpoints: { step: number; dir: string }[];
}

export async function readRunForAnalysis(runDir: string, selection: CheckpointSelection = {}): Promise<RunForAnalysis> {
  if (!existsSync(join(runDir, 'run.json'))) throw new MotlabError('not_found', `${runDir} is not a run folder (no run.json)`);
  const run = await readRunJson(runDir);
  const records: MetricsRecord[] = [];
  if (existsSync(join(runDir, 'metrics.jsonl'))) {
    for (const raw of (await readMetrics(runDir)).records) {
      const parsed = parseMetricsRecord(raw);
      if ('record' in parsed) records.push(parsed.record);
    }
  }
  const all = await listCheckpoints(runDir);
  let checkpoints = all;
  if (selection.checkpoints) {
    const missing = selection.checkpoints.filter((s) => !all.some((c) => c.step === s));
    if (missing.length)
      throw new MotlabError(
        'not_found',
        `${runDir}: no checkpoint at step ${missing.join(', ')} (available: ${all.map((c) => c.step).join(', ') || 'none'})`,
      );
    checkpoints = all.filter((c) => selection.checkpoints!.includes(c.step));
  }
  return { runDir, run, records, checkpoints };
}

/** A checkpoint's weights as tfjs tensors (dispose with disposeParams) and its config. */
export async function loadCheckpointParams(
  dir: string,
): Promise<{ config: ModelConfig; params: Params; raw: Record<string, { shape: number[]; data: Float32Array }> }> {
  const { config, tensors } = await readModelFile(join(dir, MODEL_FILE));
  const params: Params = {};
  const raw: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(tensors)) {
    raw[name] = { shape: t.shape, data: t.data };
    params[name] = tf.tensor(t.data, t.shape, 'float32');
  }
  return { config, params, raw };
}

export function disposeParams(params: Params): void {
  Object.values(params).forEach((t) => t.dispose());
}

export interface ProbeWindows {
  split: string;
  windows: number;
  seqLen: number;
  inputs: Int32Array;
  targets: Int32Array;
}

export async function loadDatasetOf(run: RunJson): Promise<Dataset> {
  return loadDataset(resolveDatasetDir(run.dataset.path));
}

/** The first `count` evaluation windows of the validation split (the training split if there is none). */
export function probeWindows(dataset: Dataset, seqLen: number, count: number): ProbeWindows {
  const split = dataset.splits.val ? 'val' : 'train';
  const tokens = dataset.splits[split];
  if (!tokens) throw new MotlabError('invalid_dataset', `${dataset.dir} has neither a val nor a train split`);
  const w = evalWindows(tokens, seqLen, count);
  if (w.count === 0) throw new MotlabError('invalid_dataset', `${dataset.dir}/${split} is shorter than one window of ${seqLen + 1} tokens`);
  return { split, windows: w.count, seqLen, inputs: w.inputs, targets: w.targets };
}
