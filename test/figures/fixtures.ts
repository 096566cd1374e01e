/**
 * Hand-built chart geometries for the exporter's tests and bench: every mark kind, laid out
 * here by plain arithmetic (not by the chart functions), at a paper preset's size in points.
 */
import type { ChartGeometry, ChartSize, Mark, PlotFrame, TextMark } from '../../src-main/common/charts/marks.ts';
import { categoricalColor, LINE_DASHES, MARKER_SHAPES, type ChartTheme } from '../../src-main/common/palette.ts';
import { figureLayout, parseFigureOptions } from '../../src-main/figures/presets.ts';

const column = figureLayout(parseFigureOptions({ preset: 'icml-column' }));
export const COLUMN_SIZE = column.size;
export const FULL_SIZE = figureLayout(parseFigureOptions({ preset: 'icml-full' })).size;
export const EXPORT_THEME = column.theme;

export const HOSTILE_TITLE = 'Run <a href="http://x">&amp; "quotes" \'apos\' & <script>';

/** A small seeded generator (mulberry32), so fixtures are the same every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

interface Frame {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Axes, ticks, grid and labels of one plot area, as marks. */
function axes(
  theme: ChartTheme,
  frame: Frame,
  xDomain: [number, number],
  yDomain: [number, number],
  xLabel: string,
  yLabel: string,
): Mark[] {
  const marks: Mark[] = [];
  const sx = (v: number) => frame.x + ((v - xDomain[0]) / (xDomain[1] - xDomain[0])) * frame.width;
  const sy = (v: number) => frame.y + frame.height - ((v - yDomain[0]) / (yDomain[1] - yDomain[0])) * frame.height;
  const tick = (i: number, n: number, d: [number, number]) => d[0] + ((d[1] - d[0]) * i) / n;
  for (let i = 0; i <= 4; i++) {
    const xv = tick(i, 4, xDomain);
    const yv = tick(i, 4, yDomain);
    marks.push({
      kind: 'line',
      points: [
        [sx(xv), frame.y],
        [sx(xv), frame.y + frame.height],
      ],
      stroke: theme.grid,
      strokeWidth: 0.5,
    });
    marks.push({
      kind: 'line',
      points: [
        [frame.x, sy(yv)],
        [frame.x + frame.width, sy(yv)],
      ],
      stroke: theme.grid,
      strokeWidth: 0.5,
    });
    marks.push({
      kind: 'line',
      points: [
        [sx(xv), frame.y + frame.height],
        [sx(xv), frame.y + frame.height + 3],
      ],
      stroke: theme.axis,
      strokeWidth: 0.6,
    });
    marks.push({
      kind: 'line',
      points: [
        [frame.x - 3, sy(yv)],
        [frame.x, sy(yv)],
      ],
      stroke: theme.axis,
      strokeWidth: 0.6,
    });
    marks.push(text(theme, sx(xv), frame.y + frame.height + 4.5, String(Math.round(xv * 100) / 100), 'middle', 'top', theme.tickFontSize));
    marks.push(text(theme, frame.x - 4.5, sy(yv), String(Math.round(yv * 100) / 100), 'end', 'middle', theme.tickFontSize));
  }
  marks.push({
    kind: 'line',
    points: [
      [frame.x, frame.y],
      [frame.x, frame.y + frame.height],
      [frame.x + frame.width, frame.y + frame.height],
    ],
    stroke: theme.axis,
    strokeWidth: 0.6,
  });
  marks.push(text(theme, frame.x + frame.width / 2, frame.y + frame.height + 14, xLabel, 'middle', 'top', theme.fontSize));
  marks.push({ ...text(theme, frame.x - 24, frame.y + frame.height / 2, yLabel, 'middle', 'bottom', theme.fontSize), rotate: -90 });
  return marks;
}

function text(
  theme: ChartTheme,
  x: number,
  y: number,
  s: string,
  anchor: TextMark['anchor'],
  baseline: TextMark['baseline'],
  fontSize: number,
): TextMark {
  return { kind: 'text', x, y, text: s, fontSize, fill: theme.foreground, anchor, baseline };
}

function frameOf(id: string, f: Frame, xDomain: [number, number], yDomain: [number, number]): PlotFrame {
  return { id, ...f, xDomain, yDomain, xScale: 'linear', yScale: 'linear' };
}

/** A legend's 12 pt line sample. */
function legendSwatch(x: number, y: number, stroke: string, strokeWidth: number, dash?: readonly number[]): Mark {
  return {
    kind: 'line',
    points: [
      [x, y],
      [x + 12, y],
    ],
    stroke,
    strokeWidth,
    dash,
  };
}

/** Loss curves: three runs (colour) × two modalities (dash), a gap in one run, markers, a legend, a bold title with markup characters. */
export function lossCurves({ width, height }: ChartSize = COLUMN_SIZE, theme: ChartTheme = EXPORT_THEME): ChartGeometry {
  const frame = { x: 36, y: 18, width: width - 36 - 62, height: height - 18 - 30 };
  const steps = 120;
  const sx = (s: number) => frame.x + (s / steps) * frame.width;
  const sy = (l: number) => frame.y + frame.height - ((l - 1) / 4) * frame.height;
  const marks: Mark[] = [
    {
      kind: 'text',
      x: frame.x,
      y: 4,
      text: HOSTILE_TITLE,
      fontSize: theme.fontSize,
      fill: theme.foreground,
      anchor: 'start',
      baseline: 'top',
      weight: 'bold',
    },
    ...axes(theme, frame, [0, steps], [1, 5], 'step', 'loss (nats)'),
  ];
  const table: ChartGeometry['table'] = { columns: ['step'], rows: [] };
  const curveMarks: Mark[] = [];
  const series: (number | null)[][] = [];
  for (let run = 0; run < 3; run++) {
    for (let modality = 0; modality < 2; modality++) {
      const values: (number | null)[] = [];
      const points: ([number, number] | null)[] = [];
      for (let s = 0; s <= steps; s++) {
        // Run 1 has a gap (steps 50–59 missing) and a NaN at step 80 (also a gap).
        const missing = run === 1 && s >= 50 && s < 60;
        const value = missing
          ? null
          : run === 1 && modality === 0 && s === 80
            ? Number.NaN
            : 1.2 + 3.6 * Math.exp(-s / (20 + 12 * run + 8 * modality)) + 0.05 * Math.sin(s * (run + 1));
        values.push(value === null || Number.isNaN(value) ? null : value);
        points.push(value === null ? null : [sx(s), sy(value)]);
      }
      series.push(values);
      table.columns.push(`run ${run} ${modality ? 'image' : 'text'} "raw"`);
      curveMarks.push({
        kind: 'line',
        points,
        stroke: categoricalColor(run),
        strokeWidth: theme.lineWidth,
        dash: LINE_DASHES[modality].map((d) => d * theme.lineWidth),
        key: `r${run}m${modality}`,
      });
      for (let s = 0; s <= steps; s += 30) {
        const v = values[s];
        if (v !== null)
          curveMarks.push({
            kind: 'symbol',
            x: sx(s),
            y: sy(v),
            size: 1.8,
            shape: MARKER_SHAPES[run + 1],
            fill: categoricalColor(run),
            stroke: theme.background,
            strokeWidth: 0.4,
          });
      }
    }
  }
  for (let s = 0; s <= steps; s++) table.rows.push([s, ...series.map((v) => v[s])]);
  marks.push({ kind: 'group', clip: frame, marks: curveMarks });
  // Legend: colour per run, dash per modality.
  const lx = frame.x + frame.width + 6;
  for (let run = 0; run < 3; run++) {
    const ly = frame.y + 4 + run * 11;
    marks.push(legendSwatch(lx, ly, categoricalColor(run), theme.lineWidth));
    marks.push({ kind: 'symbol', x: lx + 6, y: ly, size: 1.8, shape: MARKER_SHAPES[run + 1], fill: categoricalColor(run) });
    marks.push(text(theme, lx + 15, ly, `run ${run}`, 'start', 'middle', theme.tickFontSize));
  }
  for (let modality = 0; modality < 2; modality++) {
    const ly = frame.y + 40 + modality * 11;
    marks.push(legendSwatch(lx, ly, theme.foreground, theme.lineWidth, LINE_DASHES[modality]));
    marks.push(text(theme, lx + 15, ly, modality ? 'image' : 'text', 'start', 'middle', theme.tickFontSize));
  }
  return { width, height, theme, marks, frames: [frameOf('main', frame, [0, steps], [1, 5])], table, title: HOSTILE_TITLE };
}

/** A PCA-like cloud of `n` points in three modality clusters (a raster layer beyond 20,000). */
export function pointCloud(
  n: number,
  { width, height }: ChartSize = COLUMN_SIZE,
  theme: ChartTheme = EXPORT_THEME,
  seed = 7,
): ChartGeometry {
  const frame = { x: 36, y: 10, width: width - 46, height: height - 10 - 30 };
  const random = seeded(seed);
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  const colourIndex = new Uint8Array(n);
  const rows: (number | string)[][] = [];
  const centres = [
    [-1.2, 0.4],
    [1.1, 0.9],
    [0.2, -1.1],
  ];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const px = centres[c][0] + 0.55 * gaussian(random);
    const py = centres[c][1] + 0.45 * gaussian(random);
    x[i] = frame.x + ((px + 3) / 6) * frame.width;
    y[i] = frame.y + frame.height - ((py + 3) / 6) * frame.height;
    colourIndex[i] = c;
    if (rows.length < 50_000) rows.push([['text', 'image', 'speech'][c], px, py]);
  }
  const marks: Mark[] = [
    ...axes(theme, frame, [-3, 3], [-3, 3], 'PC 1 (41.2%)', 'PC 2 (17.9%)'),
    { kind: 'points', x, y, colourIndex, colours: ['#0072B2', '#E69F00', '#009E73'], radius: 1.1, opacity: 0.6, clip: frame, key: 'cloud' },
  ];
  return {
    width,
    height,
    theme,
    marks,
    frames: [frameOf('pca', frame, [-3, 3], [-3, 3])],
    table: { columns: ['modality', 'pc1', 'pc2'], rows },
    title: `PCA of ${n} hidden states`,
  };
}

/** Viridis at t in [0, 1], from its published 5 anchor colours (linear in RGB between them). */
function viridis(t: number): string {
  const anchors = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const u = Math.min(1, Math.max(0, t)) * (anchors.length - 1);
  const i = Math.min(anchors.length - 2, Math.floor(u));
  const f = u - i;
  const c = anchors[i].map((v, k) => Math.round(v + (anchors[i + 1][k] - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** A heatmap of rows × columns cells (vector rects when few, one image when many), with a colour bar. */
export function heatmap(
  rows: number,
  columns: number,
  { width, height }: ChartSize = COLUMN_SIZE,
  theme: ChartTheme = EXPORT_THEME,
): ChartGeometry {
  const frame = { x: 36, y: 10, width: width - 36 - 40, height: height - 10 - 30 };
  const colours: string[] = [];
  const tableRows: (number | string)[][] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const v = 0.5 + 0.5 * Math.sin((r / rows) * 3.1) * Math.cos((c / columns) * 4.2);
      colours.push(viridis(v));
      tableRows.push([r, c, Math.round(v * 1e6) / 1e6]);
    }
  }
  const marks: Mark[] = [
    ...axes(theme, frame, [0, columns], [0, rows], 'checkpoint', 'layer'),
    { kind: 'cells', x: frame.x, y: frame.y, width: frame.width, height: frame.height, columns, rows, colours, key: 'heat' },
  ];
  // Colour bar: 10 vector cells.
  const bar = { x: frame.x + frame.width + 8, y: frame.y, width: 6, height: frame.height };
  marks.push({ kind: 'cells', ...bar, columns: 1, rows: 10, colours: Array.from({ length: 10 }, (_, i) => viridis(1 - (i + 0.5) / 10)) });
  marks.push({ kind: 'rect', ...bar, stroke: theme.axis, strokeWidth: 0.5 });
  return {
    width,
    height,
    theme,
    marks,
    frames: [frameOf('heat', frame, [0, columns], [0, rows])],
    table: { columns: ['row', 'column', 'value'], rows: tableRows },
    title: `heatmap ${rows}×${columns}`,
  };
}

/** A 2×2 grid of small clipped panels (pca-grid-like): groups with clips, lines leaving the clip, filled areas, every symbol shape. */
export function panelGrid({ width, height }: ChartSize = FULL_SIZE, theme: ChartTheme = EXPORT_THEME): ChartGeometry {
  const marks: Mark[] = [];
  const frames: PlotFrame[] = [];
  const random = seeded(3);
  const pw = (width - 60) / 2;
  const ph = (height - 60) / 2;
  const tableRows: (number | string | null)[][] = [];
  for (let p = 0; p < 4; p++) {
    const frame = { x: 40 + (p % 2) * (pw + 16), y: 14 + Math.floor(p / 2) * (ph + 22), width: pw - 16, height: ph - 22 };
    frames.push(frameOf(`panel${p}`, frame, [0, 1], [0, 1]));
    marks.push(...axes(theme, frame, [0, 1], [0, 1], `layer ${p}`, 'value'));
    const inner: Mark[] = [];
    // A band (filled line) and a line that overshoots the plot area (the clip must cut it).
    const band: [number, number][] = [];
    const upper: [number, number][] = [];
    const over: [number, number][] = [];
    for (let i = 0; i <= 40; i++) {
      const t = i / 40;
      const cx = frame.x + t * frame.width;
      band.push([cx, frame.y + frame.height * (0.55 - 0.25 * Math.sin(3 * t + p))]);
      upper.push([cx, frame.y + frame.height * (0.35 - 0.25 * Math.sin(3 * t + p))]);
      over.push([frame.x - 20 + t * (frame.width + 40), frame.y + frame.height * (1.3 - 1.6 * t)]);
      tableRows.push([p, t, 0.55 - 0.25 * Math.sin(3 * t + p), 1.3 - 1.6 * t]);
    }
    inner.push({ kind: 'line', points: [...band, ...upper.reverse()], fill: categoricalColor(p, 'tableau-10'), opacity: 0.3 });
    inner.push({ kind: 'line', points: over, stroke: categoricalColor(p + 4), strokeWidth: 1.5, dash: [3, 1.5] });
    MARKER_SHAPES.forEach((shape, k) => {
      inner.push({
        kind: 'symbol',
        x: frame.x + ((k + 0.5) / MARKER_SHAPES.length) * frame.width,
        y: frame.y + frame.height * (0.15 + 0.7 * random()),
        size: 2.5,
        shape,
        fill: categoricalColor(k),
        stroke: '#000000',
        strokeWidth: 0.3,
      });
    });
    // A rect half outside the plot area, drawn only inside it.
    inner.push({
      kind: 'rect',
      x: frame.x + frame.width - 15,
      y: frame.y - 10,
      width: 30,
      height: 25,
      fill: 'rgba(213, 94, 0, 0.5)',
      stroke: '#D55E00',
      strokeWidth: 0.8,
    });
    marks.push({ kind: 'group', clip: frame, marks: inner });
    marks.push({
      ...text(theme, frame.x + frame.width / 2, frame.y - 3, `Panel ${p} — α=0.${p} · “quoted”`, 'middle', 'bottom', theme.fontSize),
      weight: 'bold',
    });
  }
  return { width, height, theme, marks, frames, table: { columns: ['panel', 't', 'band', 'line'], rows: tableRows }, title: 'panel grid' };
}
