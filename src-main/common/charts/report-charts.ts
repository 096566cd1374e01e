/**
 * The routing and tower reports (common/analysis-reports.ts) as charts: what the Routing and
 * Towers views draw and what their figures export (figures/kinds.ts), written once so that a
 * panel and its exported figure are the same chart. Each chart carries its figure title; the
 * views hide it (`showTitle: false`), their panels having headings of their own.
 */
import type { CheckpointRouting, DriftTableData, GradNormSeries, RoutingSeries, TowerTokens } from '../analysis-reports.ts';
import type { Component } from '../vocabulary.ts';
import { barChart } from './bar-chart.ts';
import { heatmap } from './heatmap.ts';
import type { ChartOptions } from './layout.ts';
import { multiLine, type MultiLineSeries } from './line-chart.ts';
import type { ChartTheme } from '../palette.ts';
import type { ChartGeometry, ChartSize } from './marks.ts';

/** Routing panels drawn from the training records (every logged step). */
export type RoutingTrainingPanel = 'load' | 'entropy' | 'aux' | 'dropped';
/** Routing panels drawn from the probe windows at the chosen checkpoints. */
export type RoutingCheckpointPanel = 'affinity' | 'locality' | 'agreement';

export function isRoutingTrainingPanel(panel: string): panel is RoutingTrainingPanel {
  return panel === 'load' || panel === 'entropy' || panel === 'aux' || panel === 'dropped';
}

/** One MoE tower of one layer over training. */
export function routingTrainingChart(
  panel: RoutingTrainingPanel,
  series: RoutingSeries,
  size: ChartSize,
  theme: ChartTheme,
  options: ChartOptions = {},
): ChartGeometry {
  const where = `layer ${series.layer} · tower ${series.tower}`;
  if (panel === 'load')
    return heatmap(
      {
        rows: series.load.map((_, e) => `expert ${e}`),
        columns: series.steps.map(String),
        columnValues: series.steps,
        values: series.load,
        xTitle: 'step',
        yTitle: 'expert',
        valueTitle: 'load share',
      },
      size,
      theme,
      { ...options, annotate: false, title: `Expert load · ${where}` },
    );
  const first = series.steps[0];
  const last = series.steps[series.steps.length - 1];
  const lines: Record<Exclude<RoutingTrainingPanel, 'load'>, { series: MultiLineSeries[]; yTitle: string; title: string }> = {
    entropy: {
      series: [
        { label: 'H(mean router probability)', x: series.steps, y: series.routerEntropy },
        { label: 'H(first choices)', x: series.steps, y: series.firstChoiceEntropy },
        { label: 'log E', x: [first, last], y: [Math.log(series.experts), Math.log(series.experts)] },
      ],
      yTitle: 'nats',
      title: `Router entropy · ${where}`,
    },
    aux: {
      series: [
        { label: 'aux loss', x: series.steps, y: series.auxLoss },
        { label: 'z-loss', x: series.steps, y: series.zLoss },
      ],
      yTitle: 'loss',
      title: `Router losses · ${where}`,
    },
    dropped: {
      series: [{ label: 'dropped rate', x: series.steps, y: series.droppedRate }],
      yTitle: 'share dropped',
      title: `Dropped tokens · ${where}`,
    },
  };
  const chosen = lines[panel];
  return multiLine({ series: chosen.series, xTitle: 'step', yTitle: chosen.yTitle }, size, theme, {
    integerX: true,
    ...options,
    title: chosen.title,
  });
}

/**
 * One MoE tower of one layer at checkpoints (`at`: that tower's entries in step order; the
 * affinity matrix is the last one's).
 */
export function routingCheckpointChart(
  panel: RoutingCheckpointPanel,
  at: readonly CheckpointRouting[],
  report: { modalities: readonly string[]; experts: number },
  size: ChartSize,
  theme: ChartTheme,
  options: ChartOptions = {},
): ChartGeometry {
  const where = `layer ${at[0].layer} · tower ${at[0].tower}`;
  if (panel === 'affinity') {
    const last = at[at.length - 1];
    return heatmap(
      {
        rows: last.affinity.expertGivenModality.map((_, e) => `expert ${e}`),
        columns: [...report.modalities],
        values: last.affinity.expertGivenModality,
        xTitle: 'modality',
        yTitle: 'expert',
        valueTitle: 'P(expert | modality)',
      },
      size,
      theme,
      {
        ...options,
        domain: [0, 1],
        title: `Expert × modality · ${where} · step ${last.step} · MI ${last.mutualInformation.bits.toFixed(3)} bits`,
      },
    );
  }
  const steps = at.map((c) => c.step);
  const span = [steps[0], steps[steps.length - 1]];
  const baseline = (v: number): MultiLineSeries => ({ label: '1/E', x: span, y: [v, v] });
  const series: MultiLineSeries[] =
    panel === 'locality'
      ? [
          { label: 'same expert, consecutive tokens', x: steps, y: at.map((c) => c.locality.sameExpertRate) },
          baseline(at[0].locality.uniformBaseline),
        ]
      : [
          {
            label: 'agreement with previous checkpoint',
            x: steps.slice(1),
            y: at.slice(1).map((c) => c.agreementWithPrevious?.agreement ?? null),
          },
          baseline(1 / report.experts),
        ];
  return multiLine({ series, xTitle: 'checkpoint step', yTitle: 'share of tokens' }, size, theme, {
    markers: true,
    integerX: true,
    ...options,
    title: `${panel === 'locality' ? 'Routing locality' : 'Routing agreement'} · ${where}`,
  });
}

/** Share of the training tokens each tower serves, per component. */
export function towerTokensChart(
  tokens: readonly TowerTokens[],
  run: string,
  size: ChartSize,
  theme: ChartTheme,
  options: ChartOptions = {},
): ChartGeometry {
  const components = ['attention', 'ffn', 'norm'] as const;
  const towers = [...new Set(tokens.map((t) => t.name))];
  return barChart(
    {
      categories: towers,
      series: components.map((c) => ({
        label: c,
        values: towers.map((t) => tokens.find((x) => x.component === c && x.name === t)?.share ?? null),
      })),
      xTitle: 'tower',
      yTitle: 'share of training tokens',
    },
    size,
    theme,
    { ...options, valueLabels: true, valueFormat: '.0%', title: `Tokens per tower · ${run}` },
  );
}

/** Each tower's gradient norm over training, on a log axis. */
export function gradNormChart(
  gradNorms: readonly GradNormSeries[],
  run: string,
  size: ChartSize,
  theme: ChartTheme,
  options: ChartOptions = {},
): ChartGeometry {
  return multiLine(
    { series: gradNorms.map((g) => ({ label: g.key, x: g.steps, y: g.values })), xTitle: 'step', yTitle: 'gradient norm' },
    size,
    theme,
    { integerX: true, ...options, yScale: 'log', title: `Per-tower gradient norms · ${run}` },
  );
}

export interface TowerDriftSelection {
  component: Component;
  /** What was compared: the towers' weights or their FFN outputs. */
  of: 'weights' | 'FFN outputs';
  run: string;
  /** Indices into `table.pairs`; all by default. One pair gives rows "layer l", several "a·b Ll". */
  pairs?: readonly number[];
}

/** Similarity of tower pairs per layer (rows) and checkpoint (columns). */
export function towerDriftChart(
  table: DriftTableData,
  selection: TowerDriftSelection,
  size: ChartSize,
  theme: ChartTheme,
  options: ChartOptions = {},
): ChartGeometry {
  const pairs = selection.pairs ?? table.pairs.map((_, i) => i);
  const rows: string[] = [];
  const values: (number | null)[][] = [];
  for (const pi of pairs) {
    const [a, b] = table.pairs[pi];
    table.layers.forEach((layer, li) => {
      rows.push(pairs.length === 1 ? `layer ${layer}` : `${a}·${b} L${layer}`);
      values.push(table.values[li].map((cell) => cell[pi]));
    });
  }
  const metricTitle = table.metric === 'cka' ? 'linear CKA' : 'cosine';
  const compared = pairs.length === 1 ? ` · ${table.pairs[pairs[0]].join(' vs ')}` : '';
  return heatmap(
    {
      rows,
      columns: table.checkpoints.map(String),
      columnValues: table.checkpoints,
      values,
      xTitle: 'checkpoint step',
      yTitle: pairs.length === 1 ? 'layer' : 'tower pair · layer',
      valueTitle: metricTitle,
    },
    size,
    theme,
    {
      ...options,
      ...(table.metric === 'cka' ? { domain: [0, 1] as const } : {}),
      title: `${selection.component === 'ffn' ? 'FFN' : 'Attention'} tower drift of ${selection.of} (${metricTitle})${compared} · ${selection.run}`,
    },
  );
}
