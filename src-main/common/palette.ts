/**
 * The one palette module: UI theme colours (the source of the renderer's CSS variables), the
 * categorical palettes of figures (Okabe–Ito, Tableau 10), greyscale-safe line styles and the
 * sequential scales. Charts on screen and exported figures both read colours from here only.
 */

/** Okabe & Ito (2008): distinguishable with every common colour-vision deficiency. */
export const OKABE_ITO = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000'] as const;

/** Tableau 10 (2016 revision). */
export const TABLEAU_10 = [
  '#4E79A7',
  '#F28E2B',
  '#E15759',
  '#76B7B2',
  '#59A14F',
  '#EDC948',
  '#B07AA1',
  '#FF9DA7',
  '#9C755F',
  '#BAB0AC',
] as const;

/** Greys for greyscale figures: series stay apart by line style and marker, not hue. */
export const GREYSCALE = ['#000000', '#555555', '#888888', '#333333', '#aaaaaa', '#222222', '#777777', '#444444'] as const;

export const CATEGORICAL_PALETTES = { 'okabe-ito': OKABE_ITO, 'tableau-10': TABLEAU_10, greyscale: GREYSCALE } as const;
export type CategoricalPaletteName = keyof typeof CATEGORICAL_PALETTES;
export const CATEGORICAL_PALETTE_NAMES = Object.keys(CATEGORICAL_PALETTES) as CategoricalPaletteName[];

/** Dash patterns (in units of the line width) that survive greyscale printing; index 0 is solid. */
export const LINE_DASHES: readonly (readonly number[])[] = [[], [4, 2], [1, 1.5], [6, 2, 1, 2], [2, 2], [8, 3]];

/** Marker shapes for scatter series, in the same order as LINE_DASHES. */
export const MARKER_SHAPES = ['circle', 'square', 'triangle', 'diamond', 'cross', 'plus'] as const;
export type MarkerShape = (typeof MARKER_SHAPES)[number];

/**
 * Modality colours: the first modalities take Okabe–Ito's blue, orange and green so the
 * three of the paper (text, image, speech) look the same in every view and every figure.
 */
const MODALITY_ORDER = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#F0E442', '#000000'] as const;
export function modalityColor(index: number): string {
  return MODALITY_ORDER[((index % MODALITY_ORDER.length) + MODALITY_ORDER.length) % MODALITY_ORDER.length];
}

/** Colour of series i (runs, experts, layers as categories) from a categorical palette. */
export function categoricalColor(i: number, palette: CategoricalPaletteName = 'okabe-ito'): string {
  const colours = CATEGORICAL_PALETTES[palette];
  return colours[((i % colours.length) + colours.length) % colours.length];
}

/** Sequential scales for continuous values (step, layer, heatmap cells): perceptually uniform. */
export const SEQUENTIAL_SCALES = ['viridis', 'cividis'] as const;
export type SequentialScaleName = (typeof SEQUENTIAL_SCALES)[number];

export type ThemeName = 'light' | 'dark';

/** Colours of the app's chrome; styles.css takes its variables from these (see cssVariables). */
export interface UiColours {
  bg: string;
  panel: string;
  panel2: string;
  border: string;
  text: string;
  muted: string;
  accent: string;
  accentText: string;
  danger: string;
  ok: string;
  warn: string;
}

export const UI_COLOURS: Record<ThemeName, UiColours> = {
  light: {
    bg: '#f5f6f8',
    panel: '#ffffff',
    panel2: '#f0f2f5',
    border: '#e1e4ea',
    text: '#1b1f27',
    muted: '#667085',
    accent: '#3d6fe0',
    accentText: '#ffffff',
    danger: '#d64545',
    ok: '#1f9d6b',
    warn: '#c9820f',
  },
  dark: {
    bg: '#111318',
    panel: '#181b22',
    panel2: '#1f232c',
    border: '#2a2f3a',
    text: '#e6e8ee',
    muted: '#8d95a5',
    accent: '#6b94f5',
    accentText: '#0d1220',
    danger: '#f06a6a',
    ok: '#3fcf95',
    warn: '#f0b44b',
  },
};

/** What chart geometry needs to know about colours and type; exports always use the light theme. */
export interface ChartTheme {
  name: ThemeName;
  background: string;
  foreground: string;
  muted: string;
  grid: string;
  axis: string;
  fontFamily: string;
  /** Label size; ticks and legend use tickFontSize. In user units (points in figures, CSS px on screen). */
  fontSize: number;
  tickFontSize: number;
  lineWidth: number;
  palette: CategoricalPaletteName;
}

/** The font figures embed (shipped in assets/fonts, so an export is the same on every machine). */
export const FIGURE_FONT_FAMILY = 'DejaVu Sans';

export function chartTheme(name: ThemeName, overrides: Partial<ChartTheme> = {}): ChartTheme {
  const ui = UI_COLOURS[name];
  return {
    name,
    background: name === 'light' ? '#ffffff' : ui.panel,
    foreground: ui.text,
    muted: ui.muted,
    grid: name === 'light' ? '#e6e8ec' : '#2c313c',
    axis: name === 'light' ? '#444a55' : '#9aa2b1',
    fontFamily: FIGURE_FONT_FAMILY,
    fontSize: 8,
    tickFontSize: 7,
    lineWidth: 1,
    palette: 'okabe-ito',
    ...overrides,
  };
}

/** The theme of charts on screen: type and lines sized for reading at CSS pixels (figures set theirs from the export options). */
export function screenChartTheme(name: ThemeName): ChartTheme {
  return chartTheme(name, { fontSize: 12.5, tickFontSize: 11.5, lineWidth: 1.6 });
}

/** CSS custom properties for one theme (`--bg`, `--m-0` …), for the renderer's stylesheet. */
export function cssVariables(name: ThemeName): Record<string, string> {
  const ui = UI_COLOURS[name];
  const vars: Record<string, string> = {
    '--bg': ui.bg,
    '--panel': ui.panel,
    '--panel-2': ui.panel2,
    '--border': ui.border,
    '--text': ui.text,
    '--muted': ui.muted,
    '--accent': ui.accent,
    '--accent-text': ui.accentText,
    '--danger': ui.danger,
    '--ok': ui.ok,
    '--warn': ui.warn,
  };
  for (let i = 0; i < MODALITY_ORDER.length; i++) vars[`--m-${i}`] = modalityColor(i);
  return vars;
}
