/**
 * analyzePca / pcaPointContext / cancelAnalysis. The capture (the model on every checkpoint) runs
 * as an analysis job and is cached in the run folder (analysis/pca-collect.ts); the PCA fits then
 * run here on the cached features, and the last few results stay in memory so that choosing
 * another PC pair does not refit anything.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { analyzeActivationsPca, analyzeRunPca, checkPcaSettings, planPcaCapture, type PcaResult } from '../analysis/pca-collect.ts';
import type { AnalysisJobs } from './analysis-jobs.ts';
import { readRunJson } from '../runs/run-json.ts';
import { loadSplitTokens, resolveDatasetDir } from '../data/dataset.ts';
import { decodeText } from '../data/fashion-tri/decode.ts';
import { splitFileName } from '../data/format.ts';
import { initEngine } from '../engine/engine.ts';
import { modalityTable } from '../common/modalities.ts';
import { MotlabError } from '../common/errors.ts';
import type { ParsedInput } from '../common/api/definition.ts';
import type { ApiEvent, PcaAnalysis, PcaPointContext } from '../common/api/types.ts';
import { declaresFashionTri, modalityRuns } from './datasets.ts';

const KEPT_RESULTS = 2;

export class PcaAnalyses {
  private readonly results = new Map<string, Promise<PcaResult>>();
  private readonly running = new Map<string, AbortController>();
  private engine: Promise<unknown> | null = null;

  constructor(
    private readonly runDir: (name: string) => string,
    private readonly emit: (event: ApiEvent) => void,
    private readonly jobs: AnalysisJobs,
  ) {}

  async analyze(input: ParsedInput<'analyzePca'>): Promise<PcaAnalysis> {
    const { pair, requestId, ...settings } = input;
    const key = JSON.stringify(settings);
    let pending = this.results.get(key);
    if (!pending) {
      pending = this.compute(input);
      this.results.set(key, pending);
      while (this.results.size > KEPT_RESULTS) this.results.delete(this.results.keys().next().value as string);
      // A failed or cancelled analysis is not kept.
      pending.catch(() => this.results.delete(key));
    } else if (requestId) {
      this.emit({ type: 'analysis-progress', analysis: 'pca', requestId, fraction: 1, message: 'done (kept in memory)' });
    }
    return toAnalysis(await pending, pair, input.run);
  }

  cancel(requestId: string): { cancelled: boolean } {
    const controller = this.running.get(requestId);
    controller?.abort();
    return { cancelled: this.jobs.cancel(requestId) || controller !== undefined };
  }

  private async compute(input: ParsedInput<'analyzePca'>): Promise<PcaResult> {
    if (input.activations) {
      if (!isAbsolute(input.activations))
        throw new MotlabError('invalid_request', `the activations path must be absolute, got "${input.activations}"`);
      return analyzeActivationsPca({ file: input.activations, layers: input.layers, components: input.components, seed: input.seed });
    }
    const runDir = this.runDir(input.run!);
    const { split, checkpoints, probeTokens, seed, requestId } = input;
    // Settings are checked before the capture job starts, so a bad layer fails at once.
    const { run, steps } = await planPcaCapture({ runDir, split, checkpoints, probeTokens, seed });
    checkPcaSettings(input, run.model, steps);
    // The model runs in a job child; this process then only fits PCA on the cached features.
    await this.jobs.run(runDir, { analysis: 'pca-capture', split, checkpoints, probeTokens, seed }, 'pca', requestId);
    this.engine ??= initEngine('auto');
    await this.engine;
    const controller = new AbortController();
    if (requestId) this.running.set(requestId, controller);
    try {
      return await analyzeRunPca({
        runDir,
        split,
        checkpoints,
        layers: input.layers,
        components: input.components,
        basis: input.basis,
        reference: input.reference,
        probeTokens,
        seed,
        signal: controller.signal,
        onProgress: (p) => {
          if (requestId && p.phase === 'pca')
            this.emit({
              type: 'analysis-progress',
              analysis: 'pca',
              requestId,
              fraction: p.total > 0 ? p.done / p.total : 1,
              message: p.message,
            });
        },
      });
    } catch (error) {
      if (controller.signal.aborted) throw new MotlabError('conflict', 'the PCA analysis was cancelled');
      throw error;
    } finally {
      if (requestId) this.running.delete(requestId);
    }
  }

  async context(input: ParsedInput<'pcaPointContext'>): Promise<PcaPointContext> {
    const run = await readRunJson(this.runDir(input.run));
    const datasetDir = resolveDatasetDir(run.dataset.path);
    const tokens = await loadSplitTokens(join(datasetDir, splitFileName(input.split)));
    const p = input.splitPosition;
    if (p >= tokens.length) throw new MotlabError('invalid_request', `position ${p} is beyond the split's ${tokens.length} tokens`);
    const raw = JSON.parse(await readFile(join(datasetDir, 'dataset.json'), 'utf8')) as Record<string, unknown>;
    const fashion = declaresFashionTri(raw);
    // The model saw only the probe's evaluation window, so the context stays inside it.
    const S = run.model.seq_len;
    const windowStart = Math.floor(p / S) * S;
    const start = Math.max(windowStart, p - input.radius);
    const end = Math.min(windowStart + S, p + input.radius + 1, tokens.length);
    const modalities = run.model.modalities;
    const table = modalityTable(modalities, run.model.vocab_size);
    const segments = modalityRuns(tokens, start, end, table, modalities).map((s) => ({
      ...s,
      ...(fashion && s.modality === 'text' ? { text: decodeText(s.ids) } : {}),
      focus: s.start <= p && p < s.end,
    }));
    const m = table[tokens[p]];
    return {
      token: tokens[p],
      modality: m >= 0 ? modalities[m].name : 'unknown',
      splitPosition: p,
      segments,
      decoder: fashion ? 'fashion-tri' : 'tokens',
    };
  }
}

function toAnalysis(result: PcaResult, pair: [number, number], run: string | undefined): PcaAnalysis {
  const [a, b] = pair;
  const list = (v: Int32Array | null): number[] | null => (v ? Array.from(v) : null);
  return {
    source:
      result.source.kind === 'run'
        ? { kind: 'run', run: run!, dataset: result.source.dataset, split: result.source.split }
        : { kind: 'activations', file: result.source.file },
    basis: result.basis,
    reference: result.reference,
    components: result.components,
    pair,
    layers: result.layers,
    checkpoints: result.checkpoints,
    modalities: result.points.modalities,
    probe: result.probe
      ? {
          seed: result.probe.seed,
          perModality: result.probe.perModality,
          windows: result.probe.windows,
          counts: result.probe.counts.map((c) => ({ modality: c.modality, sampled: c.sampled, available: c.available, label: c.label })),
        }
      : null,
    points: {
      modality: Array.from(result.points.modality),
      token: list(result.points.token),
      position: list(result.points.position),
      window: list(result.points.window),
      splitPosition: list(result.points.splitPosition),
    },
    panels: result.entries.map((e) => {
      const x = new Array<number>(e.n);
      const y = new Array<number>(e.n);
      for (let i = 0; i < e.n; i++) {
        x[i] = e.projection[i * e.k + a];
        y[i] = e.projection[i * e.k + b];
      }
      const s = e.separability;
      return {
        layer: e.layer,
        checkpoint: e.checkpoint,
        x,
        y,
        explainedVarianceRatio: e.explainedVarianceRatio,
        separability: {
          probeAccuracy: s.probeAccuracy,
          silhouette: s.silhouette,
          betweenWithinRatio: s.betweenWithinRatio,
          chanceAccuracy: s.probe.chanceAccuracy,
        },
      };
    }),
    cache: result.cache ? { captured: result.cache.captured, reused: result.cache.reused } : null,
  };
}
