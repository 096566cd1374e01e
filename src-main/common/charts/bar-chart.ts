/**
 * Grouped bars: categories along x, one bar per series in each group (final loss per modality
 * and model, explained variance per component). Bars start at zero; missing values leave a gap.
 */
import { MotlabError } from '../errors.ts';
import { format } from 'd3-format';
import { categoricalColor, type ChartTheme } from '../palette.ts';
import { axisMarks, axisTitleMarks, axisTitleSpace, categoryAxis, numericAxis, numericDomain, xAxisHeight, yAxisWidth } from './axes.ts';
import { inset, text } from './geometry.ts';
import { insideLegend, type LegendEntry } from './legend.ts';
import { pageLayout, panelFrames, shownTitle, type ChartOptions, chartGeometry, plotFrame } from './layout.ts';
import type { ChartGeometry, ChartSize, Mark } from './marks.ts';
import { finiteOrNull } from './table.ts';

export interface BarSeries {
  label: string;
  values: readonly (number | null)[];
  /** Default: the theme palette's colour of the series' index. */
  colour?: string;
}

export interface BarChartData {
  categories: readonly string[];
  series: readonly BarSeries[];
  xTitle?: string;
  yTitle: string;
}

export interface BarChartOptions extends ChartOptions {
  yDomain?: readonly [number, number] | null;
  /** Print each bar's value at its end. */
  valueLabels?: boolean;
  /** d3-format specifier of value labels (default '.3~g'). */
  valueFormat?: string;
}

/** Legend: one entry per series when there are two or more. */
export function barChart(data: BarChartData, size: ChartSize, theme: ChartTheme, options: BarChartOptions = {}): ChartGeometry {
  for (const s of data.series) {
    if (s.values.length !== data.categories.length)
      throw new MotlabError('invalid_request', `bar series ${s.label}: ${s.values.length} values for ${data.categories.length} categories`);
  }
  const colourOf = (i: number): string => data.series[i].colour ?? categoricalColor(i, theme.palette);
  const legend: LegendEntry[] =
    data.series.length > 1 ? data.series.map((s, i) => ({ label: s.label, swatch: { kind: 'rect', fill: colourOf(i) } })) : [];
  const position = options.legend ?? 'top';
  const page = pageLayout(size, theme, shownTitle(options), legend, position);
  const titleSpace = axisTitleSpace(theme);
  const region = inset(page.region, { top: 0, right: 0, bottom: data.xTitle ? titleSpace : 0, left: titleSpace });
  const values = data.series.flatMap((s) => s.values);
  const yDomain = numericDomain(values, 'linear', {
    override: options.yDomain,
    nice: true,
    includeZero: true,
    pad: options.valueLabels ? 0.08 : 0,
  });
  const [frame] = panelFrames(region, theme, 1, {
    columns: 1,
    titled: false,
    left: (h) => yAxisWidth(numericAxis('linear', yDomain, [h, 0], theme, 'y').ticks, theme),
    right: theme.tickFontSize * 0.5,
    bottom: xAxisHeight(theme),
  });
  const yAxis = numericAxis('linear', yDomain, [frame.y + frame.height, frame.y], theme, 'y');
  const xAxis = categoryAxis(data.categories, [frame.x, frame.x + frame.width], theme, 'x', Infinity, theme.tickFontSize * 0.5);

  const marks: Mark[] = [...page.marks, ...axisMarks(frame, { ticks: xAxis.ticks, grid: false }, { ticks: yAxis.ticks }, theme)];
  const groupWidth = xAxis.band * 0.8;
  const barWidth = groupWidth / Math.max(1, data.series.length);
  const zero = yAxis.map(Math.min(Math.max(0, yDomain[0]), yDomain[1]));
  const label = format(options.valueFormat ?? '.3~g');
  const bars: Mark[] = [];
  data.series.forEach((s, i) =>
    s.values.forEach((v, k) => {
      if (v === null || !Number.isFinite(v)) return;
      const x = xAxis.centre(k) - groupWidth / 2 + i * barWidth;
      const end = yAxis.map(v);
      bars.push({
        kind: 'rect',
        x,
        y: Math.min(zero, end),
        width: barWidth * 0.92,
        height: Math.abs(end - zero),
        fill: colourOf(i),
        key: `bar:${s.label}:${data.categories[k]}`,
      });
      if (options.valueLabels) {
        const above = v >= 0;
        const y = above ? end - theme.tickFontSize * 0.15 : end + theme.tickFontSize * 0.15;
        bars.push(
          text(x + (barWidth * 0.92) / 2, y, label(v), theme.tickFontSize * 0.9, theme.foreground, 'middle', above ? 'bottom' : 'top', {
            key: 'value-label',
          }),
        );
      }
    }),
  );
  marks.push({ kind: 'group', clip: { ...frame }, marks: bars, key: 'data:plot' });
  if (position === 'inside') {
    const group = insideLegend(
      legend,
      theme,
      frame,
      bars.flatMap((b) => (b.kind === 'rect' ? [[b.x, b.y] as const, [b.x + b.width, b.y] as const] : [])),
    );
    if (group) marks.push(group);
  }
  marks.push(...axisTitleMarks(page.region, frame, theme, data.xTitle ?? null, data.yTitle));
  return chartGeometry(
    size,
    theme,
    options,
    marks,
    [plotFrame('plot', frame, [0, data.categories.length], yDomain, { xCategories: [...data.categories] })],
    {
      columns: [data.xTitle ?? 'category', ...data.series.map((s) => s.label)],
      rows: data.categories.map((c, k) => [c, ...data.series.map((s) => finiteOrNull(s.values[k]))]),
    },
  );
}
