/**
 * Captions grounded in the pixels: the class name plus attributes measured on the image, each
 * cut into three levels. Brightness uses thresholds over all of Fashion-MNIST's training set
 * ("dark" looks dark); size, left/right, top/bottom and contrast use per-class thresholds
 * ("a large sandal" is large for a sandal), so they carry information the class does not.
 */
import { Rng } from '../../util/rng.ts';
import { CLASS_NAMES } from './idx.ts';

export const ATTRIBUTES = ['brightness', 'size', 'horizontal', 'vertical', 'contrast'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];
export type Level = 0 | 1 | 2;

/** Pixels at or above this (0..1) count as the garment. */
export const OBJECT_THRESHOLD = 0.2;

export interface ImageMeasures {
  /** Mean intensity (0..1) of object pixels. */
  brightness: number;
  /** Fraction of the 784 pixels that are object pixels. */
  size: number;
  /** Intensity-weighted centre of mass minus the image centre (13.5), in pixels; + = right. */
  horizontal: number;
  /** Same, vertically; + = lower. */
  vertical: number;
  /** Standard deviation of the object pixels' intensities. */
  contrast: number;
}

export function measureImage(pixels: Uint8Array): ImageMeasures {
  let mass = 0;
  let mx = 0;
  let my = 0;
  let n = 0;
  let sum = 0;
  let sum2 = 0;
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) {
      const v = pixels[y * 28 + x] / 255;
      mass += v;
      mx += v * x;
      my += v * y;
      if (v >= OBJECT_THRESHOLD) {
        n++;
        sum += v;
        sum2 += v * v;
      }
    }
  const mean = n > 0 ? sum / n : 0;
  return {
    brightness: mean,
    size: n / 784,
    horizontal: mass > 0 ? mx / mass - 13.5 : 0,
    vertical: mass > 0 ? my / mass - 13.5 : 0,
    contrast: n > 0 ? Math.sqrt(Math.max(0, sum2 / n - mean * mean)) : 0,
  };
}

/** Two cut points per attribute: level 0 below the first, 2 at or above the second. */
export interface CaptionThresholds {
  brightness: [number, number];
  /** Per class (index = label). */
  size: [number, number][];
  horizontal: [number, number][];
  vertical: [number, number][];
  contrast: [number, number][];
}

function tertiles(values: number[]): [number, number] {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  // Rounded so dataset.json shows readable numbers; levels are computed with these exact values.
  return [Number(at(1 / 3).toFixed(4)), Number(at(2 / 3).toFixed(4))];
}

export function fitThresholds(measures: ImageMeasures[], labels: ArrayLike<number>): CaptionThresholds {
  const perClass = (key: Exclude<Attribute, 'brightness'>): [number, number][] =>
    CLASS_NAMES.map((_, c) => tertiles(measures.filter((_, i) => labels[i] === c).map((m) => m[key])));
  return {
    brightness: tertiles(measures.map((m) => m.brightness)),
    size: perClass('size'),
    horizontal: perClass('horizontal'),
    vertical: perClass('vertical'),
    contrast: perClass('contrast'),
  };
}

export function attributeLevels(m: ImageMeasures, label: number, t: CaptionThresholds): Record<Attribute, Level> {
  const level = (v: number, [a, b]: [number, number]): Level => (v < a ? 0 : v < b ? 1 : 2);
  return {
    brightness: level(m.brightness, t.brightness),
    size: level(m.size, t.size[label]),
    horizontal: level(m.horizontal, t.horizontal[label]),
    vertical: level(m.vertical, t.vertical[label]),
    contrast: level(m.contrast, t.contrast[label]),
  };
}

/** Noun phrases per class; the first is used most often. */
const NOUNS: string[][] = [
  ['t-shirt', 'top', 'tee'],
  ['pair of trousers', 'pair of pants'],
  ['pullover', 'sweater', 'jumper'],
  ['dress'],
  ['coat', 'jacket'],
  ['sandal'],
  ['shirt', 'button-up shirt'],
  ['sneaker', 'trainer', 'running shoe'],
  ['bag', 'handbag'],
  ['ankle boot', 'boot'],
];

/** Words for each level: adjectives go before the noun, predicates after "is" or a comma. */
const WORDS: Record<Attribute, { adj: string[][]; pred: string[][] }> = {
  brightness: {
    adj: [
      ['dark', 'dark-toned'],
      ['grey', 'mid-grey'],
      ['light', 'pale', 'bright'],
    ],
    pred: [
      ['dark', 'dark in tone'],
      ['mid-grey', 'medium in tone'],
      ['light', 'pale', 'bright'],
    ],
  },
  size: {
    adj: [['small', 'slim'], ['medium-sized'], ['large', 'big', 'wide']],
    pred: [
      ['small', 'on the small side'],
      ['of medium size', 'average in size'],
      ['large', 'big', 'filling the frame'],
    ],
  },
  horizontal: {
    adj: [[], [], []],
    pred: [
      ['heavier on the left', 'weighted to the left', 'leaning left'],
      ['centred', 'balanced left to right'],
      ['heavier on the right', 'weighted to the right', 'leaning right'],
    ],
  },
  vertical: {
    adj: [['top-heavy'], [], ['bottom-heavy']],
    pred: [
      ['heavier at the top', 'top-heavy', 'sitting high'],
      ['balanced top to bottom', 'vertically centred'],
      ['heavier at the bottom', 'bottom-heavy', 'sitting low'],
    ],
  },
  contrast: {
    adj: [['plain', 'smooth'], [], ['patterned', 'high-contrast', 'textured']],
    pred: [
      ['plain', 'low in contrast', 'smooth'],
      ['lightly textured', 'moderately detailed'],
      ['patterned', 'high in contrast', 'textured'],
    ],
  },
};

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];
const article = (word: string): string => (/^[aeiou]/.test(word) ? 'an' : 'a');
const joinAnd = (xs: string[]): string => (xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** A caption for an image with the given label and attribute levels; lowercase ASCII. */
export function makeCaption(label: number, levels: Record<Attribute, Level>, rng: Rng): string {
  const noun = rng.uniform() < 0.6 ? NOUNS[label][0] : pick(rng, NOUNS[label]);
  // Mention 2–4 of the 5 attributes, in a random order.
  const order = [...ATTRIBUTES];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const chosen = order.slice(0, 2 + rng.int(3));
  const adjs: string[] = [];
  const preds: string[] = [];
  const template = rng.int(5);
  for (const a of chosen) {
    const adjOptions = WORDS[a].adj[levels[a]];
    // Template 2 uses predicates only; the others put up to two attributes before the noun.
    if (template !== 2 && adjOptions.length > 0 && adjs.length < 2 && rng.uniform() < 0.6) adjs.push(pick(rng, adjOptions));
    else preds.push(pick(rng, WORDS[a].pred[levels[a]]));
  }
  const np = [...adjs, noun].join(' ');
  const anp = `${article(np)} ${np}`;
  const tail = preds.length > 0 ? joinAnd(preds) : '';
  switch (template) {
    case 0:
      return tail ? `${anp}, ${tail}.` : `${anp}.`;
    case 1:
      return tail ? `a picture of ${anp} that is ${tail}.` : `a picture of ${anp}.`;
    case 2:
      return `this ${noun} is ${tail}.`;
    case 3:
      return tail ? `${np}; ${tail}.` : `${np}.`;
    default:
      return tail ? `here is ${anp}. it is ${tail}.` : `here is ${anp}.`;
  }
}
