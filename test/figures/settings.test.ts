/**
 * Figure options (presets → theme and size in points), the JSON sidecar that regenerates a
 * figure, and the raster layers' pixels. Expected sizes are hand arithmetic: inches × 72.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CellGridMark } from '../../src-main/common/charts/marks.ts';
import { FIGURE_FONT_FAMILY } from '../../src-main/common/palette.ts';
import { viewStateSchema } from '../../src-main/common/views.ts';
import { figureSidecarJson, readFigureSpec } from '../../src-main/figures/csv.ts';
import { exportFigure } from '../../src-main/figures/export.ts';
import { DEFAULT_FIGURE_DPI, figureLayout, parseFigureOptions, parseFigureSize, requireDpi } from '../../src-main/figures/presets.ts';
import { rasteriseCells } from '../../src-main/figures/raster.ts';
import { MotlabError } from '../../src-main/common/errors.ts';
import { lossCurves } from './fixtures.ts';
import { pixel } from './images.ts';

describe('figure options → layout', () => {
  const layout = (input: unknown) => figureLayout(parseFigureOptions(input));

  test('venue widths in points, height 0.618 × width by default', () => {
    const expected: Record<string, [number, number]> = {
      'icml-column': [234, 144.612], // 3.25 in × 72; 3.25 × 0.618 = 2.0085 in
      'icml-full': [486, 300.348], // 6.75 in
      neurips: [396, 244.728], // 5.5 in
      'ieee-column': [252, 155.736], // 3.5 in
      'ieee-full': [515.52, 318.5928], // 7.16 in; 4.42488 in kept to 4.4249
    };
    for (const [preset, [width, height]] of Object.entries(expected)) {
      const { size } = layout({ preset });
      assert.ok(Math.abs(size.width - width) < 1e-9 && Math.abs(size.height - height) < 1e-9, `${preset}: ${size.width} × ${size.height}`);
    }
  });

  test('custom WxH sizes in inches, and aspect for presets', () => {
    assert.deepEqual(parseFigureSize('4x2.5'), { widthInches: 4, heightInches: 2.5 });
    assert.deepEqual(layout({ preset: '4x2.5' }).size, { width: 288, height: 180 });
    assert.deepEqual(layout({ preset: '4x2.5', aspect: 2 }).size, { width: 288, height: 180 }); // WxH gives its height
    assert.deepEqual(layout({ preset: 'neurips', aspect: 0.5 }).size, { width: 396, height: 198 });
  });

  test('bad options say which field and what is wrong', () => {
    const rejects = (input: unknown, pattern: RegExp) =>
      assert.throws(
        () => parseFigureOptions(input, 'view.json'),
        (e: MotlabError) => e instanceof MotlabError && e.code === 'invalid_request' && pattern.test(e.message),
      );
    rejects({ preset: 'nature' }, /^view.json: preset: a size preset or WxH in inches/);
    rejects({ fontSize: 1 }, /fontSize:/);
    rejects({ palette: 'jet' }, /palette:/);
    rejects({ legend: 'left' }, /legend:/);
    rejects({ dpi: 5000 }, /dpi:/);
    rejects({ colour: 'red' }, /colour/);
    assert.throws(() => parseFigureSize('0x2'), /neither a preset .* nor a positive WxH/);
    assert.throws(() => requireDpi(0), /dpi 0/);
  });

  test('the theme: light, shipped font, 8 pt labels and 7 pt ticks by default', () => {
    const { theme, options } = layout({});
    assert.equal(theme.name, 'light');
    assert.equal(theme.background, '#ffffff');
    assert.equal(theme.fontFamily, FIGURE_FONT_FAMILY);
    assert.deepEqual([theme.fontSize, theme.tickFontSize, theme.palette], [8, 7, 'okabe-ito']);
    assert.deepEqual(options, { legend: 'top', showTitle: false });
    const bigger = layout({ fontSize: 10, palette: 'greyscale', legend: 'right', title: true });
    assert.deepEqual([bigger.theme.fontSize, bigger.theme.tickFontSize, bigger.theme.palette], [10, 9, 'greyscale']);
    assert.deepEqual(bigger.options, { legend: 'right', showTitle: true });
    assert.equal(DEFAULT_FIGURE_DPI, 300);
  });
});

describe('sidecar and spec', () => {
  const view = () => viewStateSchema.parse({ kind: 'losses', runs: ['runs/a', 'runs/b "quoted"'], smoothing: 0.8, logY: true });
  const figure = () => parseFigureOptions({ preset: 'ieee-full', palette: 'tableau-10', legend: 'right', format: 'png', dpi: 600 });

  test('round trip: the sidecar reads back as the spec that was written, with the size and smoothing shown', () => {
    const json = figureSidecarJson(view(), figure());
    const sidecar = JSON.parse(json);
    assert.equal(sidecar.format, 'motlab-figure');
    assert.deepEqual(sidecar.size, { widthInches: 7.16, heightInches: 4.4249 });
    assert.equal(sidecar.smoothing, 0.8);
    assert.deepEqual(readFigureSpec(json, 'fig.json'), { view: view(), figure: figure() });
    const pca = viewStateSchema.parse({ kind: 'pca', run: 'runs/a', layer: 2 });
    assert.equal(JSON.parse(figureSidecarJson(pca, figure())).smoothing, null);
  });

  test('a bare view state (as the app saves it) is a spec with default figure options', () => {
    const spec = readFigureSpec(JSON.stringify({ kind: 'towers', run: 'runs/mot' }), 'view.json');
    assert.equal(spec.view.kind, 'towers');
    assert.deepEqual(spec.figure, parseFigureOptions({}));
  });

  test('a corrupt, foreign or invalid file is an error naming it and the problem', () => {
    const bad = (text: string, pattern: RegExp) =>
      assert.throws(
        () => readFigureSpec(text, '/tmp/view.json'),
        (e: MotlabError) => e.code === 'invalid_request' && e.message.startsWith('/tmp/view.json: ') && pattern.test(e.message),
      );
    bad('{"format": "motlab-fig', /not a figure spec \(invalid JSON/);
    bad('[1, 2]', /not a figure spec/);
    bad('{"hello": 1}', /neither a view state nor "format": "motlab-figure"/);
    const ok = JSON.parse(figureSidecarJson(view(), figure()));
    bad(JSON.stringify({ ...ok, version: 2 }), /version 2 is not 1/);
    bad(JSON.stringify({ ...ok, figure: { ...ok.figure, palette: 'jet' } }), /palette:/);
    bad(JSON.stringify({ ...ok, figure: { ...ok.figure, dpi: -3 } }), /dpi:/);
    bad(JSON.stringify({ ...ok, view: { ...ok.view, smoothing: 1.5 } }), /the view state is not valid \(smoothing: smoothing ≤ 0.999\)/);
    bad(JSON.stringify({ ...ok, view: { kind: 'nope' } }), /the view state is not valid/);
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
