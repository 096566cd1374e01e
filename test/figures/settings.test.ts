/**
 * Figure settings (presets → theme and size in points), the JSON sidecar that regenerates a
 * figure, and the raster layers' pixels. Expected sizes are hand arithmetic: inches × 72.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellGridMark } from '../../src-main/common/charts/marks.ts';
import { FIGURE_FONT_FAMILY } from '../../src-main/common/palette.ts';
import { figureSidecarJson, readFigureSidecar, type FigureExportSettings } from '../../src-main/figures/csv.ts';
import { exportFigure } from '../../src-main/figures/export.ts';
import { figureSize, figureTheme, parseFigureSize, resolveFigureSettings } from '../../src-main/figures/presets.ts';
import { rasteriseCells } from '../../src-main/figures/raster.ts';
import { MotlabError } from '../../src-main/util/errors.ts';
import { lossCurves } from './fixtures.ts';
import { pixel } from './images.ts';

describe('presets', () => {
  test('venue widths in points, height 0.618 × width by default', () => {
    const expected: Record<string, [number, number]> = {
      'icml-column': [234, 144.612], // 3.25 in
      'icml-full': [486, 300.348], // 6.75 in
      neurips: [396, 244.728], // 5.5 in
      'ieee-column': [252, 155.736], // 3.5 in
      'ieee-full': [515.52, 318.591], // 7.16 in; 4.42488 in rounds to 4.4249
    };
    for (const [preset, [width, height]] of Object.entries(expected)) {
      const size = figureSize(resolveFigureSettings({ preset }));
      assert.ok(Math.abs(size.width - width) < 1e-9 && Math.abs(size.height - height) < 0.01, `${preset}: ${size.width} × ${size.height}`);
    }
  });

  test('custom WxH sizes in inches, and aspect for presets', () => {
    assert.deepEqual(parseFigureSize('4x2.5'), { widthInches: 4, heightInches: 2.5 });
    assert.deepEqual(parseFigureSize(' 3.3in × 2in '), { widthInches: 3.3, heightInches: 2 });
    assert.deepEqual(figureSize(resolveFigureSettings({ preset: '4x2.5' })), { width: 288, height: 180 });
    assert.deepEqual(figureSize(resolveFigureSettings({ preset: 'neurips', aspect: 0.5 })), { width: 396, height: 198 });
  });

  test('bad settings say what is allowed', () => {
    const rejects = (input: Parameters<typeof resolveFigureSettings>[0], pattern: RegExp) =>
      assert.throws(
        () => resolveFigureSettings(input),
        (e: MotlabError) => e instanceof MotlabError && e.code === 'invalid_request' && pattern.test(e.message),
      );
    rejects(
      { preset: 'nature' },
      /size "nature" is neither a preset \(icml-column, icml-full, neurips, ieee-column, ieee-full\) nor a custom size WxH/,
    );
    rejects({ preset: '0x2' }, /width 0 is not between 0.5 and 40 in/);
    rejects({ preset: '4x2', aspect: 0.5 }, /gives the height already/);
    rejects({ aspect: Number.NaN }, /aspect NaN is not between/);
    rejects({ fontSize: 1 }, /font size 1 is not between 3 and 48 pt/);
    rejects({ palette: 'jet' }, /palette "jet" is not one of okabe-ito, tableau-10, greyscale/);
    rejects({ legend: 'left' }, /legend position "left" is not one of right, top, bottom, none/);
  });

  test('the theme: light, shipped font, 8 pt labels and 7 pt ticks unless asked otherwise', () => {
    const theme = figureTheme(resolveFigureSettings({}));
    assert.equal(theme.name, 'light');
    assert.equal(theme.background, '#ffffff');
    assert.equal(theme.fontFamily, FIGURE_FONT_FAMILY);
    assert.equal(theme.fontSize, 8);
    assert.equal(theme.tickFontSize, 7);
    assert.equal(theme.palette, 'okabe-ito');
    const bigger = figureTheme(resolveFigureSettings({ fontSize: 10, palette: 'greyscale' }));
    assert.deepEqual([bigger.fontSize, bigger.tickFontSize, bigger.palette], [10, 9, 'greyscale']);
  });
});

describe('sidecar', () => {
  const settings = (): FigureExportSettings => ({
    ...resolveFigureSettings({ preset: 'ieee-full', palette: 'tableau-10', legend: 'top' }),
    format: 'pdf',
    dpi: 600,
    smoothing: 0.6,
  });

  test('round trip: the view state and export settings come back as written', () => {
    const view = {
      kind: 'losses',
      runs: ['runs/a', 'runs/b "quoted"'],
      modalities: ['text', 'image'],
      xAxis: 'step',
      logY: false,
      range: [0, 1200],
    };
    const json = figureSidecarJson(view, settings());
    const read = readFigureSidecar(json, 'fig.json');
    assert.deepEqual(read.view, view);
    assert.deepEqual(read.export, settings());
    assert.equal(JSON.parse(json).format, 'motlab-figure');
    const custom = { ...resolveFigureSettings({ preset: '4.2x3.1' }), format: 'svg' as const, dpi: 300, smoothing: null };
    assert.deepEqual(readFigureSidecar(figureSidecarJson({}, custom), 'x.json').export, custom);
  });

  test('state JSON cannot hold exactly is refused when writing', () => {
    assert.throws(() => figureSidecarJson({ range: [0, Number.NaN] }, settings()), /sidecar.view.range\[1\] is NaN/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(() => figureSidecarJson(cycle, settings()), /refers back to itself/);
    assert.throws(() => figureSidecarJson({ n: BigInt(1) }, settings()), /is a bigint/);
  });

  test('a corrupt or foreign file is an error naming it', () => {
    const bad = (text: string, pattern: RegExp) =>
      assert.throws(
        () => readFigureSidecar(text, '/tmp/view.json'),
        (e: MotlabError) => e.code === 'invalid_request' && pattern.test(e.message),
      );
    bad('{"format": "motlab-fig', /^\/tmp\/view.json: not a figure sidecar \(invalid JSON/);
    bad('[1, 2]', /not a figure sidecar \(no "format": "motlab-figure"\)/);
    const ok = JSON.parse(figureSidecarJson({}, settings()));
    bad(JSON.stringify({ ...ok, version: 2 }), /version 2 is not 1/);
    bad(JSON.stringify({ ...ok, export: { ...ok.export, format: 'gif' } }), /format "gif" is not one of pdf, svg, png, csv/);
    bad(JSON.stringify({ ...ok, export: { ...ok.export, palette: 'jet' } }), /palette "jet"/);
    bad(JSON.stringify({ ...ok, export: { ...ok.export, dpi: -3 } }), /dpi -3 is not between 1 and 2400/);
    bad(JSON.stringify({ ...ok, export: { ...ok.export, smoothing: 1.5 } }), /smoothing 1.5 is not a weight/);
  });
});

describe('raster layers', () => {
  test('cell grid pixels are exactly the cell colours, upscaled by whole factors', () => {
    const colours = ['#ff0000', '#00ff00', 'rgb(0, 0, 255)', 'rgba(255, 255, 255, 0.5)', '#000', '#12345680'];
    const mark: CellGridMark = { kind: 'cells', x: 10, y: 20, width: 72, height: 36, columns: 3, rows: 2, colours };
    const layer = rasteriseCells(mark, 300);
    // 1 in × 0.5 in at 300 dpi = 300 × 150 px: factors ceil(300/3) = 100 and ceil(150/2) = 75.
    assert.deepEqual([layer.pixelWidth, layer.pixelHeight, layer.x, layer.y, layer.width, layer.height], [300, 150, 10, 20, 72, 36]);
    const image = { width: layer.pixelWidth, height: layer.pixelHeight, rgba: layer.rgba };
    const expected = [
      [255, 0, 0, 255],
      [0, 255, 0, 255],
      [0, 0, 255, 255],
      [255, 255, 255, 128],
      [0, 0, 0, 255],
      [0x12, 0x34, 0x56, 0x80],
    ];
    for (let row = 0; row < 2; row++) {
      for (let col = 0; col < 3; col++) {
        for (const [dx, dy] of [
          [0, 0],
          [99, 74],
        ]) {
          assert.deepEqual(pixel(image, col * 100 + dx, row * 75 + dy), expected[row * 3 + col], `cell ${row},${col} at +${dx},${dy}`);
        }
      }
    }
  });

  test('exportFigure refuses a format it does not know', async () => {
    await assert.rejects(exportFigure(lossCurves(), { format: 'gif' as 'svg' }), /figure format "gif" is not one of pdf, svg, png, csv/);
  });
});
