/**
 * The canvas half of Chart.svelte: point clouds and cell grids (too many elements for SVG), and
 * the pointer → data coordinate inverse of a plot frame.
 */
import type { GroupMark, Mark, PlotFrame } from '../../src-main/common/charts/marks.ts';

export interface ChartLayers {
  /** Gridlines, axes, ticks: under the data. */
  base: Mark[];
  /** The clipped groups of the plot frames (the data), each drawn in its own element. */
  plots: GroupMark[];
  /** Text and legends: over the data. */
  over: Mark[];
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

export function drawCanvasMarks(ctx: CanvasRenderingContext2D, marks: readonly Mark[]): void {
  for (const mark of marks) {
    if (mark.kind === 'group') {
      ctx.save();
      if (mark.clip) {
        ctx.beginPath();
        ctx.rect(mark.clip.x, mark.clip.y, mark.clip.width, mark.clip.height);
        ctx.clip();
      }
      drawCanvasMarks(ctx, mark.marks);
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
