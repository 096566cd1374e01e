/**
 * Figure export checked with the tools papers are made with: poppler (pdffonts, pdfinfo,
 * pdftoppm, pdftotext) on the PDF, xmllint and Python's expat on the SVG, resvg's own rendering of an
 * independent all-vector SVG against our raster layers, Python's csv module on the CSV.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Resvg } from '@resvg/resvg-js';
import {
  RASTER_POINT_THRESHOLD,
  type ChartGeometry,
  type GroupMark,
  type LineMark,
  type Mark,
  type PointCloudMark,
} from '../../src-main/common/charts/marks.ts';
import { linePath } from '../../src-main/common/charts/paths.ts';
import { exportFigure } from '../../src-main/figures/export.ts';
import { figureFontFiles } from '../../src-main/figures/fonts.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { smallRunFigureSet } from './chart-figures.ts';
import { COLUMN_SIZE, EXPORT_THEME, FULL_SIZE, HOSTILE_TITLE, heatmap, lossCurves, panelGrid, pointCloud } from './fixtures.ts';
import { blockDifference, decodePng, inkFraction, overWhite, pngInfo, renderPdf, type Image } from './images.ts';

const PYTHON = '/usr/bin/python3';
const FIXED_DATE = new Date('2024-01-02T03:04:05Z');

let work: string;
before(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'motlab-figures-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function save(name: string, data: Buffer | string): string {
  const file = path.join(work, name);
  writeFileSync(file, data);
  return file;
}

const figures: Record<string, () => ChartGeometry> = {
  'loss curves (dashes, gaps, NaN, symbols, rotated and bold text, <&"> title)': () => lossCurves(),
  'point cloud of 30,000 (raster layer)': () => pointCloud(30_000),
  'point cloud of 3,000 (vector)': () => pointCloud(3_000),
  'heatmap 40×60 (raster cells) + 10-cell colour bar (vector)': () => heatmap(40, 60),
  'panel grid (clipped groups, areas, every symbol)': () => panelGrid(),
};

/**
 * Block-averaged comparison (6 × 6 px blocks, ~1 mm at 150 dpi) of poppler's and resvg's
 * renderings of the same figure. Measured on these fixtures: mean ≤ 1.7 and max ≤ 37 grey levels
 * (a long bold title lands ≤ 1 px apart, poppler widens sub-pixel lines to 1 px). Moving every
 * text by 1.5 pt gives max ≥ 60 on every fixture, dropping a legend label 91 (see the control
 * test below), hence these limits.
 */
const BLOCK = 6;
const MAX_MEAN_BLOCK_DIFFERENCE = 2.5;
const MAX_BLOCK_DIFFERENCE = 50;

async function pdfAndPngAt150(geometry: ChartGeometry): Promise<{ pdf: Image; png: Image }> {
  const pdf = renderPdf(await exportFigure(geometry, { format: 'pdf' }), 150);
  const png = overWhite(decodePng(await exportFigure(geometry, { format: 'png', dpi: 150 })));
  return { pdf, png };
}

describe('PDF', () => {
  for (const [name, make] of Object.entries(figures)) {
    test(`${name}: only embedded TrueType fonts, page = figure size, renders like the PNG`, async () => {
      const geometry = make();
      const file = save('figure.pdf', await exportFigure(geometry, { format: 'pdf', creationDate: FIXED_DATE }));

      const fonts = execFileSync('pdffonts', [file], { encoding: 'utf8' }).trim().split('\n').slice(2);
      assert.ok(fonts.length >= 1, 'the figure has text, so the PDF has a font');
      for (const row of fonts) {
        assert.match(row, /\bDejaVuSans(-Bold)?\s+CID TrueType\s+Identity-H\s+yes\s+yes\s+yes\b/, `pdffonts row: ${row}`);
        assert.doesNotMatch(row, /Type 3/);
      }

      const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
      const size = /Page size:\s+([\d.]+) x ([\d.]+) pts/.exec(info);
      assert.ok(size, info);
      assert.ok(
        Math.abs(Number(size[1]) - geometry.width) < 0.01 && Math.abs(Number(size[2]) - geometry.height) < 0.01,
        `page ${size[0]} vs ${geometry.width} × ${geometry.height}`,
      );
      assert.match(info, /Pages:\s+1\n/);

      const { pdf, png } = await pdfAndPngAt150(geometry);
      const d = blockDifference(pdf, png, BLOCK);
      assert.ok(
        d.mean < MAX_MEAN_BLOCK_DIFFERENCE && d.max < MAX_BLOCK_DIFFERENCE,
        `poppler vs resvg: mean ${d.mean.toFixed(2)}, max ${d.max.toFixed(1)} at ${d.maxAt}`,
      );
    });
  }

  test('control: the comparison catches text moved by 1.5 pt and a missing legend label', async () => {
    const geometry = lossCurves();
    const { png } = await pdfAndPngAt150(geometry);
    const shift = (m: Mark): Mark =>
      m.kind === 'text' ? { ...m, y: m.y + 1.5 } : m.kind === 'group' ? { ...m, marks: m.marks.map(shift) } : m;
    const moved = renderPdf(await exportFigure({ ...geometry, marks: geometry.marks.map(shift) }, { format: 'pdf' }), 150);
    assert.ok(blockDifference(moved, png, BLOCK).max >= MAX_BLOCK_DIFFERENCE);
    const dropped = renderPdf(await exportFigure({ ...geometry, marks: geometry.marks.slice(0, -1) }, { format: 'pdf' }), 150);
    assert.ok(blockDifference(dropped, png, BLOCK).max >= MAX_BLOCK_DIFFERENCE);
  });

  test('text is real text: pdftotext reads the <&"> title back', async () => {
    const file = save('title.pdf', await exportFigure(lossCurves(), { format: 'pdf' }));
    const text = execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
    // The fixture's title runs off the column's edge; what is on the page reads back exactly.
    assert.ok(text.replace(/\s+/g, ' ').includes(`Run <a href="http://x">&amp; "quotes" 'ap`), text);
    assert.match(text, /loss \(nats\)/);
  });

  test('deterministic apart from the creation date', async () => {
    const geometry = panelGrid();
    const a = await exportFigure(geometry, { format: 'pdf', creationDate: FIXED_DATE });
    const b = await exportFigure(geometry, { format: 'pdf', creationDate: FIXED_DATE });
    assert.ok(a.equals(b));
    const c = await exportFigure(geometry, { format: 'pdf', creationDate: new Date('2025-06-07T00:00:00Z') });
    assert.ok(!a.equals(c));
    const info = execFileSync('pdfinfo', [save('dated.pdf', a)], { encoding: 'utf8' });
    assert.match(info, /CreationDate:\s+Tue Jan\s+2 03:04:05 2024 UTC/);
  });
});

/** Runs Python's expat (a strict XML parser) over an SVG file; returns what it found. */
function inspectSvg(file: string): { title: string; texts: string[]; refs: string[]; problems: string[]; counts: Record<string, number> } {
  const script = `
import json, sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
root = doc.documentElement
assert root.tagName == 'svg' and root.namespaceURI == 'http://www.w3.org/2000/svg', root.tagName
problems, refs, counts = [], [], {}
def walk(node):
    for child in node.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        counts[child.tagName] = counts.get(child.tagName, 0) + 1
        if child.tagName in ('style', 'script', 'foreignObject', 'a', 'link'):
            problems.append('element ' + child.tagName)
        for i in range(child.attributes.length):
            a = child.attributes.item(i)
            if a.localName == 'href':
                refs.append(a.value[:30])
            if 'url(' in a.value and 'url(#' not in a.value:
                problems.append(a.name + '=' + a.value[:40])
            if a.name == 'style' or a.value.startswith(('http:', 'https:', 'file:')):
                problems.append(a.name + '=' + a.value[:40])
        walk(child)
walk(root)
title = root.getElementsByTagName('title')
print(json.dumps({
  'title': title[0].firstChild.data if title else '',
  'texts': [''.join(t.data for t in e.childNodes) for e in root.getElementsByTagName('text')],
  'refs': refs, 'problems': problems, 'counts': counts,
}))
`;
  return JSON.parse(execFileSync(PYTHON, ['-c', script, file], { encoding: 'utf8' }));
}

describe('SVG', () => {
  for (const [name, make] of Object.entries(figures)) {
    test(`${name}: well-formed XML, self-contained, size in inches`, async () => {
      const geometry = make();
      const svg = await exportFigure(geometry, { format: 'svg' });
      const file = save('figure.svg', svg);
      // libxml2's strict parser, without network access; it prints nothing for a well-formed file.
      assert.equal(execFileSync('xmllint', ['--noout', '--nonet', file], { encoding: 'utf8' }), '');
      const found = inspectSvg(file);
      assert.deepEqual(found.problems, []);
      for (const ref of found.refs) assert.ok(ref.startsWith('#') || ref.startsWith('data:image/png;base64,'), `reference ${ref}`);
      assert.equal(found.title, geometry.title);
      const root = /<svg [^>]*>/.exec(svg)![0];
      assert.match(root, new RegExp(`width="${Math.round((geometry.width / 72) * 1e4) / 1e4}in"`));
      assert.match(root, new RegExp(`viewBox="0 0 ${geometry.width} ${Math.round(geometry.height * 100) / 100}"`));
      assert.match(root, /font-family="DejaVu Sans, sans-serif"/);
    });
  }

  test('text stays text, escaped: the <&"> title and labels read back exactly', async () => {
    const found = inspectSvg(save('loss.svg', await exportFigure(lossCurves(), { format: 'svg' })));
    assert.equal(found.title, HOSTILE_TITLE);
    assert.ok(found.texts.includes(HOSTILE_TITLE));
    assert.ok(found.texts.includes('loss (nats)'));
  });

  test('text XML cannot hold (control characters, lone surrogates) is replaced, not written', async () => {
    const geometry = lossCurves();
    const hostile = 'bad\u0000name\u001b[31m\ud800end';
    geometry.title = hostile;
    geometry.marks.push({ kind: 'text', x: 10, y: 10, text: hostile, fontSize: 8, fill: '#000', anchor: 'start', baseline: 'top' });
    const found = inspectSvg(save('hostile.svg', await exportFigure(geometry, { format: 'svg' })));
    assert.equal(found.title, 'bad\ufffdname\ufffd[31m\ufffdend');
    assert.ok(found.texts.includes('bad\ufffdname\ufffd[31m\ufffdend'));
  });

  test('lines keep their dash patterns and break at gaps', async () => {
    const svg = await exportFigure(lossCurves(), { format: 'svg' });
    // LINE_DASHES[1] is [4, 2] line widths; the theme's line width is 1 pt.
    assert.ok((svg.match(/stroke-dasharray="4 2"/g) ?? []).length >= 3);
    // Run 1 has a gap (steps 50–59) and a NaN at step 80: three sub-paths for its text series.
    const run1text = (svg.match(/<path [^>]*>/g) ?? []).filter(
      (p) => p.includes('stroke="#56b4e9"') && !p.includes('dasharray') && p.length > 200,
    );
    assert.equal(run1text.length, 1);
    assert.equal((run1text[0].match(/M/g) ?? []).length, 3);
  });

  test('line paths are the shared linePath (common/charts/paths.ts), as on screen', async () => {
    const geometry = lossCurves();
    const svg = await exportFigure(geometry, { format: 'svg' });
    const lines: LineMark[] = [];
    const collect = (marks: readonly Mark[]) =>
      marks.forEach((m) => (m.kind === 'line' ? lines.push(m) : m.kind === 'group' ? collect(m.marks) : undefined));
    collect(geometry.marks);
    // Line paths are M…L… only; symbols (symbolPath) also use a and Z.
    const written = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]).filter((d) => /^[ML\d. -]+$/.test(d));
    assert.deepEqual(
      written,
      lines.map((m) => linePath(m.points)),
    );
  });

  test(`point clouds: vector up to ${RASTER_POINT_THRESHOLD} points, one embedded PNG beyond`, async () => {
    const at = await exportFigure(pointCloud(RASTER_POINT_THRESHOLD), { format: 'svg' });
    assert.equal((at.match(/<use /g) ?? []).length, RASTER_POINT_THRESHOLD);
    assert.equal((at.match(/<image /g) ?? []).length, 0);
    const beyond = await exportFigure(pointCloud(RASTER_POINT_THRESHOLD + 1), { format: 'svg' });
    assert.equal((beyond.match(/<use /g) ?? []).length, 0);
    assert.equal((beyond.match(/<image /g) ?? []).length, 1);
    // The layer covers the clip (188 × 104.612 pt) at 300 dpi: 783 × 436 px.
    const png = Buffer.from(/href="data:image\/png;base64,([^"]+)"/.exec(beyond)![1], 'base64');
    assert.deepEqual(pngInfo(png), { width: 783, height: 436, pixelsPerMetre: undefined });
    // Axes and text stay vector.
    assert.ok((beyond.match(/<text /g) ?? []).length >= 12);
    assert.ok(beyond.length < at.length / 3, `raster ${beyond.length} B vs vector ${at.length} B`);
  });

  test("the raster decision counts the points of all the figure's clouds together (a grid of moderate clouds)", async () => {
    // Two panels side by side (a PCA grid's row), nested in groups as pcaGrid draws them.
    const twoPanels = (perPanel: number): ChartGeometry => {
      const left = pointCloud(perPanel, COLUMN_SIZE, EXPORT_THEME, 1);
      const right = pointCloud(perPanel, COLUMN_SIZE, EXPORT_THEME, 2);
      const shifted = right.marks.map((m) => (m.kind === 'points' ? { ...m, key: 'right' } : m));
      return {
        ...left,
        marks: [
          { kind: 'group', marks: left.marks },
          { kind: 'group', marks: shifted },
        ],
      };
    };
    const half = RASTER_POINT_THRESHOLD / 2;
    for (const format of ['svg', 'pdf'] as const) {
      const vector = await exportFigure(twoPanels(half), { format });
      const raster = await exportFigure(twoPanels(half + 1), { format });
      if (typeof vector === 'string' && typeof raster === 'string') {
        assert.equal((vector.match(/<use /g) ?? []).length, RASTER_POINT_THRESHOLD);
        assert.equal((vector.match(/<image /g) ?? []).length, 0);
        assert.equal((raster.match(/<use /g) ?? []).length, 0);
        assert.equal((raster.match(/<image /g) ?? []).length, 2, 'one raster layer per cloud');
      } else {
        // pdfimages lists the embedded images: two RGB layers, each with its soft mask.
        const count = (pdf: Buffer | string) => {
          const file = path.join(work, `clouds-${format}-${pdf.length}.pdf`);
          writeFileSync(file, pdf);
          return execFileSync('pdfimages', ['-list', file], { encoding: 'utf8' }).trim().split('\n').slice(2).length;
        };
        assert.equal(count(vector), 0);
        assert.equal(count(raster), 4);
      }
    }
  });

  test('the raster cloud looks like the same dots drawn as vector circles by resvg', async () => {
    const geometry = pointCloud(30_000);
    const cloud = geometry.marks.find((m): m is PointCloudMark => m.kind === 'points')!;
    // Reference: the test's own SVG, one <circle> per dot, rendered by resvg.
    let circles = `<g clip-path="url(#c)">`;
    for (let i = 0; i < cloud.x.length; i++) {
      circles += `<circle cx="${cloud.x[i]}" cy="${cloud.y[i]}" r="${cloud.radius}" fill="${cloud.colours[cloud.colourIndex[i]]}" fill-opacity="${cloud.opacity}"/>`;
    }
    const c = cloud.clip;
    const reference = `<svg xmlns="http://www.w3.org/2000/svg" width="${geometry.width}" height="${geometry.height}" viewBox="0 0 ${geometry.width} ${geometry.height}"><defs><clipPath id="c"><rect x="${c.x}" y="${c.y}" width="${c.width}" height="${c.height}"/></clipPath></defs><rect width="100%" height="100%" fill="#fff"/>${circles}</g></svg>`;
    const only: ChartGeometry = { ...geometry, marks: [cloud] };
    const render = (svg: string) =>
      overWhite(
        decodePng(
          new Resvg(svg, { fitTo: { mode: 'width', value: Math.round((geometry.width / 72) * 150) }, font: { loadSystemFonts: false } })
            .render()
            .asPng(),
        ),
      );
    const ours = render(await exportFigure(only, { format: 'svg', dpi: 300 }));
    const theirs = render(reference);
    const d = blockDifference(ours, theirs, BLOCK);
    assert.ok(d.mean < 2 && d.max < 25, `raster vs vector dots: mean ${d.mean.toFixed(2)}, max ${d.max.toFixed(1)}`);
    // Control: a cloud drawn without its opacity differs visibly.
    const opaque = render(await exportFigure({ ...only, marks: [{ ...cloud, opacity: 1 }] }, { format: 'svg', dpi: 300 }));
    assert.ok(blockDifference(opaque, theirs, BLOCK).mean > 2);
  });

  test('cell grids: rects when few, one pixelated image when many, drawn the same', async () => {
    const small = await exportFigure(heatmap(8, 12), { format: 'svg' });
    assert.equal((small.match(/<image /g) ?? []).length, 0);
    assert.equal((small.match(/<rect /g) ?? []).length, 1 + 96 + 10 + 1); // background, cells, colour bar cells, its outline
    const many = await exportFigure(heatmap(40, 60), { format: 'svg' });
    assert.equal((many.match(/<image [^>]*image-rendering="optimizeSpeed"/g) ?? []).length, 1);
    // The raster grid against the same grid written by the test as 2,400 rects, both through resvg.
    const geometry = heatmap(40, 60);
    const cells = geometry.marks.find((m) => m.kind === 'cells')!;
    assert.equal(cells.kind, 'cells');
    if (cells.kind !== 'cells') return;
    let rects = '';
    const cw = cells.width / cells.columns;
    const ch = cells.height / cells.rows;
    for (let r = 0; r < cells.rows; r++) {
      for (let col = 0; col < cells.columns; col++) {
        rects += `<rect x="${cells.x + col * cw}" y="${cells.y + r * ch}" width="${cw}" height="${ch}" fill="${cells.colours[r * cells.columns + col]}" shape-rendering="crispEdges"/>`;
      }
    }
    const reference = `<svg xmlns="http://www.w3.org/2000/svg" width="${geometry.width}" height="${geometry.height}" viewBox="0 0 ${geometry.width} ${geometry.height}"><rect width="100%" height="100%" fill="#fff"/>${rects}</svg>`;
    const render = (svg: string) =>
      overWhite(decodePng(new Resvg(svg, { fitTo: { mode: 'width', value: 488 }, font: { loadSystemFonts: false } }).render().asPng()));
    const d = blockDifference(render(await exportFigure({ ...geometry, marks: [cells] }, { format: 'svg' })), render(reference), BLOCK);
    assert.ok(d.mean < 1 && d.max < 20, `raster vs vector cells: mean ${d.mean.toFixed(2)}, max ${d.max.toFixed(1)}`);
  });
});

describe('figures drawn by the chart functions (common/charts)', () => {
  const set = smallRunFigureSet({ title: true });
  const pick = ['losses', 'step-match', 'pca-grid', 'pca-all-tokens', 'routing-long', 'towers'];
  for (const { name, geometry } of set.filter((f) => pick.includes(f.name))) {
    test(`${name}: PDF fonts and size, PDF ≈ PNG, SVG well-formed, CSV = plotted table`, async () => {
      const file = save(`${name}.pdf`, await exportFigure(geometry, { format: 'pdf' }));
      for (const row of execFileSync('pdffonts', [file], { encoding: 'utf8' }).trim().split('\n').slice(2)) {
        assert.match(row, /\bDejaVuSans(-Bold)?\s+CID TrueType\s+Identity-H\s+yes\s+yes\s+yes\b/, row);
      }
      const size = /Page size:\s+([\d.]+) x ([\d.]+) pts/.exec(execFileSync('pdfinfo', [file], { encoding: 'utf8' }))!;
      assert.ok(Math.abs(Number(size[1]) - geometry.width) < 0.01 && Math.abs(Number(size[2]) - geometry.height) < 0.01);
      const { pdf, png } = await pdfAndPngAt150(geometry);
      const d = blockDifference(pdf, png, BLOCK);
      assert.ok(
        d.mean < MAX_MEAN_BLOCK_DIFFERENCE && d.max < MAX_BLOCK_DIFFERENCE,
        `poppler vs resvg: mean ${d.mean.toFixed(2)}, max ${d.max.toFixed(1)} at ${d.maxAt}`,
      );
      assert.equal(
        execFileSync('xmllint', ['--noout', '--nonet', save(`${name}.svg`, await exportFigure(geometry, { format: 'svg' }))], {
          encoding: 'utf8',
        }),
        '',
      );
      const header = (await exportFigure(geometry, { format: 'csv' })).split('\r\n')[0];
      assert.equal(header, geometry.table.columns.map((c) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(','));
    });
  }

  test('the losses CSV has raw and smoothed columns for every run and modality', async () => {
    const losses = set.find((f) => f.name === 'losses')!.geometry;
    const header = (await exportFigure(losses, { format: 'csv' })).split('\r\n')[0].split(',');
    for (const run of ['dense', 'mot', 'mot-ffn', 'moe-4x']) {
      for (const modality of ['text', 'image', 'speech']) {
        assert.ok(
          header.some((c) => c.includes(run) && c.includes(modality) && /raw/.test(c)),
          `${run} ${modality} raw in ${header.join(' | ')}`,
        );
        assert.ok(
          header.some((c) => c.includes(run) && c.includes(modality) && /EMA|smooth/.test(c)),
          `${run} ${modality} smoothed`,
        );
      }
    }
  });
});

describe('cell grids without seams', () => {
  /** Lightest pixel strictly inside a box (in points) of an image rendered at 150 dpi. */
  function lightestInside(image: Image, box: { x: number; y: number; width: number; height: number }): number {
    let max = 0;
    const s = 150 / 72;
    for (let y = Math.ceil(box.y * s) + 2; y < Math.floor((box.y + box.height) * s) - 2; y++) {
      for (let x = Math.ceil(box.x * s) + 2; x < Math.floor((box.x + box.width) * s) - 2; x++) {
        const i = (y * image.width + x) * 4;
        max = Math.max(max, image.rgba[i], image.rgba[i + 1], image.rgba[i + 2]);
      }
    }
    return max;
  }

  test('one-colour grids render as one flat colour in PDF and PNG (control: abutting rects do show seams)', async () => {
    const box = { x: 20.3, y: 15.7, width: 181.1, height: 97.9 }; // fractional on purpose
    const colour = '#336699'; // brightest channel 0x99 = 153
    const grid: ChartGeometry = {
      width: COLUMN_SIZE.width,
      height: COLUMN_SIZE.height,
      theme: EXPORT_THEME,
      frames: [],
      table: { columns: ['x'], rows: [] },
      title: 'grid',
      marks: [{ kind: 'cells', ...box, columns: 23, rows: 17, colours: Array(23 * 17).fill(colour) }],
    };
    const { pdf, png } = await pdfAndPngAt150(grid);
    assert.ok(lightestInside(pdf, box) <= 155, `PDF: lightest ${lightestInside(pdf, box)}`);
    assert.ok(lightestInside(png, box) <= 155, `PNG: lightest ${lightestInside(png, box)}`);
    const rects: Mark[] = [];
    for (let r = 0; r < 17; r++) {
      for (let c = 0; c < 23; c++) {
        rects.push({
          kind: 'rect',
          x: box.x + (c * box.width) / 23,
          y: box.y + (r * box.height) / 17,
          width: box.width / 23,
          height: box.height / 17,
          fill: colour,
        });
      }
    }
    const seams = await pdfAndPngAt150({ ...grid, marks: rects });
    assert.ok(lightestInside(seams.png, box) > 160, 'abutting rects leave light seams (why cellRects overlaps)');
  });
});

describe('clipping', () => {
  /** The panel grid with its groups' clips removed: the control that shows the clip matters. */
  function unclipped(geometry: ChartGeometry): ChartGeometry {
    return { ...geometry, marks: geometry.marks.map((m) => (m.kind === 'group' ? ({ ...m, clip: undefined } as GroupMark) : m)) };
  }

  test('a line leaving its plot area is cut at the clip in PDF and PNG', async () => {
    const geometry = panelGrid();
    const frame = geometry.frames[2];
    // The dashed line starts 20 pt left of the plot and 30% of its height below it; 10 pt left of
    // the plot it is ~0.27 h below the bottom, where nothing else is drawn.
    const t = 10 / (frame.width + 40);
    const probe = { x: frame.x - 10, y: frame.y + frame.height * (1.3 - 1.6 * t) };
    const box = (dpi: number) => ({ x: (probe.x / 72) * dpi - 4, y: (probe.y / 72) * dpi - 4, width: 8, height: 8 });
    const clipped = await pdfAndPngAt150(geometry);
    const open = await pdfAndPngAt150(unclipped(geometry));
    for (const [name, image] of Object.entries({ 'clipped PDF': clipped.pdf, 'clipped PNG': clipped.png })) {
      assert.equal(inkFraction(image, box(150)), 0, `${name}: ink outside the plot area`);
    }
    for (const [name, image] of Object.entries({ 'unclipped PDF': open.pdf, 'unclipped PNG': open.png })) {
      assert.ok(inkFraction(image, box(150)) > 0.05, `${name}: the control line should show`);
    }
  });
});

describe('PNG', () => {
  test('pixel size = inches × dpi (300 default, 600), with the dpi recorded', async () => {
    const geometry = lossCurves(); // icml-column: 3.25 in × 2.0085 in
    const at300 = pngInfo(await exportFigure(geometry, { format: 'png' }));
    assert.deepEqual(at300, { width: 975, height: 603, pixelsPerMetre: 11811 }); // 2.0085 × 300 = 602.55
    const at600 = pngInfo(await exportFigure(geometry, { format: 'png', dpi: 600 }));
    assert.deepEqual(at600, { width: 1950, height: 1205, pixelsPerMetre: 23622 }); // 1205.1
    const full = pngInfo(await exportFigure(panelGrid(), { format: 'png', dpi: 300 })); // icml-full 6.75 in × 4.1715 in
    assert.deepEqual(full, { width: 2025, height: 1251, pixelsPerMetre: 11811 }); // 1251.45
  });

  test('drawn with the shipped font only: text shows although no system font is loaded', async () => {
    assert.ok(figureFontFiles().regular.endsWith(path.join('assets', 'fonts', 'DejaVuSans.ttf')));
    const png = decodePng(await exportFigure(lossCurves(), { format: 'png', dpi: 150 }));
    // The x-axis label "step" sits centred under the plot (36 pt + 136 pt / 2, 14 pt under it).
    const frame = lossCurves().frames[0];
    const label = {
      x: ((frame.x + frame.width / 2 - 10) / 72) * 150,
      y: ((frame.y + frame.height + 14) / 72) * 150,
      width: (20 / 72) * 150,
      height: (8 / 72) * 150,
    };
    assert.ok(inkFraction(overWhite(png), label) > 0.05);
  });
});

describe('CSV', () => {
  test('columns and rows equal the plotted table (read back by Python’s csv module)', async () => {
    const geometry = lossCurves();
    const csv = await exportFigure(geometry, { format: 'csv' });
    assert.ok(csv.startsWith('step,'));
    const script = `
import csv, json, sys
with open(sys.argv[1], newline='') as f:
    rows = list(csv.reader(f))
print(json.dumps(rows))`;
    const rows: string[][] = JSON.parse(execFileSync(PYTHON, ['-c', script, save('data.csv', csv)], { encoding: 'utf8' }));
    assert.deepEqual(rows[0], geometry.table.columns);
    assert.equal(rows.length, geometry.table.rows.length + 1);
    geometry.table.rows.forEach((row, i) => {
      row.forEach((value, j) => {
        const cell = rows[i + 1][j];
        if (value === null) assert.equal(cell, '');
        else assert.equal(Number(cell), value);
      });
    });
  });

  test('strings with commas, quotes and newlines are quoted (RFC 4180)', async () => {
    const geometry = lossCurves();
    geometry.table = {
      columns: ['run', 'value'],
      rows: [
        ['a,b', 1],
        ['say "hi"', 2.5],
        ['two\nlines', null],
        [' padded ', Number.NaN],
      ],
    };
    assert.equal(
      await exportFigure(geometry, { format: 'csv' }),
      'run,value\r\n"a,b",1\r\n"say ""hi""",2.5\r\n"two\nlines",\r\n" padded ",NaN\r\n',
    );
  });

  test('a row that does not match the columns is an error, not a shifted file', async () => {
    const geometry = lossCurves();
    geometry.table = { columns: ['a', 'b'], rows: [[1, 2], [3]] };
    await assert.rejects(
      exportFigure(geometry, { format: 'csv' }),
      (e: MotlabError) => e.code === 'invalid_request' && /row 2 .* 1 values for 2 columns/.test(e.message),
    );
  });
});

describe('bad marks', () => {
  const base = () => ({
    width: COLUMN_SIZE.width,
    height: COLUMN_SIZE.height,
    theme: EXPORT_THEME,
    frames: [],
    table: { columns: ['x'], rows: [] },
    title: 't',
  });

  test('a non-finite coordinate names the mark, in every format', async () => {
    const geometry: ChartGeometry = {
      ...base(),
      marks: [{ kind: 'rect', x: Number.NaN, y: 0, width: 1, height: 1, fill: '#000', key: 'bar-3' }],
    };
    for (const format of ['svg', 'pdf', 'png'] as const) {
      await assert.rejects(
        exportFigure(geometry, { format }),
        (e: MotlabError) => e.code === 'invalid_request' && /rect mark "bar-3" has a non-finite x/.test(e.message),
      );
    }
  });

  test('a colour the exporter cannot read, a grid with the wrong number of colours, a bad size', async () => {
    await assert.rejects(
      exportFigure(
        { ...base(), marks: [{ kind: 'rect', x: 0, y: 0, width: 1, height: 1, fill: 'url(http://evil/x)' }] },
        { format: 'svg' },
      ),
      /figure colour "url\(http:\/\/evil\/x\)" is not a colour/,
    );
    await assert.rejects(
      exportFigure(
        { ...base(), marks: [{ kind: 'cells', x: 0, y: 0, width: 10, height: 10, columns: 2, rows: 2, colours: ['#000'] }] },
        { format: 'pdf' },
      ),
      /has 1 colours for 2 × 2 cells/,
    );
    await assert.rejects(exportFigure({ ...base(), width: 0, marks: [] }, { format: 'pdf' }), /figure size 0 × .* is not a positive size/);
    await assert.rejects(exportFigure({ ...base(), marks: [] }, { format: 'png', dpi: 0 }), /dpi 0/);
  });

  test('the full-width preset exports too (size from the preset)', async () => {
    const pdf = await exportFigure(panelGrid(), { format: 'pdf' });
    const info = execFileSync('pdfinfo', [save('full.pdf', pdf)], { encoding: 'utf8' });
    assert.match(info, new RegExp(`Page size:\\s+${FULL_SIZE.width} x 300.348 pts`));
  });
});
