/**
 * The figure kinds, one entry each: a validated view state (common/views.ts) → the analysis it
 * needs (run through the analyses' own collect functions) → the chart geometry, drawn at a
 * figure's size in the light theme. `exportViewFigure` turns that into the file, its CSV and its
 * JSON sidecar; the CLI (`motlab figure`) and the API (`exportFigure`) both call it, so one view
 * state gives one file whichever way it is exported.
 */
import path from 'node:path';
import type { ChartGeometry } from '../common/charts/marks.ts';
import { lineChart, multiLine, type MultiLineSeries } from '../common/charts/line-chart.ts';
import { pcaGrid, scatterChart, type PointColouring, type ScatterData } from '../common/charts/scatter.ts';
import { stepMatchChart } from '../common/charts/step-match-chart.ts';
import { MotlabError } from '../common/errors.ts';
import type { DriftPair, RoutingReport, TowersReport } from '../common/analysis-reports.ts';
import { viewStateSchema, type FigureFormat, type FigureOptions, type ViewKind, type ViewState, VIEW_KINDS } from '../common/views.ts';
import { collectLossCurves, runFoldersOf, type RunFolder } from '../analysis/loss-curves.ts';
import { collectStepMatch } from '../analysis/steps-to-match.ts';
import { lossChartData, stepMatchChartData } from '../common/charts/analysis-data.ts';
import {
  gradNormChart,
  isRoutingTrainingPanel,
  routingCheckpointChart,
  routingTrainingChart,
  towerDriftChart,
  towerTokensChart,
} from '../common/charts/report-charts.ts';
import { routingOverTraining } from '../analysis/routing.ts';
import type { PcaResult } from '../analysis/pca-collect.ts';
import { readRunForAnalysis, type RunForAnalysis } from '../analysis/run-checkpoints.ts';
import { figureSidecarJson, tableToCsv } from './csv.ts';
import { exportFigure, FIGURE_MIME_TYPES } from './export.ts';
import { figureLayout, parseFigureOptions, type FigureLayout } from './presets.ts';

type View<K extends ViewKind> = Extract<ViewState, { kind: K }>;

/** What a figure needs from its caller: where runs are, and (for PCA, routing, towers) a ready engine. */
export interface FigureContext {
  /** A run reference of a view state (a workspace run name, or a folder) → the run's folder. */
  runDir(ref: string): string | Promise<string>;
  /** Called before an analysis that runs the model (PCA capture, routing, towers). */
  ensureEngine?: () => Promise<unknown>;
  /** Analyses already run, by their settings: a figure set runs each analysis once. */
  cache?: Map<string, Promise<unknown>>;
  /** PDF creation date (default now). */
  creationDate?: Date;
}

function cached<T>(ctx: FigureContext, key: string, compute: () => Promise<T>): Promise<T> {
  if (!ctx.cache) return compute();
  let pending = ctx.cache.get(key) as Promise<T> | undefined;
  if (!pending) {
    pending = compute();
    ctx.cache.set(key, pending);
    pending.catch(() => ctx.cache?.delete(key));
  }
  return pending;
}

async function runOf(ctx: FigureContext, ref: string): Promise<RunForAnalysis> {
  const dir = path.resolve(await ctx.runDir(ref));
  return cached(ctx, `run:${dir}`, () => readRunForAnalysis(dir));
}

/** The view's runs as named folders: each shown under its folder's name (as in the workspace). */
async function runFolders(ctx: FigureContext, refs: readonly string[]): Promise<RunFolder[]> {
  return runFoldersOf(await Promise.all(refs.map(async (ref) => path.resolve(await ctx.runDir(ref)))));
}

/** Panels per row: four read best as 2 × 2, else up to three in a row. */
const panelColumns = (panels: number): number => (panels === 4 ? 2 : Math.min(3, panels));

/** Display resolution of curves: two buckets per point of width keep every bucket's extremes. */
const curveBuckets = (layout: FigureLayout): number => Math.ceil(layout.size.width * 2);

async function lossesFigure(view: View<'losses'>, layout: FigureLayout, ctx: FigureContext): Promise<ChartGeometry> {
  const folders = await runFolders(ctx, view.runs);
  const report = await collectLossCurves(folders, {
    x: view.x,
    split: view.split,
    smoothing: view.smoothing,
    range: view.xRange,
    buckets: curveBuckets(layout),
    logX: view.logX,
  });
  const shown = report.modalities.filter((m) => !view.modalities.length || view.modalities.includes(m));
  if (report.series.length === 0 || shown.length === 0)
    throw new MotlabError(
      'invalid_request',
      `losses figure: nothing to draw (${report.notes.join('; ') || 'no losses of the chosen modalities'})`,
    );
  const title = report.split === 'train' ? 'Training loss' : report.split === 'val' ? 'Validation loss' : 'Loss';
  return lineChart(lossChartData(report, { modalities: shown }), layout.size, layout.theme, {
    ...layout.options,
    title: `${title}: ${folders.map((f) => f.name).join(', ')}`,
    columns: panelColumns(shown.length),
    xScale: view.logX ? 'log' : 'linear',
    yScale: view.logY ? 'log' : 'linear',
    showRaw: view.showRaw,
    xDomain: view.xRange,
  });
}

async function stepMatchFigure(view: View<'step-match'>, layout: FigureLayout, ctx: FigureContext): Promise<ChartGeometry> {
  const [reference, ...others] = await runFolders(ctx, [view.reference, ...view.runs]);
  const report = await collectStepMatch(reference, others, { x: view.x });
  const shown = report.modalities.filter((m) => !view.modalities.length || view.modalities.includes(m));
  if (shown.length === 0)
    throw new MotlabError(
      'invalid_request',
      `step-match figure: ${reference.dir} has none of the modalities ${view.modalities.join(', ')}`,
    );
  return stepMatchChart(stepMatchChartData(report, shown), layout.size, layout.theme, {
    ...layout.options,
    title: `Steps to match ${report.reference.name}`,
    columns: panelColumns(shown.length),
  });
}

type PcaLike = View<'pca'> | View<'pca-grid'> | View<'separability'>;

/** Components fitted for a PCA view: the app's default 10, or more for the pair shown. */
const fittedComponents = (view: PcaLike): number => Math.max(10, ...view.components);

async function pcaResult(
  view: PcaLike,
  ctx: FigureContext,
  checkpoints: 'all' | readonly number[],
  layers: 'all' | readonly number[],
): Promise<PcaResult> {
  const collect = await import('../analysis/pca-collect.ts');
  const components = fittedComponents(view);
  if (view.activations) {
    if (view.run) throw new MotlabError('invalid_request', 'PCA figure: give a run or an activations file, not both');
    const file = path.resolve(view.activations);
    return cached(ctx, JSON.stringify(['pca-activations', file, layers, components, view.seed]), () =>
      collect.analyzeActivationsPca({ file, layers, components, seed: view.seed }),
    );
  }
  if (!view.run) throw new MotlabError('invalid_request', 'PCA figure: the view names no run (nor an activations file)');
  const runDir = path.resolve(await ctx.runDir(view.run));
  const key = JSON.stringify([
    'pca',
    runDir,
    view.split,
    checkpoints,
    layers,
    components,
    view.basis,
    view.reference,
    view.probeTokens,
    view.seed,
  ]);
  return cached(ctx, key, async () => {
    await ctx.ensureEngine?.();
    return collect.analyzeRunPca({
      runDir,
      split: view.split,
      checkpoints,
      layers,
      components,
      basis: view.basis,
      reference: view.reference ?? undefined,
      probeTokens: view.probeTokens,
      seed: view.seed,
    });
  });
}

/** The checkpoints a PCA figure needs: the chosen ones, and the basis' reference (default the latest). */
async function pcaCheckpoints(view: PcaLike, ctx: FigureContext, chosen: readonly (number | null)[]): Promise<'all' | number[]> {
  if (view.activations) return 'all';
  const run = await runOf(ctx, view.run!);
  const available = run.checkpoints.map((c) => c.step);
  if (available.length === 0) throw new MotlabError('not_found', `${run.runDir} has no checkpoints to analyse`);
  const latest = available[available.length - 1];
  const wanted = new Set<number>();
  for (const step of [...chosen, view.reference]) {
    const s = step ?? latest;
    if (!available.includes(s))
      throw new MotlabError('not_found', `${run.runDir}: no checkpoint at step ${s} (available: ${available.join(', ')})`);
    wanted.add(s);
  }
  // Every checkpoint wanted at once: the same request as the app's "all" when that is what it is.
  return wanted.size === available.length ? 'all' : [...wanted].sort((a, b) => a - b);
}

function scatterOf(result: PcaResult, view: PcaLike, layer: number, checkpoint: number | null): ScatterData {
  const entry = result.entries.find((e) => e.layer === layer && (checkpoint === null || e.checkpoint === checkpoint));
  if (!entry)
    throw new MotlabError(
      'invalid_request',
      `PCA figure: no fit for layer ${layer}${checkpoint === null ? '' : ` at step ${checkpoint}`} (layers ${result.layers.join(', ')}; steps ${result.checkpoints.join(', ')})`,
    );
  const [a, b] = view.components.map((c) => c - 1);
  if (a >= entry.k || b >= entry.k)
    throw new MotlabError('invalid_request', `PCA figure: components ${view.components.join(', ')} beyond the ${entry.k} fitted`);
  const x = new Float32Array(entry.n);
  const y = new Float32Array(entry.n);
  for (let i = 0; i < entry.n; i++) {
    x[i] = entry.projection[i * entry.k + a];
    y[i] = entry.projection[i * entry.k + b];
  }
  const points = result.points;
  let colour: PointColouring;
  if (view.colourBy === 'modality') colour = { kind: 'category', index: points.modality, labels: points.modalities };
  else {
    const values = view.colourBy === 'position' ? points.position : points.token;
    if (!values) throw new MotlabError('invalid_request', `PCA figure: this source has no token ${view.colourBy}s to colour by`);
    colour = { kind: 'value', values: Float32Array.from(values), label: view.colourBy === 'position' ? 'position in window' : 'token id' };
  }
  return {
    x,
    y,
    colour,
    xTitle: `PC${view.components[0]}`,
    yTitle: `PC${view.components[1]}`,
    explained: [entry.explainedVarianceRatio[a], entry.explainedVarianceRatio[b]],
  };
}

async function pcaFigure(view: View<'pca'>, layout: FigureLayout, ctx: FigureContext): Promise<ChartGeometry> {
  const checkpoints = await pcaCheckpoints(view, ctx, [view.checkpoint]);
  const result = await pcaResult(view, ctx, checkpoints, [view.layer]);
  const step = view.activations ? null : (view.checkpoint ?? result.checkpoints[result.checkpoints.length - 1]);
  return scatterChart(scatterOf(result, view, view.layer, step), layout.size, layout.theme, {
    ...layout.options,
    title: `PCA · layer ${view.layer}${step === null ? '' : ` · step ${step}`}`,
  });
}

async function pcaGridFigure(view: View<'pca-grid'>, layout: FigureLayout, ctx: FigureContext): Promise<ChartGeometry> {
  const checkpoints = await pcaCheckpoints(view, ctx, view.checkpoints);
  const result = await pcaResult(view, ctx, checkpoints, view.layers);
  return pcaGrid(
    {
      rows: view.layers.map((l) => `layer ${l}`),
      columns: view.checkpoints.map((s) => `step ${s}`),
      cells: view.layers.map((l) => view.checkpoints.map((s) => scatterOf(result, view, l, s))),
    },
    layout.size,
    layout.theme,
    { ...layout.options, title: `PCA of hidden states · PC${view.components[0]} vs PC${view.components[1]}` },
  );
}

const SEPARABILITY_TITLES: Record<View<'separability'>['metric'], string> = {
  probe_accuracy: 'linear-probe accuracy',
  silhouette: 'silhouette (PC space)',
  between_within_ratio: 'between / within variance',
};

async function separabilityFigure(view: View<'separability'>, layout: FigureLayout, ctx: FigureContext): Promise<ChartGeometry> {
  const result = await pcaResult(view, ctx, 'all', 'all');
  const value = (layer: number, step: number | null): number | null => {
    const e = result.entries.find((x) => x.layer === layer && x.checkpoint === step);
    if (!e) return null;
    const s = e.separability;
    return view.metric === 'probe_accuracy' ? s.probeAccuracy : view.metric === 'silhouette' ? s.silhouette : s.betweenWithinRatio;
  };
  const steps: (number | null)[] = result.checkpoints.length ? result.checkpoints : [null];
  const series: MultiLineSeries[] =
    view.over === 'layers'
      ? steps.map((s) => ({ label: s === null ? 'activations' : `step ${s}`, x: result.layers, y: result.layers.map((l) => value(l, s)) }))
      : result.layers.map((l) => ({ label: `layer ${l}`, x: steps.map((s) => s ?? 0), y: steps.map((s) => value(l, s)) }));
  if (view.metric === 'probe_accuracy') {
    const chance = result.entries[0]?.separability.probe.chanceAccuracy;
    const xs = view.over === 'layers' ? result.layers : steps.map((s) => s ?? 0);
    if (chance !== undefined && xs.length) series.push({ label: 'chance', x: [xs[0], xs[xs.length - 1]], y: [chance, chance] });
  }
  return multiLine(
    { series, xTitle: view.over === 'layers' ? 'layer' : 'step', yTitle: SEPARABILITY_TITLES[view.metric] },
    layout.size,
    layout.theme,
    {
      ...layout.options,
      title: `Modality separability (${SEPARABILITY_TITLES[view.metric]})`,
      colour: view.over === 'layers' && series.length > 2 ? 'sequential' : 'categorical',
      integerX: view.over === 'layers',
    },
  );
}

async function routingReport(view: View<'routing'>, ctx: FigureContext): Promise<RoutingReport> {
  const runDir = path.resolve(await ctx.runDir(view.run));
  const checkpoints = view.checkpoints.length ? view.checkpoints : undefined;
  return cached(ctx, JSON.stringify(['routing', runDir, checkpoints]), async () => {
    await ctx.ensureEngine?.();
    const { analyzeRouting } = await import('../analysis/routing-collect.ts');
    return analyzeRouting(runDir, { checkpoints });
  });
}

async function routingFigure(view: View<'routing'>, layout: FigureLayout, ctx: FigureContext): Promise<ChartGeometry> {
  const { size, theme, options } = layout;
  const inLayer = <T extends { layer: number; tower: number }>(items: T[]): T[] => {
    const layer = items.filter((s) => s.layer === view.layer);
    const tower = view.tower ?? layer[0]?.tower;
    return layer.filter((s) => s.tower === tower);
  };
  const which = `layer ${view.layer}${view.tower === null ? '' : ` tower ${view.tower}`}`;
  if (isRoutingTrainingPanel(view.panel)) {
    // Over training: the training records alone, no model run.
    const run = await runOf(ctx, view.run);
    const moe = run.run.model.moe;
    if (!moe) throw new MotlabError('invalid_request', `${run.runDir}: the model has no MoE towers, so there is no routing to plot`);
    const all = routingOverTraining(run.records, { auxLoss: moe.aux_loss, zLoss: moe.z_loss });
    const series = inLayer(all)[0];
    if (!series)
      throw new MotlabError(
        'invalid_request',
        `${run.runDir}: no routing statistics of ${which} (layers with MoE: ${[...new Set(all.map((s) => s.layer))].join(', ') || 'none logged'})`,
      );
    return routingTrainingChart(view.panel, series, size, theme, options);
  }
  const report = await routingReport(view, ctx);
  const at = inLayer(report.atCheckpoints);
  if (at.length === 0) throw new MotlabError('invalid_request', `${report.runDir}: no routing at checkpoints for ${which}`);
  return routingCheckpointChart(view.panel, at, report, size, theme, options);
}

async function towersReport(view: View<'towers'>, ctx: FigureContext): Promise<TowersReport> {
  const runDir = path.resolve(await ctx.runDir(view.run));
  const checkpoints = view.checkpoints.length ? view.checkpoints : undefined;
  return cached(ctx, JSON.stringify(['towers', runDir, checkpoints]), async () => {
    await ctx.ensureEngine?.();
    const { analyzeTowers } = await import('../analysis/towers-collect.ts');
    return analyzeTowers(runDir, { checkpoints });
  });
}

async function towersFigure(view: View<'towers'>, layout: FigureLayout, ctx: FigureContext): Promise<ChartGeometry> {
  const { size, theme, options } = layout;
  const report = await towersReport(view, ctx);
  const run = path.basename(report.runDir);
  if (view.panel === 'tokens') return towerTokensChart(report.tokensPerTower, run, size, theme, options);
  if (view.panel === 'grad-norms') return gradNormChart(report.gradNorms, run, size, theme, options);
  const group: { attention?: DriftPair; ffn?: DriftPair } = view.panel === 'weight-drift' ? report.weights : report.outputs;
  const of = view.panel === 'weight-drift' ? 'weights' : 'FFN outputs';
  const available = (['ffn', 'attention'] as const).filter((c) => group[c]);
  if (available.length === 0)
    throw new MotlabError('invalid_request', `${report.runDir}: no component has two or more dense towers, so there is no ${of} drift`);
  const component = available.includes(view.component) ? view.component : available[0];
  const table = group[component]![view.metric];
  let pairs: number[] | undefined;
  if (view.pair) {
    const [a, b] = view.pair;
    const index = table.pairs.findIndex(([x, y]) => (x === a && y === b) || (x === b && y === a));
    if (index < 0)
      throw new MotlabError(
        'invalid_request',
        `${report.runDir}: no ${component} tower pair ${a} vs ${b} (pairs: ${table.pairs.map((p) => p.join(' vs ')).join(', ')})`,
      );
    pairs = [index];
  }
  return towerDriftChart(table, { component, of, run, pairs }, size, theme, options);
}

const FIGURE_KINDS: { [K in ViewKind]: (view: View<K>, layout: FigureLayout, ctx: FigureContext) => Promise<ChartGeometry> } = {
  losses: lossesFigure,
  'step-match': stepMatchFigure,
  pca: pcaFigure,
  'pca-grid': pcaGridFigure,
  separability: separabilityFigure,
  routing: routingFigure,
  towers: towersFigure,
};

/** Checks a view state (defaults filled in); the error names `source` and every bad field. */
export function parseViewState(input: unknown, source = 'view state'): ViewState {
  const parsed = viewStateSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
    throw new MotlabError('invalid_request', `${source}: the view state is not valid (${issues})`);
  }
  return parsed.data;
}

/** The chart of a view state at a figure's size, in the light theme. */
export async function viewFigureGeometry(view: ViewState, figure: FigureOptions, ctx: FigureContext): Promise<ChartGeometry> {
  const draw = FIGURE_KINDS[view.kind] as (view: ViewState, layout: FigureLayout, ctx: FigureContext) => Promise<ChartGeometry>;
  if (!draw) throw new MotlabError('invalid_request', `figure kind "${view.kind}" is not one of ${VIEW_KINDS.join(', ')}`);
  return draw(view, figureLayout(figure), ctx);
}

export interface ExportedFigure {
  /** A file name for the figure: `<kind>.<format>`. */
  fileName: string;
  mimeType: string;
  format: FigureFormat;
  /** SVG and CSV as text, PDF and PNG as bytes. */
  data: Buffer | string;
  /** The CSV of exactly what was plotted (raw and smoothed columns). */
  csv: string;
  /** The JSON that regenerates the figure (`motlab figure --spec`). */
  sidecar: string;
}

/**
 * The one export of a view: checks the view state and figure options, runs the analysis, draws
 * the chart and writes it in `figure.format`, with its CSV and sidecar.
 */
export async function exportViewFigure(viewInput: unknown, figureInput: unknown, ctx: FigureContext): Promise<ExportedFigure> {
  const view = parseViewState(viewInput, 'figure export');
  const figure = parseFigureOptions(figureInput, 'figure export');
  const geometry = await viewFigureGeometry(view, figure, ctx);
  const csv = tableToCsv(geometry.table);
  const data =
    figure.format === 'csv'
      ? csv
      : await exportFigure(geometry, { format: figure.format, dpi: figure.dpi, creationDate: ctx.creationDate });
  return {
    fileName: `${view.kind}.${figure.format}`,
    mimeType: FIGURE_MIME_TYPES[figure.format],
    format: figure.format,
    data,
    csv,
    sidecar: figureSidecarJson(view, figure),
  };
}

/** One figure of a figure set: a file stem and its spec. */
export interface FigureSetEntry {
  name: string;
  view: ViewState;
}

/**
 * The figure set of one run (`motlab figure --all`): its losses, step matching against the
 * reference (when given), PCA at the latest checkpoint and over layers × checkpoints,
 * separability, and routing (MoE runs) and tower (MoT runs) panels, each as a view state.
 */
export async function runFigureSet(runRef: string, reference: string | null, ctx: FigureContext): Promise<FigureSetEntry[]> {
  const run = await runOf(ctx, runRef);
  const config = run.run.model;
  const layers = Array.from({ length: config.n_layers }, (_, l) => l);
  const steps = run.checkpoints.map((c) => c.step);
  const parse = (v: unknown) => parseViewState(v, 'figure set');
  const set: FigureSetEntry[] = [
    { name: 'losses-val', view: parse({ kind: 'losses', runs: [runRef], split: 'val' }) },
    { name: 'losses-train', view: parse({ kind: 'losses', runs: [runRef], split: 'train' }) },
  ];
  if (reference) {
    set.push({ name: 'losses-vs-reference', view: parse({ kind: 'losses', runs: [reference, runRef], split: 'val' }) });
    set.push({ name: 'step-match', view: parse({ kind: 'step-match', reference, runs: [runRef] }) });
  }
  if (steps.length) {
    const gridSteps = pick(steps, 4);
    set.push(
      { name: 'pca-last-layer', view: parse({ kind: 'pca', run: runRef, layer: config.n_layers - 1 }) },
      { name: 'pca-first-layer', view: parse({ kind: 'pca', run: runRef, layer: 0 }) },
      { name: 'pca-grid', view: parse({ kind: 'pca-grid', run: runRef, layers: pick(layers, 4), checkpoints: gridSteps }) },
      { name: 'separability-layers', view: parse({ kind: 'separability', run: runRef, over: 'layers' }) },
      { name: 'separability-training', view: parse({ kind: 'separability', run: runRef, over: 'checkpoints' }) },
      { name: 'silhouette-layers', view: parse({ kind: 'separability', run: runRef, over: 'layers', metric: 'silhouette' }) },
    );
  }
  const multiTower = (['attention', 'ffn'] as const).some((c) => config.towers[c].length > 1);
  if (multiTower) {
    set.push({ name: 'towers-tokens', view: parse({ kind: 'towers', run: runRef, panel: 'tokens' }) });
    set.push({ name: 'towers-grad-norms', view: parse({ kind: 'towers', run: runRef, panel: 'grad-norms' }) });
    if (steps.length) {
      const dense = config.towers.ffn.length - (config.moe?.towers.length ?? 0);
      if (dense > 1) set.push({ name: 'towers-ffn-weight-drift', view: parse({ kind: 'towers', run: runRef, panel: 'weight-drift' }) });
      if (config.towers.attention.length > 1)
        set.push({
          name: 'towers-attention-weight-drift',
          view: parse({ kind: 'towers', run: runRef, panel: 'weight-drift', component: 'attention' }),
        });
      if (dense > 1) set.push({ name: 'towers-output-drift', view: parse({ kind: 'towers', run: runRef, panel: 'output-drift' }) });
    }
  }
  if (config.moe) {
    const moeLayer = config.n_layers - 1;
    for (const panel of ['load', 'entropy', 'aux', 'dropped'] as const)
      set.push({ name: `routing-${panel}`, view: parse({ kind: 'routing', run: runRef, layer: moeLayer, panel }) });
    if (steps.length) {
      for (const panel of ['affinity', 'locality', 'agreement'] as const)
        set.push({ name: `routing-${panel}`, view: parse({ kind: 'routing', run: runRef, layer: moeLayer, panel }) });
    }
  }
  return set;
}

/** Up to `n` entries spread evenly from first to last. */
function pick<T>(values: readonly T[], n: number): T[] {
  if (values.length <= n) return [...values];
  return Array.from({ length: n }, (_, i) => values[Math.round((i * (values.length - 1)) / (n - 1))]);
}
