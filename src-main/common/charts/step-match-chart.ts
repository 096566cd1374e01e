/**
 * The paper's "steps to match" figure: per modality, for each step x of the reference run the
 * step y at which another run first reaches the reference's loss at x, with the least-squares
 * line y = s·x through the origin; s (the fraction of the reference's steps, FLOPs or time the
 * other run needs) is named in each panel's legend. The diagonal y = x marks "as fast as the
 * reference". Input is the output of analysis/step-matching.ts's matchSteps.
 */
import { categoricalColor, MARKER_SHAPES, type ChartTheme } from '../palette.ts';
import type { LegendEntry } from './legend.ts';
import type { ChartOptions } from './layout.ts';
import { scaledDash, type PlotLine } from './lines.ts';
import type { ChartGeometry, ChartSize } from './marks.ts';
import { uniqueNames, wideTable, type TableSeries } from './table.ts';
import { xyChart, type XyPanel } from './xy.ts';

/** The part of a matchSteps result the chart draws. */
export interface StepMatchFit {
  matches: readonly { referenceStep: number; matchedStep: number | null }[];
  slope: number | null;
}

export interface StepMatchData {
  /** Name of the reference (dense) run. */
  reference: string;
  panels: readonly { modality: string; runs: readonly { run: string; fit: StepMatchFit }[] }[];
  /** Default "<reference> step"; say FLOPs or time when the curves were on that axis. */
  xTitle?: string;
  yTitle?: string;
}

export interface StepMatchOptions extends ChartOptions {
  /** Panels per row (default: up to 3). */
  columns?: number;
}

/**
 * The colour of the compared run at `index`: the one the Losses view gives it among
 * [reference, ...runs], so a run keeps its colour from one view to the other (the reference's
 * own colour goes unused: it is the diagonal here).
 */
export function stepMatchRunColour(index: number, theme: Pick<ChartTheme, 'palette'>): string {
  return categoricalColor(1 + index, theme.palette);
}

const formatSlope = (s: number | null): string => (s === null ? 's: never matched' : `s = ${s.toFixed(3)}`);

/**
 * Legend (outside or inside, per options.legend): one entry per run (its marker) and the
 * diagonal. Each panel also holds its own legend with every run's fitted slope.
 */
export function stepMatchChart(data: StepMatchData, size: ChartSize, theme: ChartTheme, options: StepMatchOptions = {}): ChartGeometry {
  const runs = [...new Set(data.panels.flatMap((p) => p.runs.map((r) => r.run)))];
  const colourOf = (run: string): string => stepMatchRunColour(runs.indexOf(run), theme);
  const shapeOf = (run: string) => MARKER_SHAPES[runs.indexOf(run) % MARKER_SHAPES.length];
  const width = theme.lineWidth;
  const xTitle = data.xTitle ?? `${data.reference} step`;
  const yTitle = data.yTitle ?? 'step to reach the same loss';
  const maxX = Math.max(0, ...data.panels.flatMap((p) => p.runs.flatMap((r) => r.fit.matches.map((m) => m.referenceStep))));

  const tableSeries: TableSeries[] = [];
  const names = uniqueNames(
    data.panels.flatMap((p) => p.runs.flatMap((r) => [`${r.run} · ${p.modality} matched`, `${r.run} · ${p.modality} fit`])),
  );
  let column = 0;
  const panels: XyPanel[] = data.panels.map((panel) => {
    const lines: PlotLine[] = [];
    const yValues: number[] = [];
    const legend: LegendEntry[] = [];
    for (const { run, fit } of panel.runs) {
      const x = fit.matches.map((m) => m.referenceStep);
      const y = fit.matches.map((m) => m.matchedStep);
      const fitted = x.map((v) => (fit.slope === null ? null : fit.slope * v));
      lines.push({
        key: `${run}:${panel.modality}:matched`,
        x,
        y,
        stroke: colourOf(run),
        strokeWidth: 0,
        marker: { shape: shapeOf(run), size: width * 1.8 },
        connect: false,
      });
      if (fit.slope !== null) {
        lines.push({
          key: `${run}:${panel.modality}:fit`,
          x: [0, maxX],
          y: [0, fit.slope * maxX],
          stroke: colourOf(run),
          strokeWidth: width,
        });
        yValues.push(fit.slope * maxX);
      }
      for (const v of y) if (v !== null) yValues.push(v);
      legend.push({
        label: runs.length > 1 ? `${run}: ${formatSlope(fit.slope)}` : formatSlope(fit.slope),
        swatch: { kind: 'line', stroke: colourOf(run) },
      });
      tableSeries.push({ name: names[column++], x, values: y }, { name: names[column++], x, values: fitted });
    }
    const diagonal: PlotLine = {
      key: `diagonal:${panel.modality}`,
      x: [0, maxX],
      y: [0, maxX],
      stroke: theme.muted,
      strokeWidth: width * 0.75,
      dash: scaledDash([1, 1.5], width * 0.75),
    };
    return { id: `panel:${panel.modality}`, title: panel.modality, lines: [diagonal, ...lines], yValues, legend };
  });

  const legend: LegendEntry[] = [
    ...runs.map((run): LegendEntry => ({ label: run, swatch: { kind: 'symbol', shape: shapeOf(run), fill: colourOf(run) } })),
    { label: `y = x (as fast as ${data.reference})`, swatch: { kind: 'line', stroke: theme.muted, dash: scaledDash([1, 1.5], width) } },
  ];
  return xyChart(
    size,
    theme,
    options,
    panels,
    {
      xTitle,
      yTitle,
      xScale: 'linear',
      yScale: 'linear',
      xValues: [0, maxX],
      niceX: true,
      includeZeroX: true,
      includeZeroY: true,
      // Room for the markers at the last evaluation (the frame clips the data).
      padX: 0.02,
      padY: 0.02,
      columns: options.columns ?? Math.min(3, panels.length),
    },
    legend,
    wideTable(xTitle, tableSeries),
  );
}
