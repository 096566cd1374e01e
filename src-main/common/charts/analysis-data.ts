/**
 * The analysis reports of the API (common/api/analysis.ts) as chart data: what the Losses and
 * Step matching views draw, what `motlab analyze … --csv` writes (the chart's plotted table) and
 * what a figure of the view regenerates. Written once so the three agree.
 */
import type { LossCurvesReport, StepMatchReport } from '../api/analysis.ts';
import type { LineChartData, LineSeries } from './line-chart.ts';
import type { StepMatchData } from './step-match-chart.ts';

export interface LossChartSelection {
  /** Only these runs (the others keep their colours); default all. */
  runs?: readonly string[];
  /** Only these modalities (panels); default all. */
  modalities?: readonly string[];
}

/**
 * Training curves as raw + smoothed lines; validation curves as measured (a line with a marker at
 * every evaluation). Colours follow the report's run order.
 */
export function lossChartData(report: LossCurvesReport, selection: LossChartSelection = {}): LineChartData {
  const modalities = report.modalities.filter((m) => !selection.modalities?.length || selection.modalities.includes(m));
  const series: LineSeries[] = report.series
    .filter((s) => (!selection.runs || selection.runs.includes(s.run)) && modalities.includes(s.modality))
    .map((s) =>
      s.split === 'train'
        ? { run: s.run, modality: s.modality, x: s.x, raw: s.raw, smoothed: s.smoothed }
        : { run: s.run, modality: s.modality, variant: 'eval', x: s.x, raw: s.raw },
    );
  return {
    series,
    modalities,
    runs: report.runs.map((r) => r.name),
    xTitle: report.xTitle,
    yTitle: report.split === 'train' ? 'training loss' : report.split === 'val' ? 'validation loss' : 'loss',
    smoothing: report.split === 'val' ? undefined : report.smoothing,
  };
}

/** One panel per modality with each run's matched points and fitted slope. */
export function stepMatchChartData(report: StepMatchReport, modalities?: readonly string[]): StepMatchData {
  const shown = report.modalities.filter((m) => !modalities?.length || modalities.includes(m));
  const unit = report.xTitle;
  return {
    reference: report.reference.name,
    panels: shown.map((modality) => ({
      modality,
      runs: report.rows
        .filter((r) => r.modality === modality)
        .map((r) => ({
          run: r.run,
          fit: { slope: r.slope, matches: r.matches.map((m) => ({ referenceStep: m.referenceX, matchedStep: m.matchedX })) },
        })),
    })),
    xTitle: `${report.reference.name} ${unit}`,
    yTitle: `${unit} to reach the same loss`,
  };
}
