/**
 * The canvas half of Chart.svelte: what a plot frame draws (curves of many points, point clouds,
 * cell grids: too much for SVG to draw again on every change), the layers of a chart, and the
 * pointer ↔ data coordinates of a plot frame.
 */
import type { GroupMark, Mark, PlotFrame } from '../../src-main/common/charts/marks.ts';
import { isOpenSymbol, symbolPath } from '../../src-main/common/charts/paths.ts';

export interface ChartLayers {
  /** Gridlines, axes, ticks: under the data. */
  base: Mark[];
  /** The clipped groups of the plot frames (the data), each drawn in its own element. */
  plots: GroupMark[];
  /** Text and legends: over the data. */
  over: Mark[];
}

/** Whether any mark (at any depth) is drawn on a canvas in the base layer (points, cells). */
export function hasCanvasMarks(marks: readonly Mark[]): boolean {
  return marks.some((m) => m.kind === 'points' || m.kind === 'cells' || (m.kind === 'group' && hasCanvasMarks(m.marks)));
}

/** The text marks among `marks` (at any depth): a plot's canvas leaves them to SVG. */
export function textMarks(marks: readonly Mark[]): Mark[] {
  return marks.flatMap((m) => (m.kind === 'text' ? [m] : m.kind === 'group' ? textMarks(m.marks) : []));
}

/** Draws a plot frame's marks on its canvas: `clip` is the frame (the canvas' origin), `ratio` the device pixel ratio. */
export function paintPlot(canvas: HTMLCanvasElement, plot: GroupMark, ratio: number): void {
  const clip = plot.clip!;
  canvas.width = Math.max(1, Math.round(clip.width * ratio));
  canvas.height = Math.max(1, Math.round(clip.height * ratio));
  const ctx = canvas.getContext('2d');
  if (!ctx) return; // no 2D context (a headless test without canvas)
  ctx.setTransform(ratio, 0, 0, ratio, -clip.x * ratio, -clip.y * ratio);
  ctx.clearRect(clip.x, clip.y, clip.width, clip.height);
  drawCanvasMarks(ctx, plot.marks);
}

/** The top-level marks of a chart by layer (see Chart.svelte). */
export function chartLayers(marks: readonly Mark[]): ChartLayers {
  const layers: ChartLayers = { base: [], plots: [], over: [] };
  for (const m of marks) {
    if (m.kind === 'group' && m.clip) layers.plots.push(m);
    else if (m.kind === 'text' || (m.kind === 'group' && m.key === 'legend')) layers.over.push(m);
    else layers.base.push(m);
  }
  return layers;
}

/** Draws every mark but text (Chart.svelte writes text as SVG, over the canvas); `only` these kinds when given. */
export function drawCanvasMarks(ctx: CanvasRenderingContext2D, marks: readonly Mark[], only?: readonly Mark['kind'][]): void {
  for (const mark of marks) {
    if (only && mark.kind !== 'group' && !only.includes(mark.kind)) continue;
    if (mark.kind === 'line') {
      if (!mark.stroke || mark.points.length === 0) continue;
      ctx.save();
      ctx.globalAlpha = mark.opacity ?? 1;
      ctx.strokeStyle = mark.stroke;
      ctx.lineWidth = mark.strokeWidth ?? 1;
      ctx.lineJoin = 'round';
      ctx.lineCap = 'butt'; // as the SVG marks and figures: dash patterns stay legible
      ctx.setLineDash(mark.dash ? [...mark.dash] : []);
      ctx.beginPath();
      let pen = false;
      for (const p of mark.points) {
        if (p === null) pen = false;
        else if (pen) ctx.lineTo(p[0], p[1]);
        else {
          ctx.moveTo(p[0], p[1]);
          pen = true;
        }
      }
      ctx.stroke();
      ctx.restore();
    } else if (mark.kind === 'symbol') {
      ctx.save();
      ctx.globalAlpha = mark.opacity ?? 1;
      const path = new Path2D(symbolPath(mark.shape, mark.x, mark.y, mark.size));
      const open = isOpenSymbol(mark.shape);
      if (!open && mark.fill) {
        ctx.fillStyle = mark.fill;
        ctx.fill(path);
      }
      const stroke = mark.stroke ?? (open ? mark.fill : undefined);
      if (stroke) {
        ctx.strokeStyle = stroke;
        ctx.lineWidth = mark.strokeWidth ?? 1;
        ctx.stroke(path);
      }
      ctx.restore();
    } else if (mark.kind === 'rect') {
      ctx.save();
      ctx.globalAlpha = mark.opacity ?? 1;
      if (mark.fill) {
        ctx.fillStyle = mark.fill;
        ctx.fillRect(mark.x, mark.y, Math.max(0, mark.width), Math.max(0, mark.height));
      }
      if (mark.stroke) {
        ctx.strokeStyle = mark.stroke;
        ctx.lineWidth = mark.strokeWidth ?? 1;
        ctx.setLineDash(mark.dash ? [...mark.dash] : []);
        ctx.strokeRect(mark.x, mark.y, Math.max(0, mark.width), Math.max(0, mark.height));
      }
      ctx.restore();
    } else if (mark.kind === 'group') {
      ctx.save();
      if (mark.clip) {
        ctx.beginPath();
        ctx.rect(mark.clip.x, mark.clip.y, mark.clip.width, mark.clip.height);
        ctx.clip();
      }
      drawCanvasMarks(ctx, mark.marks, only);
      ctx.restore();
    } else if (mark.kind === 'points') {
      ctx.save();
      ctx.beginPath();
      ctx.rect(mark.clip.x, mark.clip.y, mark.clip.width, mark.clip.height);
      ctx.clip();
      ctx.globalAlpha = mark.opacity;
      // One path per colour: a fill per point would be 100,000 draw calls.
      for (let c = 0; c < mark.colours.length; c++) {
        ctx.fillStyle = mark.colours[c];
        ctx.beginPath();
        for (let i = 0; i < mark.x.length; i++) {
          if (mark.colourIndex[i] !== c) continue;
          ctx.moveTo(mark.x[i] + mark.radius, mark.y[i]);
          ctx.arc(mark.x[i], mark.y[i], mark.radius, 0, 2 * Math.PI);
        }
        ctx.fill();
      }
      ctx.restore();
    } else if (mark.kind === 'cells') {
      const w = mark.width / mark.columns;
      const h = mark.height / mark.rows;
      for (let r = 0; r < mark.rows; r++) {
        for (let c = 0; c < mark.columns; c++) {
          ctx.fillStyle = mark.colours[r * mark.columns + c];
          // Cells overlap by a hair so no seams show between them.
          ctx.fillRect(mark.x + c * w, mark.y + r * h, w + 0.5, h + 0.5);
        }
      }
    }
  }
}

/** The plot frame under a point in chart coordinates, if any. */
export function frameAt(frames: readonly PlotFrame[], x: number, y: number): PlotFrame | undefined {
  return frames.find((f) => x >= f.x && x <= f.x + f.width && y >= f.y && y <= f.y + f.height);
}

function invertAxis(scale: 'linear' | 'log', [d0, d1]: [number, number], t: number): number {
  if (scale === 'log') return Math.exp(Math.log(d0) + t * (Math.log(d1) - Math.log(d0)));
  return d0 + t * (d1 - d0);
}

/** Chart x coordinate of data position `x` in a frame (the inverse of invertFrame's x). */
export function frameX(frame: PlotFrame, x: number): number {
  const [d0, d1] = frame.xDomain;
  const t = frame.xScale === 'log' ? (Math.log(x) - Math.log(d0)) / (Math.log(d1) - Math.log(d0)) : (x - d0) / (d1 - d0);
  return frame.x + t * frame.width;
}

/** Data coordinates of a chart-coordinate point inside a frame (y grows upwards in data). */
export function invertFrame(frame: PlotFrame, x: number, y: number): [number, number] {
  const tx = (x - frame.x) / frame.width;
  const ty = 1 - (y - frame.y) / frame.height;
  return [invertAxis(frame.xScale, frame.xDomain, tx), invertAxis(frame.yScale, frame.yDomain, ty)];
}
