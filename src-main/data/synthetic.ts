/**
 * A seeded synthetic tri-modal dataset ("synthetic-tri") in the lab's dataset format.
 *
 * Generative process. Each document draws a scene latent: object class (Zipfian over 12),
 * colour, size and background (class-dependent priors), horizontal/vertical position, and a
 * speaker rate. It then renders 1–3 segments of the same scene in a random order
 * (caption→image, image→caption, speech→image, caption→speech, speech→caption, image→speech,
 * caption→image→speech, or text only), packed as `<bos> … <eos>`:
 * - text: a caption from a small template grammar whose slots are filled from the latent
 *   (class-dependent verbs, background-dependent prepositions), plus Zipfian filler words and,
 *   in text-only documents, a "comment" drawn from a fixed sparse word-bigram Markov chain;
 * - image: `<boi>` + an 8×8 raster of codes + `<eoi>`: a background with a smooth vertical
 *   gradient (palette per background), a class-specific shape scaled by size at the latent
 *   position, whose interior/edge codes lie in the colour's code band at class-specific
 *   offsets, a shadow below the object and a little code noise;
 * - speech: `<bosp>` + units + `<eosp>` that say a caption of the scene: each word has a fixed
 *   2–4 unit pronunciation, every unit is held for a speaker-rate dependent duration, with
 *   optional pauses and occasional substitution by a neighbouring unit.
 * So each modality has its own local statistics (Zipfian words, smooth 2-D codes, repeated
 * units) and is largely predictable from the others (cross-modal dependence).
 *
 * The "world" (pronunciations, code tables, shapes, Markov chain) is fixed; `seed` only drives
 * sampling, so datasets with different seeds speak the same language. Same seed → same bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Rng } from '../util/rng.ts';
import { splitFileName, type DatasetSpec } from './format.ts';
import { encodeNpy } from './npy.ts';

export const SYNTH_VOCAB = 512;
export const TEXT_RANGE = { start: 0, end: 160 };
export const IMAGE_RANGE = { start: 160, end: 416 };
export const SPEECH_RANGE = { start: 416, end: 512 };
export const SPECIAL = { pad: 0, bos: 1, eos: 2, boi: 3, eoi: 4, bosp: 5, eosp: 6, period: 7 } as const;
export const IMAGE_SIDE = 8;
const UNITS = SPEECH_RANGE.end - SPEECH_RANGE.start;

const CLASSES = ['cat', 'dog', 'bird', 'fish', 'car', 'boat', 'tree', 'house', 'ball', 'cup', 'chair', 'lamp'];
const COLOURS = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'orange', 'purple'];
const SIZE_WORDS = [['small', 'little', 'tiny'], ['medium'], ['big', 'large', 'huge']];
const BACKGROUNDS = ['sky', 'grass', 'water', 'room', 'sand', 'snow'];
const HPOS = ['left', 'middle', 'right'];
const VPOS = ['top', 'centre', 'bottom'];
const FUNCTION = [
  'a',
  'the',
  'is',
  'on',
  'in',
  'at',
  'with',
  'and',
  'of',
  'there',
  'this',
  'near',
  'side',
  'scene',
  'photo',
  'shows',
  'picture',
  'it',
];
const VERBS = ['sits', 'stands', 'rests', 'floats', 'flies', 'waits', 'lies', 'glows', 'swims', 'parks', 'grows', 'rolls'];
/** Filler words (adverbs, adjectives, comment words); Zipfian by list order. */
const FILLERS = (
  'very quite really so just also still now today here bright old new dark pale soft shiny quiet round ' +
  'tall short pretty lovely strange simple nice odd warm cold wet dry clean dusty lonely happy calm busy ' +
  'i think we saw you can see that looks like maybe not yet again always never often seems feels ' +
  'because while when then but or if only even too much more most some many few every other such same ' +
  'first last next'
).split(' ');

// ---- Vocabulary: ids 0..7 are specials, then every word once. ----
const WORDS: string[] = [
  '<pad>',
  '<bos>',
  '<eos>',
  '<boi>',
  '<eoi>',
  '<bosp>',
  '<eosp>',
  '.',
  ...CLASSES,
  ...COLOURS,
  ...SIZE_WORDS.flat(),
  ...BACKGROUNDS,
  ...HPOS,
  ...VPOS,
  ...FUNCTION,
  ...VERBS,
];
for (const f of FILLERS) if (!WORDS.includes(f)) WORDS.push(f);
if (WORDS.length > TEXT_RANGE.end) throw new Error(`synthetic vocabulary has ${WORDS.length} words, text range holds ${TEXT_RANGE.end}`);
const WORD_ID = new Map(WORDS.map((w, i) => [w, i]));
const id = (w: string): number => {
  const i = WORD_ID.get(w);
  if (i === undefined) throw new Error(`synthetic: unknown word ${w}`);
  return i;
};
const FILLER_IDS = FILLERS.map(id).filter((v, i, a) => a.indexOf(v) === i);

/** Human-readable label of a synthetic token id (for debugging and tests). */
export function syntheticTokenLabel(token: number): string {
  if (token < TEXT_RANGE.end) return WORDS[token] ?? `<text:${token}>`;
  if (token < IMAGE_RANGE.end) return `<img:${token - IMAGE_RANGE.start}>`;
  return `<sp:${token - SPEECH_RANGE.start}>`;
}

// ---- The fixed world. ----
const WORLD_SEED = 0x7e1a_2024;

interface World {
  /** Per class, weights over verbs / colours / backgrounds. */
  verbOf: number[][];
  colourPrior: number[][];
  bgPrior: number[][];
  /** Per class, code offsets in the colour band: [interior, interior-alt, top edge, bottom edge, side edge]. */
  classOffsets: number[][];
  /** Per background: 4 gradient codes and a shadow code. */
  bgCodes: number[][];
  /** Per word id: its unit pronunciation (speech unit indices 1..95; 0 is silence). */
  lexicon: number[][];
  /** Sparse bigram chain over filler/function words: successors and weights per word. */
  chain: Map<number, { next: number[]; weights: number[] }>;
}

const BAND = 24; // codes per colour band: 8 colours × 24 = 192 object codes, then 64 background codes
const zipf = (n: number, s: number): number[] => Array.from({ length: n }, (_, i) => 1 / Math.pow(i + 1, s));

function sampleDistinct(rng: Rng, n: number, k: number, offset = 0): number[] {
  const out: number[] = [];
  while (out.length < k) {
    const v = offset + rng.int(n);
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

function peaked(rng: Rng, n: number, favourites: number, mass: number): number[] {
  // A prior with `favourites` likely values (sharing `mass`) and the rest uniform.
  const w = new Array<number>(n).fill((1 - mass) / n);
  for (const f of sampleDistinct(rng, n, favourites)) w[f] += mass / favourites;
  return w;
}

function buildWorld(): World {
  const rng = new Rng(WORLD_SEED);
  const verbOf = CLASSES.map(() => peaked(rng, VERBS.length, 2, 0.85));
  const colourPrior = CLASSES.map(() => peaked(rng, COLOURS.length, 3, 0.7));
  const bgPrior = CLASSES.map(() => peaked(rng, BACKGROUNDS.length, 2, 0.75));
  const classOffsets = CLASSES.map(() => sampleDistinct(rng, BAND, 5));
  const bgCodes = BACKGROUNDS.map((_, b) => {
    const base = 8 * BAND + b * 10; // 6 backgrounds × 10 codes = 60 of the 64 background codes
    return [0, 1, 2, 3, 4].map((k) => base + ((k * 2 + rng.int(2)) % 10));
  });
  // Units are used unevenly (as phonemes are): Zipfian over a random order of the 95 units.
  const unitOrder = sampleDistinct(rng, UNITS - 1, UNITS - 1, 1);
  const unitWeights = zipf(UNITS - 1, 0.9);
  const lexicon: number[][] = WORDS.map((_, w) =>
    w < SPECIAL.period ? [] : Array.from({ length: 2 + rng.int(3) }, () => unitOrder[rng.categorical(unitWeights)]),
  );
  lexicon[SPECIAL.period] = [0, 0];
  const chainWords = [...FILLER_IDS, ...FUNCTION.map(id)];
  const chain = new Map<number, { next: number[]; weights: number[] }>();
  for (const w of chainWords) {
    const next = Array.from({ length: 5 }, () => chainWords[Math.floor(Math.pow(rng.uniform(), 1.6) * chainWords.length)]);
    chain.set(w, { next, weights: zipf(5, 1.2) });
  }
  return { verbOf, colourPrior, bgPrior, classOffsets, bgCodes, lexicon, chain };
}

const WORLD = buildWorld();

// ---- Shapes: one per class, a predicate on coordinates normalised to [-1, 1]. ----
type Shape = (u: number, v: number) => boolean;
const SHAPES: Shape[] = [
  (u, v) => u * u + v * v <= 1, // disc
  (u, v) => Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8, // square
  (u, v) => v >= -0.9 && Math.abs(u) <= (v + 1) / 2, // triangle
  (u, v) => Math.abs(u) <= 1 && Math.abs(v) <= 0.45, // horizontal bar
  (u, v) => Math.abs(u) <= 1 && v >= -0.2 && v <= 0.8, // wide low box
  (u, v) => v >= 0 && u * u + v * v <= 1.1, // half disc
  (u, v) => Math.abs(u) <= 0.35 || (v <= -0.1 && u * u + (v + 0.4) * (v + 0.4) <= 0.6), // tree: trunk + crown
  (u, v) => (Math.abs(u) <= 0.8 && v >= 0) || (v < 0 && Math.abs(u) <= 1 + v), // house
  (u, v) => u * u + v * v <= 0.8, // small disc
  (u, v) => Math.abs(u) <= 0.6 && v >= -0.7, // cup
  (u, v) => (Math.abs(u) <= 0.8 && Math.abs(v) <= 0.25) || (u >= 0.4 && u <= 0.8), // chair
  (u, v) => Math.abs(u) <= 0.2 || (v <= -0.4 && Math.abs(u) <= 0.7), // lamp
];
const SIZE_RADIUS = [1.3, 2.1, 3.1];
const HPOS_X = [2, 3.5, 5];
const VPOS_Y = [2.3, 3.5, 4.7];

interface Scene {
  cls: number;
  colour: number;
  size: number;
  bg: number;
  hpos: number;
  vpos: number;
  rate: number; // speaker rate 0 fast, 1 normal, 2 slow
}

function sampleScene(rng: Rng): Scene {
  const cls = rng.categorical(zipf(CLASSES.length, 0.9));
  return {
    cls,
    colour: rng.categorical(WORLD.colourPrior[cls]),
    size: rng.int(3),
    bg: rng.categorical(WORLD.bgPrior[cls]),
    hpos: rng.int(3),
    vpos: rng.int(3),
    rate: rng.int(3),
  };
}

// ---- Text. ----
function filler(rng: Rng): number {
  return FILLER_IDS[rng.categorical(zipf(FILLER_IDS.length, 1.1))];
}

function caption(s: Scene, rng: Rng): number[] {
  const sizeWords = SIZE_WORDS[s.size];
  const size = id(sizeWords[rng.int(sizeWords.length)]);
  const cls = id(CLASSES[s.cls]);
  const colour = id(COLOURS[s.colour]);
  const bg = id(BACKGROUNDS[s.bg]);
  const verb = id(VERBS[rng.categorical(WORLD.verbOf[s.cls])]);
  const prep = id(['in', 'on', 'in', 'in', 'on', 'on'][s.bg]);
  const maybe = (p: number): number[] => (rng.uniform() < p ? [filler(rng)] : []);
  const [a, the, is, and, there, near, side, withW, of, photo, shows, scene, at, it] = [
    'a',
    'the',
    'is',
    'and',
    'there',
    'near',
    'side',
    'with',
    'of',
    'photo',
    'shows',
    'scene',
    'at',
    'it',
  ].map(id);
  const hpos = id(HPOS[s.hpos]);
  const vpos = id(VPOS[s.vpos]);
  let words: number[];
  switch (rng.categorical([4, 3, 2, 2, 2])) {
    case 0:
      words = [a, ...maybe(0.3), size, colour, cls, verb, prep, the, bg];
      break;
    case 1:
      words = [there, is, a, ...maybe(0.3), colour, cls, near, the, hpos, side];
      break;
    case 2:
      words = [the, cls, is, ...maybe(0.4), colour, and, size];
      break;
    case 3:
      words = [bg, scene, withW, a, size, cls, at, the, vpos];
      break;
    default:
      words = [a, photo, of, a, colour, cls, shows, it, near, the, hpos];
  }
  return [...words, SPECIAL.period];
}

/** A comment sentence from the fixed bigram chain (the text-only documents' own statistics). */
function comment(rng: Rng): number[] {
  let w = filler(rng);
  const out = [w];
  const length = 4 + rng.int(8);
  for (let i = 1; i < length; i++) {
    const node = WORLD.chain.get(w);
    w = node && rng.uniform() < 0.85 ? node.next[rng.categorical(node.weights)] : filler(rng);
    out.push(w);
  }
  out.push(SPECIAL.period);
  return out;
}

// ---- Image. ----
function image(s: Scene, rng: Rng): number[] {
  const n = IMAGE_SIDE;
  const shape = SHAPES[s.cls];
  const r = SIZE_RADIUS[s.size];
  const cx = HPOS_X[s.hpos] + (rng.uniform() - 0.5) * 0.8;
  const cy = VPOS_Y[s.vpos] + (rng.uniform() - 0.5) * 0.8;
  const inside = (row: number, col: number): boolean =>
    row >= 0 && row < n && col >= 0 && col < n && shape((col + 0.5 - cx) / r, (row + 0.5 - cy) / r);
  const band = s.colour * BAND;
  const off = WORLD.classOffsets[s.cls];
  const bgc = WORLD.bgCodes[s.bg];
  const phase = rng.uniform() * 1.5;
  const codes: number[] = [];
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      let code: number;
      if (inside(row, col)) {
        if (!inside(row - 1, col)) code = band + off[2];
        else if (!inside(row + 1, col)) code = band + off[3];
        else if (!inside(row, col - 1) || !inside(row, col + 1)) code = band + off[4];
        else code = band + off[(row + col) % 3 === 0 ? 1 : 0];
      } else if (inside(row - 1, col) || inside(row - 2, col)) {
        code = bgc[4]; // shadow under the object
      } else {
        code = bgc[Math.min(3, Math.floor((row + phase) / 2.4))];
      }
      const u = rng.uniform();
      if (u < 0.04) code = Math.max(0, Math.min(255, code + (rng.int(2) === 0 ? -1 : 1)));
      else if (u < 0.05) code = rng.int(256);
      codes.push(IMAGE_RANGE.start + code);
    }
  }
  return [SPECIAL.boi, ...codes, SPECIAL.eoi];
}

// ---- Speech. ----
const DURATION = [
  [0.6, 0.35, 0.05, 0],
  [0.2, 0.5, 0.3, 0],
  [0, 0.3, 0.4, 0.3],
];

function speech(words: number[], s: Scene, rng: Rng): number[] {
  const out: number[] = [SPECIAL.bosp];
  for (const w of words) {
    for (const unit of WORLD.lexicon[w]) {
      let u = unit;
      if (u !== 0 && rng.uniform() < 0.05) u = 1 + ((u - 1 + (rng.int(2) === 0 ? UNITS - 2 : 1)) % (UNITS - 1));
      const hold = 1 + rng.categorical(DURATION[s.rate]);
      for (let k = 0; k < hold; k++) out.push(SPEECH_RANGE.start + u);
    }
    if (rng.uniform() < 0.25) out.push(SPEECH_RANGE.start); // pause
  }
  out.push(SPECIAL.eosp);
  return out;
}

// ---- Documents. ----
type Part = 'cap' | 'img' | 'sp';
const LAYOUTS: { parts: Part[]; weight: number }[] = [
  { parts: ['cap', 'img'], weight: 4 },
  { parts: ['img', 'cap'], weight: 3 },
  { parts: ['sp', 'img'], weight: 3 },
  { parts: ['cap', 'sp'], weight: 3 },
  { parts: ['sp', 'cap'], weight: 2 },
  { parts: ['img', 'sp'], weight: 2 },
  { parts: ['cap', 'img', 'sp'], weight: 1 },
  { parts: ['cap'], weight: 3 }, // text only
];

function document(rng: Rng): number[] {
  const s = sampleScene(rng);
  const layout = LAYOUTS[rng.categorical(LAYOUTS.map((l) => l.weight))].parts;
  const out: number[] = [SPECIAL.bos];
  if (layout.length === 1) {
    out.push(...caption(s, rng));
    for (let k = rng.int(3); k >= 0; k--) out.push(...comment(rng));
  } else {
    // A caption and the speech in the same document say the same sentence (transcription).
    let said: number[] | null = null;
    const say = (): number[] => (said ??= caption(s, rng));
    for (const part of layout) {
      if (part === 'cap') out.push(...say());
      else if (part === 'img') out.push(...image(s, rng));
      else out.push(...speech(say(), s, rng));
    }
  }
  out.push(SPECIAL.eos);
  return out;
}

/** Exactly `count` tokens of packed documents (the last one cut). */
export function generateSyntheticTokens(count: number, rng: Rng): Uint16Array {
  const out = new Uint16Array(count);
  let n = 0;
  while (n < count) {
    for (const t of document(rng)) {
      if (n >= count) break;
      out[n++] = t;
    }
  }
  return out;
}

export interface SyntheticOptions {
  /** Training tokens (default 400 000). */
  tokens?: number;
  seed?: number;
  /** Share of all tokens in the val split (default 0.1). */
  valFraction?: number;
}

export function syntheticSpec(): DatasetSpec {
  return {
    name: 'synthetic-tri',
    vocab_size: SYNTH_VOCAB,
    modalities: [
      { name: 'text', ...TEXT_RANGE },
      { name: 'image', ...IMAGE_RANGE },
      { name: 'speech', ...SPEECH_RANGE },
    ],
    splits: ['train', 'val'],
    description:
      'Synthetic tri-modal scenes: template captions (Zipfian words), 8x8 code grids rendered from the same scene, ' +
      'and unit sequences speaking the caption. Specials (text range): 1 <bos>, 2 <eos>, 3 <boi>, 4 <eoi>, 5 <bosp>, 6 <eosp>.',
    license: 'CC0-1.0',
  };
}

/** Write dataset.json, train.tokens.npy and val.tokens.npy (uint16) into `outDir`. */
export async function writeSyntheticDataset(outDir: string, options: SyntheticOptions = {}): Promise<DatasetSpec> {
  const tokens = options.tokens ?? 400_000;
  const seed = options.seed ?? 0;
  const valFraction = options.valFraction ?? 0.1;
  if (!Number.isInteger(tokens) || tokens < 2) throw new RangeError(`tokens must be an integer >= 2, got ${tokens}`);
  if (!(valFraction > 0 && valFraction < 1)) throw new RangeError(`valFraction must be in (0, 1), got ${valFraction}`);
  const root = new Rng(seed);
  // Separate streams: the val split does not change when the train size does.
  const trainRng = root.fork();
  const valRng = root.fork();
  const valTokens = Math.max(2, Math.round((tokens * valFraction) / (1 - valFraction)));
  const spec = { ...syntheticSpec(), description: `${syntheticSpec().description} Generated with seed ${seed}.` };
  await mkdir(outDir, { recursive: true });
  const train = generateSyntheticTokens(tokens, trainRng);
  const val = generateSyntheticTokens(valTokens, valRng);
  await writeFile(path.join(outDir, 'dataset.json'), JSON.stringify(spec, null, 2) + '\n');
  await writeFile(path.join(outDir, splitFileName('train')), encodeNpy({ dtype: '<u2', shape: [train.length], data: train }));
  await writeFile(path.join(outDir, splitFileName('val')), encodeNpy({ dtype: '<u2', shape: [val.length], data: val }));
  return spec;
}
