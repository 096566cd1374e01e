/**
 * Legends: entries with a swatch (line with its dash, symbol, or filled box) and a label, laid
 * out in rows (top/bottom) or a column (right/inside). Each legend is one group mark keyed
 * "legend" whose texts are keyed `legend:<label>`.
 */
import type { ChartTheme, MarkerShape } from '../palette.ts';
import { text, type Box } from './geometry.ts';
import type { GroupMark, Mark, Point } from './marks.ts';
import { fitText, textWidth } from './text.ts';

export type LegendPosition = 'top' | 'right' | 'bottom' | 'inside' | 'none';
export const LEGEND_POSITIONS: readonly LegendPosition[] = ['top', 'right', 'bottom', 'inside', 'none'];

export type LegendSwatch =
  | { kind: 'line'; stroke: string; dash?: readonly number[]; strokeWidth?: number; opacity?: number; marker?: MarkerShape }
  | { kind: 'symbol'; shape: MarkerShape; fill: string }
  | { kind: 'rect'; fill: string };

export interface LegendEntry {
  label: string;
  swatch: LegendSwatch;
}

type Orientation = 'horizontal' | 'vertical';

function metrics(theme: ChartTheme) {
  const fontSize = theme.tickFontSize;
  return { fontSize, swatch: fontSize * 2.4, gap: fontSize * 0.4, between: fontSize * 1.2, row: fontSize * 1.35, pad: fontSize * 0.4 };
}

function entryWidth(entry: LegendEntry, theme: ChartTheme): number {
  const m = metrics(theme);
  return m.swatch + m.gap + textWidth(entry.label, m.fontSize);
}

/**
 * Entries per row: one per row when vertical; as many as fit in maxWidth when horizontal.
 * Labels too long for maxWidth end in an ellipsis.
 */
type FittedEntry = LegendEntry & { full: string };

function rowsOf(all: readonly LegendEntry[], theme: ChartTheme, orientation: Orientation, maxWidth: number): FittedEntry[][] {
  const m = metrics(theme);
  const entries = all.map((e) => ({ ...e, label: fitText(e.label, m.fontSize, maxWidth - m.swatch - m.gap), full: e.label }));
  if (orientation === 'vertical') return entries.map((e) => [e]);
  const rows: FittedEntry[][] = [];
  let width = 0;
  for (const e of entries) {
    const w = entryWidth(e, theme);
    if (rows.length > 0 && width + m.between + w <= maxWidth) {
      rows[rows.length - 1].push(e);
      width += m.between + w;
    } else {
      rows.push([e]);
      width = w;
    }
  }
  return rows;
}

export function measureLegend(
  entries: readonly LegendEntry[],
  theme: ChartTheme,
  orientation: Orientation,
  maxWidth: number,
): { width: number; height: number } {
  if (entries.length === 0) return { width: 0, height: 0 };
  const m = metrics(theme);
  const rows = rowsOf(entries, theme, orientation, maxWidth);
  const width = Math.max(...rows.map((row) => row.reduce((s, e) => s + entryWidth(e, theme), 0) + m.between * (row.length - 1)));
  return { width, height: rows.length * m.row };
}

function swatchMarks(swatch: LegendSwatch, x: number, y: number, theme: ChartTheme): Mark[] {
  const m = metrics(theme);
  const mid = y + m.row / 2;
  if (swatch.kind === 'line') {
    const width = swatch.strokeWidth ?? theme.lineWidth * 1.5;
    const marks: Mark[] = [
      {
        kind: 'line',
        points: [
          [x, mid],
          [x + m.swatch, mid],
        ],
        stroke: swatch.stroke,
        strokeWidth: width,
        dash: swatch.dash,
        opacity: swatch.opacity,
      },
    ];
    if (swatch.marker)
      marks.push({ kind: 'symbol', x: x + m.swatch / 2, y: mid, size: m.fontSize * 0.3, shape: swatch.marker, fill: swatch.stroke });
    return marks;
  }
  if (swatch.kind === 'symbol')
    return [{ kind: 'symbol', x: x + m.swatch / 2, y: mid, size: m.fontSize * 0.32, shape: swatch.shape, fill: swatch.fill }];
  const h = m.fontSize * 0.8;
  return [{ kind: 'rect', x: x + m.swatch * 0.2, y: mid - h / 2, width: m.swatch * 0.6, height: h, fill: swatch.fill }];
}

/** The legend as one group mark with its top-left corner at `at`. */
export function legendGroup(
  entries: readonly LegendEntry[],
  theme: ChartTheme,
  at: { x: number; y: number },
  orientation: Orientation,
  maxWidth: number,
  background = false,
): GroupMark {
  const m = metrics(theme);
  const marks: Mark[] = [];
  if (background) {
    const size = measureLegend(entries, theme, orientation, maxWidth);
    marks.push({
      kind: 'rect',
      x: at.x - m.pad,
      y: at.y - m.pad / 2,
      width: size.width + 2 * m.pad,
      height: size.height + m.pad,
      fill: theme.background,
      opacity: 0.85,
      stroke: theme.grid,
      strokeWidth: theme.lineWidth * 0.5,
    });
  }
  rowsOf(entries, theme, orientation, maxWidth).forEach((row, r) => {
    let x = at.x;
    const y = at.y + r * m.row;
    for (const entry of row) {
      marks.push(...swatchMarks(entry.swatch, x, y, theme));
      marks.push(
        text(x + m.swatch + m.gap, y + m.row / 2, entry.label, m.fontSize, theme.foreground, 'start', 'middle', {
          key: `legend:${entry.full}`,
        }),
      );
      x += entryWidth(entry, theme) + m.between;
    }
  });
  return { kind: 'group', key: 'legend', marks };
}

/**
 * A legend inside a plot frame, in the corner that covers the fewest data points (ties: top
 * right, top left, bottom right, bottom left), on a translucent background.
 */
export function insideLegend(entries: readonly LegendEntry[], theme: ChartTheme, frame: Box, occupied: readonly Point[]): GroupMark | null {
  if (entries.length === 0) return null;
  const m = metrics(theme);
  const size = measureLegend(entries, theme, 'vertical', frame.width);
  const margin = m.pad * 2;
  const left = frame.x + margin;
  const right = frame.x + frame.width - margin - size.width;
  const top = frame.y + margin;
  const bottom = frame.y + frame.height - margin - size.height;
  const corners = [
    { x: right, y: top },
    { x: left, y: top },
    { x: right, y: bottom },
    { x: left, y: bottom },
  ];
  let best = corners[0];
  let fewest = Infinity;
  for (const c of corners) {
    let count = 0;
    for (const [px, py] of occupied) {
      if (px >= c.x - m.pad && px <= c.x + size.width + m.pad && py >= c.y - m.pad && py <= c.y + size.height + m.pad) count++;
    }
    if (count < fewest) {
      fewest = count;
      best = c;
    }
  }
  return legendGroup(entries, theme, best, 'vertical', frame.width, true);
}
