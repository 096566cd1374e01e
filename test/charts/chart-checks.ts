/** Checks every chart test applies: marks inside the chart, well-formed SVG, deterministic output. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { ChartGeometry, Mark, TextMark } from '../../src-main/common/charts/marks.ts';
import { toSvg } from './svg-for-tests.ts';

export function flatten(marks: readonly Mark[]): Mark[] {
  return marks.flatMap((m) => (m.kind === 'group' ? flatten(m.marks) : [m]));
}

export function byKind<K extends Mark['kind']>(g: ChartGeometry | readonly Mark[], kind: K): Extract<Mark, { kind: K }>[] {
  const marks = Array.isArray(g) ? (g as Mark[]) : (g as ChartGeometry).marks;
  return flatten(marks).filter((m): m is Extract<Mark, { kind: K }> => m.kind === kind);
}

export function texts(g: ChartGeometry, keyPrefix = ''): TextMark[] {
  return byKind(g, 'text').filter((t) => (t.key ?? '').startsWith(keyPrefix));
}

/**
 * A generous text box, estimated independently of the chart code's font table: 0.62 em per
 * lower-case letter or digit, 0.75 em per capital, 0.32 em per space or narrow punctuation.
 */
function textBox(t: TextMark): [number, number, number, number] {
  let em = 0;
  for (const c of t.text) em += /[A-Z]/.test(c) ? 0.75 : /[\s.,:;'|!il()[\]]/.test(c) ? 0.32 : 0.62;
  const w = em * t.fontSize;
  const h = t.fontSize;
  const x0 = t.anchor === 'start' ? 0 : t.anchor === 'middle' ? -w / 2 : -w;
  const y0 = t.baseline === 'top' ? 0 : t.baseline === 'middle' ? -h / 2 : t.baseline === 'bottom' ? -h : -0.8 * h;
  if (t.rotate === -90 || t.rotate === 90) return [t.x + y0, t.y - (x0 + w), t.x + y0 + h, t.y - x0];
  return [t.x + x0, t.y + y0, t.x + x0 + w, t.y + y0 + h];
}

/** Every mark's extent lies within the chart (text by the estimate above, with 1 unit of slack). */
export function assertInside(g: ChartGeometry): void {
  const slack = 1;
  const check = (what: string, x0: number, y0: number, x1: number, y1: number): void => {
    assert.ok(
      x0 >= -slack && y0 >= -slack && x1 <= g.width + slack && y1 <= g.height + slack,
      `${what} [${x0.toFixed(1)}, ${y0.toFixed(1)}, ${x1.toFixed(1)}, ${y1.toFixed(1)}] outside ${g.width}×${g.height}`,
    );
  };
  for (const m of flatten(g.marks)) {
    switch (m.kind) {
      case 'line':
        for (const p of m.points) if (p) check(`line ${m.key}`, p[0], p[1], p[0], p[1]);
        break;
      case 'rect':
      case 'cells':
        check(`${m.kind} ${m.key}`, m.x, m.y, m.x + m.width, m.y + m.height);
        break;
      case 'symbol':
        check(`symbol ${m.key}`, m.x - m.size, m.y - m.size, m.x + m.size, m.y + m.size);
        break;
      case 'points':
        for (let i = 0; i < m.x.length; i++) check('point', m.x[i], m.y[i], m.x[i], m.y[i]);
        break;
      case 'text':
        check(`text "${m.text}"`, ...textBox(m));
        break;
    }
  }
}

/** The charts' SVGs parse as XML (Python's expat, not our code) and reference nothing outside. */
export function assertWellFormedSvg(charts: readonly ChartGeometry[]): void {
  const svgs = charts.map(toSvg);
  const script = [
    'import sys, json, xml.etree.ElementTree as ET',
    'out = []',
    'for s in json.load(sys.stdin):',
    '    root = ET.fromstring(s)',
    "    refs = [el.tag for el in root.iter() if any(k.endswith('href') for k in el.attrib)]",
    '    out.append([root.tag, len(list(root.iter())), refs])',
    'print(json.dumps(out))',
  ].join('\n');
  const parsed = JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(svgs), maxBuffer: 1 << 28 }).toString(),
  ) as [string, number, string[]][];
  parsed.forEach(([tag, elements, refs], i) => {
    assert.equal(tag, '{http://www.w3.org/2000/svg}svg', `chart ${i}`);
    assert.ok(elements > 5, `chart ${i} has ${elements} elements`);
    assert.deepEqual(refs, [], `chart ${i} references ${refs.join(', ')}`);
  });
}

/** The same input gives the same geometry, byte for byte. */
export function assertDeterministic(make: () => ChartGeometry): void {
  const serialise = (g: ChartGeometry): string => JSON.stringify(g, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
  assert.equal(serialise(make()), serialise(make()));
}
