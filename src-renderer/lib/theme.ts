/**
 * The renderer's theme, taken from the one palette (src-main/common/palette.ts). The Vite build
 * writes `themeStylesheet()` into the page's CSS file (the virtual module
 * `virtual:motlab-theme.css`, see vite.config.ts): a stylesheet file is what the CSP
 * (`style-src 'self'`) allows, it applies before any script runs (no flash of the wrong theme
 * in a dark window), and it follows the OS's prefers-color-scheme without script. Modalities
 * take their colours by position (`m-0`, `m-1`, …), so any modality names work.
 */
import { cssVariables, type ThemeName } from '../../src-main/common/palette.ts';

/** The loss over every token: not a modality, drawn in the neutral text colour. */
export const ALL_MODALITIES = 'all';

/** Theme values that are not palette colours. */
const THEME_EXTRAS: Record<ThemeName, Record<string, string>> = {
  light: { '--shadow': '0 1px 2px rgba(16, 24, 40, 0.06), 0 1px 3px rgba(16, 24, 40, 0.08)', 'color-scheme': 'light' },
  dark: { '--shadow': 'none', 'color-scheme': 'dark' },
};

/** How many distinct modality colours the palette has (`--m-0` … `--m-{n-1}`); then they repeat. */
export const MODALITY_COLOUR_COUNT = Object.keys(cssVariables('light')).filter((k) => /^--m-\d+$/.test(k)).length;

/** The class giving a modality its colour as `--m`: by its position in `modalities` (after them if absent). */
export function modalityClass(name: string, modalities: readonly string[]): string {
  if (name === ALL_MODALITIES) return 'm-all';
  const i = modalities.indexOf(name);
  return `m-${(i < 0 ? modalities.length : i) % MODALITY_COLOUR_COUNT}`;
}

function block(selector: string, declarations: Record<string, string>, indent = ''): string {
  const body = Object.entries(declarations)
    .map(([k, v]) => `${indent}  ${k}: ${v};`)
    .join('\n');
  return `${indent}${selector} {\n${body}\n${indent}}`;
}

/**
 * Light by default; dark when the OS prefers it unless `data-theme="light"` is set on <html>, or
 * whenever `data-theme="dark"` is. Then one class per modality colour, and `m-all`.
 */
export function themeStylesheet(): string {
  const theme = (name: ThemeName) => ({ ...cssVariables(name), ...THEME_EXTRAS[name] });
  const modalities = Array.from({ length: MODALITY_COLOUR_COUNT }, (_, i) => block(`.m-${i}`, { '--m': `var(--m-${i})` }));
  return [
    '/* Generated from src-main/common/palette.ts by src-renderer/lib/theme.ts at build time. */',
    block(':root', theme('light')),
    `@media (prefers-color-scheme: dark) {\n${block(":root:not([data-theme='light'])", theme('dark'), '  ')}\n}`,
    block(":root[data-theme='dark']", theme('dark')),
    ...modalities,
    block('.m-all', { '--m': 'var(--muted)' }),
    '',
  ].join('\n');
}
