/**
 * The renderer's theme stylesheet (src-renderer/lib/theme.ts), generated from the palette at
 * build time: every UI colour of the palette appears as its CSS variable in the light block and
 * in both dark blocks (OS preference, explicit choice), and modalities get colour classes by
 * position for any names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UI_COLOURS } from '../../src-main/common/palette.ts';
import { MODALITY_COLOUR_COUNT, modalityClass, themeStylesheet } from '../../src-renderer/lib/theme.ts';

/** selector → { property → value } of the top-level and @media-nested rules. */
function rules(css: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const body = css.replace(/\/\*[\s\S]*?\*\//g, '');
  for (const m of body.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
    const selector = m[1].replace(/@media[^{]*\{/, '').trim();
    const declarations = Object.fromEntries(
      m[2]
        .split(';')
        .map((d) => d.trim())
        .filter(Boolean)
        .map((d) => [d.slice(0, d.indexOf(':')).trim(), d.slice(d.indexOf(':') + 1).trim()]),
    );
    out.set(selector, declarations);
  }
  return out;
}

// The variable each palette entry becomes (written out here, not taken from the code under test).
const VARIABLE_OF: Record<keyof (typeof UI_COLOURS)['light'], string> = {
  bg: '--bg',
  panel: '--panel',
  panel2: '--panel-2',
  border: '--border',
  text: '--text',
  muted: '--muted',
  accent: '--accent',
  accentText: '--accent-text',
  danger: '--danger',
  ok: '--ok',
  warn: '--warn',
};

test('the stylesheet carries the palette: light by default, dark by OS preference or by choice', () => {
  const css = themeStylesheet();
  const r = rules(css);
  assert.match(css, /@media \(prefers-color-scheme: dark\) \{\s*:root:not\(\[data-theme='light'\]\) \{/);
  const blocks = {
    light: r.get(':root')!,
    darkByOs: r.get(":root:not([data-theme='light'])")!,
    darkByChoice: r.get(":root[data-theme='dark']")!,
  };
  for (const [key, variable] of Object.entries(VARIABLE_OF) as [keyof typeof VARIABLE_OF, string][]) {
    assert.equal(blocks.light[variable], UI_COLOURS.light[key], `light ${variable}`);
    assert.equal(blocks.darkByOs[variable], UI_COLOURS.dark[key], `dark (OS) ${variable}`);
    assert.equal(blocks.darkByChoice[variable], UI_COLOURS.dark[key], `dark (chosen) ${variable}`);
  }
  assert.equal(blocks.light['color-scheme'], 'light');
  assert.equal(blocks.darkByChoice['color-scheme'], 'dark');
  assert.deepEqual(blocks.darkByOs, blocks.darkByChoice, 'the dark theme is written once, applied twice');
  // The Okabe–Ito blue, orange and green lead the modality colours (text, image, speech in the paper's order).
  assert.deepEqual([blocks.light['--m-0'], blocks.light['--m-1'], blocks.light['--m-2']], ['#0072B2', '#E69F00', '#009E73']);
  for (let i = 0; i < MODALITY_COLOUR_COUNT; i++) {
    assert.deepEqual(r.get(`.m-${i}`), { '--m': `var(--m-${i})` });
    assert.match(blocks.light[`--m-${i}`], /^#[0-9A-Fa-f]{6}$/);
  }
  assert.deepEqual(r.get('.m-all'), { '--m': 'var(--muted)' });
  assert.equal(MODALITY_COLOUR_COUNT, 8);
});

test('modality colour classes go by position, for any names, and wrap after the last colour', () => {
  const paper = ['text', 'image', 'speech'];
  assert.deepEqual(
    ['all', 'text', 'image', 'speech'].map((m) => modalityClass(m, paper)),
    ['m-all', 'm-0', 'm-1', 'm-2'],
  );
  assert.equal(modalityClass('audio', ['audio', 'video']), 'm-0');
  assert.equal(modalityClass('video', ['audio', 'video']), 'm-1');
  assert.equal(modalityClass('depth', paper), 'm-3', 'a name missing from the list comes after it');
  const nine = Array.from({ length: 9 }, (_, i) => `m${i}`);
  assert.equal(modalityClass('m8', nine), 'm-0');
  assert.equal(modalityClass('m7', nine), 'm-7');
});
