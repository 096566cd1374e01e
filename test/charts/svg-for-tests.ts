/**
 * A tiny SVG writer for the chart tests only (the real exporter is src-main/figures): draws
 * every mark kind so a test can check a chart becomes a well-formed standalone SVG, and so a
 * person can look at it (resvg renders it to PNG).
 */
import type { ChartGeometry, Mark } from '../../src-main/common/charts/marks.ts';
import { isOpenSymbol, linePath, round2 as n, symbolPath } from '../../src-main/common/charts/paths.ts';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function style(m: { stroke?: string; fill?: string; strokeWidth?: number; dash?: readonly number[]; opacity?: number }): string {
  const parts = [`fill="${m.fill ?? 'none'}"`];
  if (m.stroke) parts.push(`stroke="${m.stroke}"`, `stroke-width="${n(m.strokeWidth ?? 1)}"`);
  if (m.dash && m.dash.length > 0) parts.push(`stroke-dasharray="${m.dash.map(n).join(' ')}"`);
  if (m.opacity !== undefined) parts.push(`opacity="${n(m.opacity)}"`);
  return parts.join(' ');
}

const BASELINE: Record<string, string> = {
  top: 'text-before-edge',
  middle: 'central',
  bottom: 'text-after-edge',
  alphabetic: 'alphabetic',
};

export function toSvg(g: ChartGeometry): string {
  let clipId = 0;
  const defs: string[] = [];
  const draw = (m: Mark): string => {
    switch (m.kind) {
      case 'line':
        return `<path d="${linePath(m.points)}" ${style({ ...m, fill: undefined })}/>`;
      case 'rect':
        return `<rect x="${n(m.x)}" y="${n(m.y)}" width="${n(m.width)}" height="${n(m.height)}" ${style(m)}/>`;
      case 'symbol': {
        const open = isOpenSymbol(m.shape);
        return `<path d="${symbolPath(m.shape, m.x, m.y, m.size)}" ${style(open ? { stroke: m.fill ?? m.stroke, strokeWidth: m.size / 2, opacity: m.opacity } : m)}/>`;
      }
      case 'text': {
        const rotate = m.rotate ? ` transform="rotate(${m.rotate} ${n(m.x)} ${n(m.y)})"` : '';
        return `<text x="${n(m.x)}" y="${n(m.y)}" font-size="${n(m.fontSize)}" fill="${m.fill}" text-anchor="${m.anchor}" dominant-baseline="${BASELINE[m.baseline]}"${m.weight === 'bold' ? ' font-weight="bold"' : ''}${rotate}>${esc(m.text)}</text>`;
      }
      case 'points': {
        const id = `c${clipId++}`;
        defs.push(
          `<clipPath id="${id}"><rect x="${n(m.clip.x)}" y="${n(m.clip.y)}" width="${n(m.clip.width)}" height="${n(m.clip.height)}"/></clipPath>`,
        );
        const dots: string[] = [];
        for (let i = 0; i < m.x.length; i++)
          dots.push(`<circle cx="${n(m.x[i])}" cy="${n(m.y[i])}" r="${n(m.radius)}" fill="${m.colours[m.colourIndex[i]]}"/>`);
        return `<g clip-path="url(#${id})" opacity="${n(m.opacity)}">${dots.join('')}</g>`;
      }
      case 'cells': {
        const w = m.width / m.columns;
        const h = m.height / m.rows;
        const cells: string[] = [];
        for (let r = 0; r < m.rows; r++)
          for (let c = 0; c < m.columns; c++)
            cells.push(
              `<rect x="${n(m.x + c * w)}" y="${n(m.y + r * h)}" width="${n(w + 0.05)}" height="${n(h + 0.05)}" fill="${m.colours[r * m.columns + c]}"/>`,
            );
        return `<g>${cells.join('')}</g>`;
      }
      case 'group': {
        let open = '<g>';
        if (m.clip) {
          const id = `c${clipId++}`;
          defs.push(
            `<clipPath id="${id}"><rect x="${n(m.clip.x)}" y="${n(m.clip.y)}" width="${n(m.clip.width)}" height="${n(m.clip.height)}"/></clipPath>`,
          );
          open = `<g clip-path="url(#${id})">`;
        }
        return open + m.marks.map(draw).join('') + '</g>';
      }
    }
  };
  const body = g.marks.map(draw).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(g.width)}pt" height="${n(g.height)}pt" viewBox="0 0 ${n(g.width)} ${n(g.height)}" font-family="${esc(g.theme.fontFamily)}">`,
    `<title>${esc(g.title)}</title>`,
    `<defs>${defs.join('')}</defs>`,
    `<rect width="100%" height="100%" fill="${g.theme.background}"/>`,
    body,
    '</svg>',
  ].join('\n');
}
