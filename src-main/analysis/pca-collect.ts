/**
 * Feature PCA of a run across checkpoints (the `collect` half of analysis/pca/): sample the probe
 * set once (seeded: the same positions at every checkpoint), capture each checkpoint's residual
 * stream at those positions and stream it to a cache in the run folder, then fit PCA and measure
 * modality separability per (layer, checkpoint) on worker threads (./pca-fit-pool.ts), one
 * feature matrix in memory per fit running.
 *
 * Cache: `<run>/analyses/pca/<key>/` where key hashes the probe settings and the split file;
 * one `features-step-N.f32` per checkpoint (layer-major [L, n, d] float32) with a sidecar
 * `features-step-N.json` recording the model file's size and mtime it was captured from, so a
 * checkpoint is captured again only when its weights changed.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { MotlabError } from '../common/errors.ts';
import { csvText } from '../util/csv.ts';
import { CHECKPOINTS_DIR, MODEL_FILE, checkpointDirName, listCheckpoints, readModelFile } from '../checkpoints/run-folder.ts';
import { readRunJson, type RunJson } from '../runs/run-json.ts';
import { loadDataset, resolveDatasetDir } from '../data/dataset.ts';
import { splitFileName } from '../data/format.ts';
import { captureRows } from '../model/capture.ts';
import { StartingPool, WorkerPool } from '../training/workers/pool.ts';
import { forwardPassWorkers, type WorkersRequest } from '../training/workers/count.ts';
import type { CapturePass } from '../training/workers/protocol.ts';
import type { ModelConfig } from '../model/config.ts';
import type { Params } from '../model/params.ts';
import { readActivations } from './pca/activations.ts';
import { alignFits } from './pca/align.ts';
import { applyBasis, fitPca, type PcaFit } from './pca/pca.ts';
import { sampleProbeSet, type ProbeModalityCount, type ProbeSet } from './pca/probe-set.ts';
import { separability, type SeparabilityResult } from './pca/separability.ts';
import { fitAndSeparate, fitWorkerCount, PcaFitPool } from './pca-fit-pool.ts';

export type PcaBasisMode = 'fixed' | 'aligned';

export interface PcaRunOptions {
  runDir: string;
  /** Dataset split to probe. Default 'val'. */
  split?: string;
  /** Default 'all'. */
  checkpoints?: 'all' | 'latest' | readonly number[];
  /** Default 'all'. */
  layers?: 'all' | readonly number[];
  /** Components kept per fit. Default 10. */
  components?: number;
  /** Default 'aligned'. */
  basis?: PcaBasisMode;
  /** Step of the reference checkpoint; default the last one analysed. */
  reference?: number;
  /** Probe positions per modality. Default 2000. */
  probeTokens?: number;
  /** Default 0. */
  seed?: number;
  onProgress?: (progress: PcaProgress) => void;
  signal?: AbortSignal;
}

export interface PcaProgress {
  phase: 'capture' | 'pca';
  done: number;
  total: number;
  message: string;
}

export interface PcaEntry {
  layer: number;
  /** Checkpoint step; null for an activation dump. */
  checkpoint: number | null;
  n: number;
  d: number;
  k: number;
  explainedVarianceRatio: number[];
  /** Unit rows [k][d]. */
  components: number[][];
  mean: number[];
  /** Row-major [n, k]: the probe positions in this entry's basis. */
  projection: Float32Array;
  separability: SeparabilityResult;
  /** Aligned mode: cosine of each component with its alignment target. */
  alignmentCosines?: number[];
}

export interface PcaProbeRecord {
  split: string;
  seed: number;
  perModality: number;
  seqLen: number;
  windows: number;
  counts: (ProbeModalityCount & { label: string })[];
}

export interface PcaPoints {
  modalities: string[];
  /** Per probe row. */
  modality: Int32Array;
  token: Int32Array | null;
  /** Offset inside the window / sequence. */
  position: Int32Array | null;
  /** Index of the evaluation window (run) or null (dump). */
  window: Int32Array | null;
  /** Split position of the token (run only). */
  splitPosition: Int32Array | null;
}

export interface PcaResult {
  source: { kind: 'run'; runDir: string; dataset: string; split: string } | { kind: 'activations'; file: string };
  basis: PcaBasisMode;
  /** Reference checkpoint step (run) or null. */
  reference: number | null;
  components: number;
  layers: number[];
  checkpoints: number[];
  probe: PcaProbeRecord | null;
  points: PcaPoints;
  /** Ordered by layer, then checkpoint. */
  entries: PcaEntry[];
  cache: { dir: string; captured: number[]; reused: number[] } | null;
}

const DEFAULT_COMPONENTS = 10;

/** The analysis of a run's checkpoints (see the module comment). */
/** What `capturePcaFeatures` needs: the probe settings and the checkpoints (not the PCA settings). */
export type PcaCaptureOptions = Pick<PcaRunOptions, 'runDir' | 'split' | 'checkpoints' | 'probeTokens' | 'seed' | 'signal'> & {
  onProgress?: (progress: PcaProgress) => void;
  /** Checks of the caller's own settings, run before anything is captured (fail fast). */
  check?: (config: ModelConfig, steps: number[]) => void;
  /** Worker threads for the capture (docs/workers.md); default 'auto': one per core, capped by the work. 1 = this thread. */
  workers?: WorkersRequest;
};

/** The captured features of a run's checkpoints on its probe set, cached on disk. */
export interface PcaCapture {
  runDir: string;
  config: ModelConfig;
  dataset: string;
  split: string;
  seed: number;
  probe: ProbeSet;
  steps: number[];
  cacheDir: string;
  captured: number[];
  reused: number[];
  /** Threads the capture ran on: 1 = this thread, more = worker threads. */
  workers: number;
}

/** The run and the checkpoints a capture covers, with its settings checked: quick, nothing is captured. */
export async function planPcaCapture(options: PcaCaptureOptions): Promise<{ runDir: string; run: RunJson; steps: number[] }> {
  const runDir = path.resolve(options.runDir);
  const perModality = options.probeTokens ?? 2000;
  if (!Number.isSafeInteger(perModality) || perModality < 2)
    throw new MotlabError('invalid_request', `probe tokens per modality must be an integer ≥ 2, got ${perModality}`);
  const run = await readRunJson(runDir);
  const available = await listCheckpoints(runDir);
  if (available.length === 0) throw new MotlabError('not_found', `${runDir} has no checkpoints to analyse`);
  const steps = selectCheckpoints(
    available.map((c) => c.step),
    options.checkpoints ?? 'all',
    runDir,
  );
  return { runDir, run, steps };
}

/** Checks of the PCA settings (layers, reference) against the model and the checkpoints chosen. */
export function checkPcaSettings(options: Pick<PcaRunOptions, 'layers' | 'reference'>, config: ModelConfig, steps: number[]): void {
  selectLayers(config.n_layers, options.layers ?? 'all');
  const reference = options.reference ?? steps[steps.length - 1];
  if (!steps.includes(reference))
    throw new MotlabError('invalid_request', `reference checkpoint ${reference} is not among those analysed (${steps.join(', ')})`);
}

/**
 * The capture half (the expensive part: the model runs on every checkpoint): sample the probe
 * set, capture each checkpoint whose cached features are missing or stale. The app runs it as an
 * "analysis" job (analysis/analysis-runner.ts); analyzeRunPca then finds everything cached.
 */
export async function capturePcaFeatures(options: PcaCaptureOptions): Promise<PcaCapture> {
  const { runDir, run, steps } = await planPcaCapture(options);
  const config = run.model;
  const split = options.split ?? 'val';
  const seed = options.seed ?? 0;
  const perModality = options.probeTokens ?? 2000;
  options.check?.(config, steps);

  const dataset = await loadDataset(resolveDatasetDir(run.dataset.path));
  const tokens = dataset.splits[split];
  if (!tokens)
    throw new MotlabError('invalid_dataset', `${dataset.dir} has no split "${split}" (it has ${Object.keys(dataset.splits).join(', ')})`);
  const probe = sampleProbeSet(tokens, config.modalities, { seqLen: config.seq_len, perModality, seed });
  const n = probe.positions.split.length;
  const d = config.d_model;

  const splitFile = path.join(dataset.dir, splitFileName(split));
  const splitStat = existsSync(splitFile) ? await stat(splitFile) : null;
  const key = hashKey({
    version: 2,
    // The positions themselves: a change in how the probe set is drawn (its oversampling, say)
    // must not reuse features captured at other positions (it did once, from version 1's key).
    positions: createHash('sha256')
      .update(new Uint8Array(probe.positions.split.buffer, probe.positions.split.byteOffset, probe.positions.split.byteLength))
      .digest('hex'),
    dataset: dataset.dir,
    split,
    splitSize: splitStat?.size ?? tokens.length,
    splitMtime: splitStat?.mtimeMs ?? 0,
    seed,
    perModality,
    seqLen: config.seq_len,
    d,
    nLayers: config.n_layers,
  });
  const cacheDir = path.join(runDir, 'analyses', 'pca', key);
  await mkdir(cacheDir, { recursive: true });

  // One checkpoint at a time, streamed to disk; the workers (if any) start at the first one
  // captured, which this thread captures until they are ready; they capture the others. The next
  // checkpoint is read while this one is captured, so the workers do not wait for the disk.
  const captured: number[] = [];
  const reused: number[] = [];
  const passes = capturePasses(config, probe);
  const prepare = async (step: number) => {
    const modelFile = path.join(runDir, CHECKPOINTS_DIR, checkpointDirName(step), MODEL_FILE);
    const modelStat = await stat(modelFile);
    const stamp = { modelSize: modelStat.size, modelMtime: modelStat.mtimeMs, n, d, layers: config.n_layers };
    const fresh = await sidecarMatches(featureSidecar(cacheDir, step), stamp);
    return { step, modelFile, stamp, model: fresh ? null : await readModelFile(modelFile) };
  };
  let next: ReturnType<typeof prepare> | null = prepare(steps[0]);
  let pool: StartingPool | null = null;
  let workers = 1;
  try {
    for (let i = 0; i < steps.length; i++) {
      throwIfAborted(options.signal);
      options.onProgress?.({ phase: 'capture', done: i, total: steps.length, message: `capturing checkpoint ${steps[i]}` });
      const { step, modelFile, stamp, model } = await next!;
      next = i + 1 < steps.length ? prepare(steps[i + 1]) : null;
      next?.catch(() => {}); // its failure is thrown at its turn
      if (!model) {
        reused.push(step);
        continue;
      }
      const { config: checkpointConfig, tensors } = model;
      if (checkpointConfig.d_model !== d || checkpointConfig.n_layers !== config.n_layers)
        throw new MotlabError('invalid_checkpoint', `${modelFile}: its model does not match the run's run.json`);
      const params: Params = {};
      for (const [name, t] of Object.entries(tensors)) params[name] = tf.tensor(t.data, t.shape, 'float32');
      try {
        if (!pool && workers === 1) {
          const backend = tf.getBackend();
          const engine = backend === 'wasm' || backend === 'cpu' ? backend : 'tensorflow';
          workers = forwardPassWorkers(options.workers ?? 'auto', engine, passes.length * (steps.length - i));
          if (workers > 1) pool = new StartingPool(WorkerPool.start(workers, engine, checkpointConfig, new Map(Object.entries(params))));
        }
        // This thread covers the workers' start-up during the first checkpoint captured (their
        // start-up takes longer than a small run's checkpoint); the next ones wait for them.
        if (pool && captured.length > 0) await pool.ready();
        await captureToFile(checkpointConfig, params, probe, passes, featureFile(cacheDir, step), pool, options.signal);
      } finally {
        Object.values(params).forEach((t) => t.dispose());
      }
      await writeFile(featureSidecar(cacheDir, step), JSON.stringify(stamp));
      captured.push(step);
    }
  } finally {
    await pool?.close();
  }
  options.onProgress?.({ phase: 'capture', done: steps.length, total: steps.length, message: 'capture done' });
  return { runDir, config, dataset: dataset.dir, split, seed, probe, steps, cacheDir, captured, reused, workers };
}

export async function analyzeRunPca(options: PcaRunOptions): Promise<PcaResult> {
  const basis = options.basis ?? 'aligned';
  if (basis !== 'fixed' && basis !== 'aligned') throw new MotlabError('invalid_request', `basis must be fixed or aligned, got "${basis}"`);
  const check = (config: ModelConfig, steps: number[]) => checkPcaSettings(options, config, steps);
  const { runDir, config, dataset, split, seed, probe, steps, cacheDir, captured, reused } = await capturePcaFeatures({
    ...options,
    check,
  });
  const layers = selectLayers(config.n_layers, options.layers ?? 'all');
  const reference = options.reference ?? steps[steps.length - 1];
  const n = probe.positions.split.length;
  const d = config.d_model;

  const K = options.components ?? DEFAULT_COMPONENTS;
  const modality = probe.positions.modality;
  const refIndex = steps.indexOf(reference);
  // The reference first, so that fixed mode has its basis before the others.
  const order = [refIndex, ...steps.map((_, i) => i).filter((i) => i !== refIndex)];
  let done = 0;
  const total = layers.length * steps.length;
  // The fits are independent: on worker threads when there are cores for them (same results).
  const workers = fitWorkerCount(total);
  options.onProgress?.({ phase: 'pca', done, total, message: `PCA of ${total} feature matrices` });
  const pool = workers > 0 ? new PcaFitPool(workers) : null;
  const perLayer = layers.map(() => ({
    fits: new Array<PcaFit>(steps.length),
    seps: new Array<SeparabilityResult>(steps.length),
    fixedProjections: new Array<{ projection: Float32Array; ratio: Float64Array }>(steps.length),
    left: steps.length,
  }));
  // Fixed mode projects every checkpoint on the reference's basis: its fit, per layer.
  const referenceFits = layers.map(() => {
    let settle!: (fit: PcaFit) => void;
    let fail!: (error: unknown) => void;
    const fit = new Promise<PcaFit>((resolve, reject) => ((settle = resolve), (fail = reject)));
    fit.catch(() => {}); // the reference's own task reports the error
    return { fit, settle, fail };
  });
  const layerEntries: PcaEntry[][] = layers.map(() => []);
  /** A layer's entries, once all its checkpoints are fitted (aligned mode aligns them here). */
  const finishLayer = (j: number) => {
    const layer = layers[j];
    const { fits, seps, fixedProjections } = perLayer[j];
    if (basis === 'aligned') {
      const aligned = alignFits(fits, { reference: refIndex, mode: 'chain', matching: 'hungarian' });
      layerEntries[j] = steps.map((step, i) =>
        entryOf(
          layer,
          step,
          aligned.fits[i],
          aligned.fits[i].projection,
          aligned.fits[i].explainedVarianceRatio,
          seps[i],
          aligned.alignments[i].cosine,
        ),
      );
    } else {
      const ref = fits[refIndex];
      layerEntries[j] = steps.map((step, i) =>
        entryOf(layer, step, ref, fixedProjections[i].projection, fixedProjections[i].ratio, seps[i]),
      );
    }
  };
  // Feature matrices done with, read into again (fresh ones cost page faults).
  const spare: Float32Array[] = [];
  const runFit = async (j: number, i: number) => {
    throwIfAborted(options.signal);
    const layer = layers[j];
    const state = perLayer[j];
    let x = await readLayerFeatures(featureFile(cacheDir, steps[i]), layer, n, d, spare.pop());
    const task = { x, n, d, k: checkComponents(K, n, d), labels: modality, seed };
    let result: Awaited<ReturnType<typeof fitAndSeparate>>;
    try {
      if (pool) {
        const pooled = await pool.fit(task);
        x = pooled.x;
        result = pooled;
      } else result = fitAndSeparate(task);
    } catch (error) {
      if (i === refIndex) referenceFits[j].fail(error);
      throw error;
    }
    state.fits[i] = result.fit;
    state.seps[i] = result.separability;
    if (i === refIndex) referenceFits[j].settle(result.fit);
    if (basis === 'fixed') {
      const applied =
        i === refIndex
          ? { projection: result.fit.projection, explainedVarianceRatio: result.fit.explainedVarianceRatio }
          : applyBasis(await referenceFits[j].fit, x, n, d);
      state.fixedProjections[i] = { projection: applied.projection, ratio: applied.explainedVarianceRatio };
    }
    spare.push(x);
    options.onProgress?.({ phase: 'pca', done: ++done, total, message: `PCA of layer ${layer} at step ${steps[i]}` });
    if (--state.left === 0) finishLayer(j);
  };
  // One queue for all layers (no wait between layers), each layer's reference first; as many
  // feature matrices in memory as fits running (or waiting for their layer's reference).
  const queue = layers.flatMap((_, j) => order.map((i) => [j, i] as const));
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, workers) }, async () => {
        while (next < queue.length) {
          const [j, i] = queue[next++];
          await runFit(j, i);
        }
      }),
    );
  } finally {
    await pool?.close();
  }
  const entries = layerEntries.flat();
  options.onProgress?.({ phase: 'pca', done, total: done, message: 'done' });

  return {
    source: { kind: 'run', runDir, dataset, split },
    basis,
    reference,
    components: K,
    layers,
    checkpoints: steps,
    probe: probeRecord(probe, split),
    points: {
      modalities: config.modalities.map((m) => m.name),
      modality,
      token: probe.positions.token,
      position: probe.positions.offset,
      window: probe.positions.window,
      splitPosition: probe.positions.split,
    },
    entries,
    cache: { dir: cacheDir, captured, reused },
  };
}

export interface PcaActivationsOptions {
  file: string;
  layers?: 'all' | readonly number[];
  components?: number;
  seed?: number;
}

/** PCA and separability per layer of an activation dump (docs/analysis-pca.md). */
export async function analyzeActivationsPca(options: PcaActivationsOptions): Promise<PcaResult> {
  const acts = await readActivations(options.file, options.layers && options.layers !== 'all' ? { layers: options.layers } : {});
  const K = options.components ?? DEFAULT_COMPONENTS;
  const seed = options.seed ?? 0;
  const entries = acts.layers.map((layer) => {
    const fit = fitPca(layer.data, acts.n, layer.d, checkComponents(K, acts.n, layer.d));
    const sep = separability(layer.data, acts.n, layer.d, acts.modality, {
      seed,
      ...(K >= 10 ? { projection: { data: fit.projection, k: K } } : {}),
    });
    return entryOf(layer.layer, null, fit, fit.projection, fit.explainedVarianceRatio, sep);
  });
  return {
    source: { kind: 'activations', file: path.resolve(options.file) },
    basis: 'aligned',
    reference: null,
    components: K,
    layers: acts.layers.map((l) => l.layer),
    checkpoints: [],
    probe: null,
    points: {
      modalities: acts.modalities,
      modality: acts.modality,
      token: acts.token,
      position: acts.position,
      window: null,
      splitPosition: null,
    },
    entries,
    cache: null,
  };
}

/** The JSON the CLI prints (snake_case, plain arrays; projections left out). */
export function pcaResultJson(result: PcaResult): object {
  return {
    source: result.source,
    basis: result.basis,
    reference: result.reference,
    components: result.components,
    layers: result.layers,
    checkpoints: result.checkpoints,
    probe: result.probe,
    cache: result.cache,
    entries: result.entries.map((e) => ({
      layer: e.layer,
      checkpoint: e.checkpoint,
      n: e.n,
      d: e.d,
      explained_variance_ratio: e.explainedVarianceRatio,
      components: e.components,
      mean: e.mean,
      separability: {
        probe_accuracy: e.separability.probeAccuracy,
        silhouette: e.separability.silhouette,
        between_within_ratio: e.separability.betweenWithinRatio,
        chance_accuracy: e.separability.probe.chanceAccuracy,
        probe_split: {
          seed: e.separability.probe.seed,
          test_fraction: e.separability.probe.testFraction,
          train: e.separability.probe.trainCount,
          test: e.separability.probe.testCount,
        },
      },
      ...(e.alignmentCosines ? { alignment_cosines: e.alignmentCosines } : {}),
    })),
  };
}

/** CSV: one row per (layer, checkpoint). */
export function pcaResultCsv(result: PcaResult): string {
  const K = result.components;
  const header = [
    'layer',
    'checkpoint',
    'probe_accuracy',
    'silhouette',
    'between_within_ratio',
    ...Array.from({ length: K }, (_, i) => `evr_pc${i + 1}`),
  ];
  const rows = result.entries.map((e) => [
    e.layer,
    e.checkpoint,
    e.separability.probeAccuracy,
    e.separability.silhouette,
    e.separability.betweenWithinRatio,
    ...Array.from({ length: K }, (_, i) => e.explainedVarianceRatio[i] ?? null),
  ]);
  return csvText([header, ...rows]);
}

// ---------------------------------------------------------------------------------------------

function entryOf(
  layer: number,
  checkpoint: number | null,
  basis: PcaFit,
  projection: Float32Array,
  ratio: Float64Array,
  sep: SeparabilityResult,
  cosines?: Float64Array,
): PcaEntry {
  const { k, d } = basis;
  return {
    layer,
    checkpoint,
    n: basis.n,
    d,
    k,
    explainedVarianceRatio: Array.from(ratio),
    components: Array.from({ length: k }, (_, c) => Array.from(basis.components.subarray(c * d, (c + 1) * d))),
    mean: Array.from(basis.mean),
    projection,
    separability: sep,
    ...(cosines ? { alignmentCosines: Array.from(cosines) } : {}),
  };
}

function checkComponents(k: number, n: number, d: number): number {
  const max = Math.min(n - 1, d);
  if (!Number.isInteger(k) || k < 1 || k > max)
    throw new MotlabError('invalid_request', `components must be an integer from 1 to ${max}, got ${k}`);
  return k;
}

function selectCheckpoints(available: number[], which: 'all' | 'latest' | readonly number[], runDir: string): number[] {
  if (which === 'all') return available;
  if (which === 'latest') return [available[available.length - 1]];
  const missing = which.filter((s) => !available.includes(s));
  if (missing.length)
    throw new MotlabError('not_found', `${runDir} has no checkpoint at step ${missing.join(', ')} (it has ${available.join(', ')})`);
  return [...new Set(which)].sort((a, b) => a - b);
}

function selectLayers(nLayers: number, which: 'all' | readonly number[]): number[] {
  if (which === 'all') return Array.from({ length: nLayers }, (_, l) => l);
  for (const l of which)
    if (!Number.isInteger(l) || l < 0 || l >= nLayers)
      throw new MotlabError('invalid_request', `layer ${l} does not exist: the model has layers 0 to ${nLayers - 1}`);
  return [...new Set(which)].sort((a, b) => a - b);
}

function probeRecord(probe: ProbeSet, split: string): PcaProbeRecord {
  return {
    split,
    seed: probe.seed,
    perModality: probe.perModality,
    seqLen: probe.seqLen,
    windows: probe.windowStarts.length,
    counts: probe.counts.map((c) => ({ ...c, label: `${c.sampled} of ${c.available}` })),
  };
}

function hashKey(settings: object): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 16);
}

function featureFile(cacheDir: string, step: number): string {
  return path.join(cacheDir, `features-step-${step}.f32`);
}

function featureSidecar(cacheDir: string, step: number): string {
  return path.join(cacheDir, `features-step-${step}.json`);
}

async function sidecarMatches(file: string, stamp: object): Promise<boolean> {
  try {
    return JSON.stringify(JSON.parse(await readFile(file, 'utf8'))) === JSON.stringify(stamp);
  } catch {
    return false;
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}

/** A capture's passes per checkpoint come in a multiple of this (see capturePasses). */
const PASS_MULTIPLE = 4;

/**
 * The forward passes of a capture: the probe windows in passes of about 8 (MoE: one window per
 * pass, as its routing depends on the batch), each with the probed rows it yields (a contiguous run
 * of the probe set, which is sorted by split position, so by window). Passes without a probed row
 * are left out.
 */
function capturePasses(config: ModelConfig, probe: ProbeSet): (CapturePass & { firstRow: number })[] {
  const S = config.seq_len;
  const n = probe.positions.split.length;
  const W = probe.windowStarts.length;
  // About 8 windows a pass, in a multiple of 4 passes of near-equal size, so that 1, 2 or 4
  // workers finish a checkpoint together (each waits for the last pass before the next one).
  // With MoE, one window a pass: routing sees the whole pass.
  const passCount = config.moe ? W : Math.min(W, Math.ceil(W / 8 / PASS_MULTIPLE) * PASS_MULTIPLE);
  const passes: (CapturePass & { firstRow: number })[] = [];
  let row = 0;
  for (let p = 0; p < passCount; p++) {
    const first = Math.floor((p * W) / passCount);
    const count = Math.floor(((p + 1) * W) / passCount) - first;
    const firstRow = row;
    while (row < n && probe.positions.window[row] < first + count) row++;
    if (row === firstRow) continue;
    passes.push({
      windows: probe.windows.slice(first * S, (first + count) * S),
      count,
      rows: {
        window: probe.positions.window.slice(firstRow, row).map((w) => w - first),
        offset: probe.positions.offset.slice(firstRow, row),
      },
      firstRow,
    });
  }
  return passes;
}

/**
 * Runs the capture's passes through the model and writes each probed row at its place in the
 * layer-major file: on this thread until `pool`'s workers are ready, then on them (a pass goes to
 * whichever is free). The passes are the same either way, so the bytes are too.
 */
async function captureToFile(
  config: ModelConfig,
  params: Params,
  probe: ProbeSet,
  passes: readonly (CapturePass & { firstRow: number })[],
  file: string,
  pool: StartingPool | null,
  signal?: AbortSignal,
): Promise<void> {
  const d = config.d_model;
  const L = config.n_layers;
  const n = probe.positions.split.length;
  const temp = `${file}.partial`;
  const handle = await open(temp, 'w');
  const write = async (pass: (typeof passes)[number], layers: Float32Array[]): Promise<void> => {
    for (let l = 0; l < layers.length; l++)
      await handle.write(
        new Uint8Array(layers[l].buffer, layers[l].byteOffset, layers[l].byteLength),
        0,
        layers[l].byteLength,
        (l * n + pass.firstRow) * d * 4,
      );
  };
  let next = 0;
  let stopped = false;
  const claim = (): number | null => {
    if (stopped || next >= passes.length) return null;
    throwIfAborted(signal);
    return next++;
  };
  let onWorkers: Promise<void> | null = null;
  const handOver = (workers: WorkerPool): void => {
    onWorkers = (async () => {
      workers.publishWeights(new Map(Object.entries(params)));
      await workers.capture(passes, claim, (index, layers) => write(passes[index], layers));
    })();
    onWorkers.catch(() => (stopped = true)); // this thread stops too; the error is thrown below
  };
  let leave: (() => void) | undefined;
  try {
    leave = pool?.join(handOver);
    await handle.truncate(L * n * d * 4);
    for (let index = onWorkers ? null : claim(); index !== null; index = onWorkers ? null : claim()) {
      const pass = passes[index];
      await write(pass, captureRows(config, params, pass.windows, pass.count, pass.rows));
    }
  } catch (error) {
    stopped = true;
    throw error;
  } finally {
    leave?.();
    await (onWorkers as Promise<void> | null)?.catch(() => {});
    await handle.close();
  }
  await onWorkers;
  pool?.throwIfFailed();
  await rename(temp, file);
}

/** One layer's [n, d] features from a checkpoint's cache file, into `into` if given (of that size). */
async function readLayerFeatures(file: string, layer: number, n: number, d: number, into?: Float32Array): Promise<Float32Array> {
  const handle = await open(file, 'r');
  try {
    const out = into ?? new Float32Array(n * d);
    const { bytesRead } = await handle.read(new Uint8Array(out.buffer), 0, out.byteLength, layer * n * d * 4);
    if (bytesRead !== out.byteLength)
      throw new MotlabError('internal', `${file}: the cached features are truncated; delete the folder to capture again`);
    return out;
  } finally {
    await handle.close();
  }
}
