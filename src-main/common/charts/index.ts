/**
 * Chart geometry for screen and figures: each chart is a pure function
 * (data, size, theme, options) → ChartGeometry (see marks.ts).
 */
export * from './marks.ts';
export {
  lineChart,
  multiLine,
  type LineChartData,
  type LineChartOptions,
  type LineSeries,
  type MultiLineData,
  type MultiLineOptions,
  type MultiLineSeries,
} from './line-chart.ts';
export { stepMatchChart, stepMatchRunColour, type StepMatchData, type StepMatchFit, type StepMatchOptions } from './step-match-chart.ts';
export {
  pcaGrid,
  scatterChart,
  type PcaGridData,
  type PcaGridOptions,
  type PointColouring,
  type ScatterData,
  type ScatterOptions,
} from './scatter.ts';
export { barChart, type BarChartData, type BarChartOptions, type BarSeries } from './bar-chart.ts';
export { heatmap, RECT_CELL_LIMIT, type HeatmapData, type HeatmapOptions } from './heatmap.ts';
export { LEGEND_POSITIONS, type LegendPosition } from './legend.ts';
export type { ChartOptions } from './layout.ts';
export type { ScaleKind } from './axes.ts';
export { sequentialColour, sequentialRamp } from './colour.ts';
export { lossChartData, stepMatchChartData, type LossChartSelection } from './analysis-data.ts';
