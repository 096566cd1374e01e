/**
 * Builds the fashion-tri dataset (text + image + speech) from Debian's dataset-fashion-mnist.
 * Deterministic: every random choice draws from one seeded Rng, in a fixed order; speech is
 * synthesised concurrently but its results are keyed, so scheduling cannot change the output.
 *
 * Train documents use images of Fashion-MNIST's training file, val documents images of its
 * test file (t10k), so no image is in both splits; both codebooks are fitted on train only.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../util/rng.ts';
import { datasetSpecSchema, splitFileName, type DatasetSpec } from '../format.ts';
import { encodeNpy } from '../npy.ts';
import { parseOrThrow } from '../../common/validate.ts';
import { DEFAULT_MEL, logMel } from './audio.ts';
import { attributeLevels, fitThresholds, makeCaption, measureImage, OBJECT_THRESHOLD, type CaptionThresholds } from './captions.ts';
import { CLASS_NAMES, DEFAULT_SOURCE_DIR, imagePixels, loadFashionSet, type FashionSet } from './idx.ts';
import { assignNearest, kmeans } from './kmeans.ts';
import { checkSpeechTools, espeakVersion, SPEEDS, synthesizeMany, VOICES } from './speech.ts';
import {
  BOI,
  BOS,
  BOSP,
  EOI,
  EOS,
  EOSP,
  IMAGE_CODES,
  IMAGE_START,
  PATCH,
  PATCH_DIM,
  PATCHES_PER_IMAGE,
  PATCHES_PER_SIDE,
  SPECIALS,
  SPEECH_START,
  vocabLayout,
  type ModalityName,
} from './vocab.ts';

/** Document layouts and how often each is drawn. */
export const ORDERS: { order: ModalityName[]; weight: number }[] = [
  { order: ['text', 'image'], weight: 0.22 },
  { order: ['image', 'text'], weight: 0.22 },
  { order: ['speech', 'image'], weight: 0.12 },
  { order: ['image', 'speech'], weight: 0.12 },
  { order: ['text', 'image', 'speech'], weight: 0.08 },
  { order: ['speech', 'image', 'text'], weight: 0.06 },
  { order: ['image', 'text', 'speech'], weight: 0.06 },
  { order: ['text', 'speech'], weight: 0.06 },
  { order: ['speech', 'text'], weight: 0.06 },
];

export const DOC_INDEX_COLUMNS = ['source_set', 'source_index', 'label', 'order', 'voice', 'speed'] as const;
export const NO_VOICE = 0xffff;

export interface FashionBuildOptions {
  outDir: string;
  sourceDir?: string;
  trainImages?: number;
  valImages?: number;
  seed?: number;
  speechUnits?: number;
  /** Lloyd iterations for both codebooks. */
  iterations?: number;
  concurrency?: number;
  /** The command line recorded in dataset.json. */
  command?: string;
  log?: (message: string) => void;
}

export interface SplitStats {
  documents: number;
  tokens: number;
  text: number;
  image: number;
  speech: number;
}

export interface FashionBuildSummary {
  outDir: string;
  files: string[];
  stats: Record<'train' | 'val', SplitStats>;
  syntheses: number;
  speechFrames: number;
}

export const DEFAULTS = { trainImages: 20000, valImages: 2000, seed: 1, speechUnits: 128, iterations: 20, concurrency: 2 };
const MAX_PATCH_SAMPLE = 50000;
const MAX_FRAME_SAMPLE = 60000;

interface Doc {
  split: 'train' | 'val';
  set: FashionSet;
  sourceSet: 0 | 1;
  index: number;
  label: number;
  orderId: number;
  caption: string;
  imageTokens?: Uint16Array;
  voice: number; // NO_VOICE when the document has no speech
  speed: number;
}

/** Seeded choice of `count` distinct indices of [0, n) (partial Fisher–Yates). */
function sampleIndices(n: number, count: number, rng: Rng): number[] {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  const take = Math.min(n, count);
  for (let i = 0; i < take; i++) {
    const j = i + rng.int(n - i);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return Array.from(idx.subarray(0, take));
}

/** The 49 patches of an image as 16-value rows (row-major patches, row-major pixels, 0..1). */
export function imagePatches(pixels: Uint8Array, out = new Float32Array(PATCHES_PER_IMAGE * PATCH_DIM)): Float32Array {
  for (let py = 0; py < PATCHES_PER_SIDE; py++)
    for (let px = 0; px < PATCHES_PER_SIDE; px++)
      for (let y = 0; y < PATCH; y++)
        for (let x = 0; x < PATCH; x++)
          out[(py * PATCHES_PER_SIDE + px) * PATCH_DIM + y * PATCH + x] = pixels[(py * PATCH + y) * 28 + px * PATCH + x] / 255;
  return out;
}

const pixelHash = (pixels: Uint8Array): string => createHash('sha256').update(pixels).digest('hex');

export async function buildFashionTri(options: FashionBuildOptions): Promise<FashionBuildSummary> {
  // Options left undefined fall back to the defaults (a plain spread would copy the undefined).
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as FashionBuildOptions;
  const o = { ...DEFAULTS, sourceDir: DEFAULT_SOURCE_DIR, ...given };
  const log = o.log ?? (() => undefined);
  checkSpeechTools();
  const train = loadFashionSet(o.sourceDir, 'train');
  const test = loadFashionSet(o.sourceDir, 't10k');
  const rng = new Rng(o.seed);
  const selectRng = rng.fork();
  const imageRng = rng.fork();
  const docRng = rng.fork();
  const speechRng = rng.fork();

  // 1. Images per split. Val comes from t10k; drop any exact pixel copy of a training image.
  const trainIdx = sampleIndices(train.count, o.trainImages, selectRng);
  const trainHashes = new Set(Array.from({ length: train.count }, (_, i) => pixelHash(imagePixels(train, i))));
  const valIdx = sampleIndices(test.count, test.count, selectRng)
    .filter((i) => !trainHashes.has(pixelHash(imagePixels(test, i))))
    .slice(0, o.valImages);
  log(`images: ${trainIdx.length} train (Fashion-MNIST train), ${valIdx.length} val (Fashion-MNIST t10k)`);

  // 2. Caption thresholds from all 60k training images (independent of the subset drawn).
  const thresholds = fitThresholds(
    Array.from({ length: train.count }, (_, i) => measureImage(imagePixels(train, i))),
    train.labels,
  );

  // 3. Image codebook on a sample of training patches, then tokens for every image.
  const patchCount = Math.min(MAX_PATCH_SAMPLE, trainIdx.length * PATCHES_PER_IMAGE);
  const sample = new Float32Array(patchCount * PATCH_DIM);
  const scratch = new Float32Array(PATCHES_PER_IMAGE * PATCH_DIM);
  const exhaustive = patchCount === trainIdx.length * PATCHES_PER_IMAGE;
  for (let s = 0; s < patchCount; s++) {
    const img = exhaustive ? trainIdx[Math.floor(s / PATCHES_PER_IMAGE)] : trainIdx[imageRng.int(trainIdx.length)];
    const p = exhaustive ? s % PATCHES_PER_IMAGE : imageRng.int(PATCHES_PER_IMAGE);
    imagePatches(imagePixels(train, img), scratch);
    sample.set(scratch.subarray(p * PATCH_DIM, (p + 1) * PATCH_DIM), s * PATCH_DIM);
  }
  const imageCodebook = kmeans(sample, PATCH_DIM, { k: IMAGE_CODES, iterations: o.iterations, rng: imageRng });
  log(`image codebook: ${IMAGE_CODES} codes fitted on ${patchCount} patches`);
  const quantizeImage = (pixels: Uint8Array): Uint16Array =>
    Uint16Array.from(assignNearest(imagePatches(pixels), imageCodebook, PATCH_DIM), (c) => IMAGE_START + c);

  // 4. Documents: layout, caption, voice.
  const orderWeights = ORDERS.map((x) => x.weight);
  const makeDocs = (split: 'train' | 'val', set: FashionSet, sourceSet: 0 | 1, indices: number[]): Doc[] =>
    indices.map((index) => {
      const label = set.labels[index];
      const pixels = imagePixels(set, index);
      const orderId = docRng.categorical(orderWeights);
      const caption = makeCaption(label, attributeLevels(measureImage(pixels), label, thresholds), docRng);
      const hasSpeech = ORDERS[orderId].order.includes('speech');
      const voice = hasSpeech ? docRng.int(VOICES.length) : NO_VOICE;
      const speed = hasSpeech ? SPEEDS[docRng.int(SPEEDS.length)] : 0;
      const imageTokens = ORDERS[orderId].order.includes('image') ? quantizeImage(pixels) : undefined;
      return { split, set, sourceSet, index, label, orderId, caption, imageTokens, voice, speed };
    });
  const docs = [...makeDocs('train', train, 0, trainIdx), ...makeDocs('val', test, 1, valIdx)];

  // 5. Speech: one synthesis per distinct (caption, voice, speed).
  const key = (d: Doc): string => `${d.voice}|${d.speed}|${d.caption}`;
  const jobs = [...new Map(docs.filter((d) => d.voice !== NO_VOICE).map((d) => [key(d), d])).values()];
  log(`speech: synthesising ${jobs.length} utterances with espeak-ng (${o.concurrency} at a time)`);
  let finished = 0;
  const features = await synthesizeMany(
    jobs.map((d) => ({ text: d.caption, voice: VOICES[d.voice], speed: d.speed })),
    o.concurrency,
    DEFAULT_MEL.sample_rate,
    (audio) => {
      if (++finished % 2000 === 0) log(`  ${finished}/${jobs.length}`);
      return logMel(audio, DEFAULT_MEL);
    },
  );
  const featureOf = new Map(jobs.map((d, i) => [key(d), features[i]]));

  // 6. Speech codebook on frames of training utterances only.
  const nMels = DEFAULT_MEL.n_mels;
  const trainFeatures = jobs.map((d, i) => (d.split === 'train' ? features[i] : undefined)).filter((f) => f !== undefined);
  const totalFrames = trainFeatures.reduce((a, f) => a + f.frames, 0);
  const frameCount = Math.min(MAX_FRAME_SAMPLE, totalFrames);
  const frames = new Float32Array(frameCount * nMels);
  const all = totalFrames === frameCount;
  const starts = trainFeatures.map(((acc) => (f) => ((acc += f.frames), acc - f.frames))(0));
  for (let s = 0; s < frameCount; s++) {
    const g = all ? s : speechRng.int(totalFrames);
    let u = 0; // utterance holding global frame g (binary search over start offsets)
    for (let lo = 0, hi = starts.length - 1; lo <= hi;) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= g) {
        u = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const f = g - starts[u];
    frames.set(trainFeatures[u].data.subarray(f * nMels, (f + 1) * nMels), s * nMels);
  }
  const speechCodebook = kmeans(frames, nMels, { k: o.speechUnits, iterations: o.iterations, rng: speechRng });
  log(`speech codebook: ${o.speechUnits} units fitted on ${frameCount} of ${totalFrames} training frames`);
  const unitsOf = new Map<string, Uint16Array>();
  for (const [k, f] of featureOf) {
    const units = assignNearest(f.data, speechCodebook, nMels);
    const collapsed: number[] = [];
    for (let i = 0; i < units.length; i++) if (i === 0 || units[i] !== units[i - 1]) collapsed.push(SPEECH_START + units[i]);
    unitsOf.set(k, Uint16Array.from(collapsed));
  }

  // 7. Token streams and per-document index.
  const layout = vocabLayout(o.speechUnits);
  const files: string[] = [];
  mkdirSync(o.outDir, { recursive: true });
  const write = (name: string, bytes: Buffer | string): void => {
    writeFileSync(join(o.outDir, name), bytes);
    files.push(name);
  };
  const stats = {} as Record<'train' | 'val', SplitStats>;
  for (const split of ['train', 'val'] as const) {
    const splitDocs = docs.filter((d) => d.split === split);
    const tokens: number[] = [];
    const st: SplitStats = { documents: splitDocs.length, tokens: 0, text: 0, image: 0, speech: 0 };
    for (const d of splitDocs) {
      tokens.push(BOS);
      for (const m of ORDERS[d.orderId].order) {
        if (m === 'text') for (const b of Buffer.from(d.caption, 'utf8')) tokens.push(b);
        else if (m === 'image') tokens.push(BOI, ...d.imageTokens!, EOI);
        else tokens.push(BOSP, ...unitsOf.get(key(d))!, EOSP);
      }
      tokens.push(EOS);
    }
    for (const t of tokens) st[t < IMAGE_START ? 'text' : t < SPEECH_START ? 'image' : 'speech']++;
    st.tokens = tokens.length;
    stats[split] = st;
    write(splitFileName(split), encodeNpy({ dtype: '<u2', shape: [tokens.length], data: Uint16Array.from(tokens) }));
    const index = new Uint16Array(splitDocs.length * DOC_INDEX_COLUMNS.length);
    splitDocs.forEach((d, i) => index.set([d.sourceSet, d.index, d.label, d.orderId, d.voice, d.speed], i * DOC_INDEX_COLUMNS.length));
    write(`${split}.docs.npy`, encodeNpy({ dtype: '<u2', shape: [splitDocs.length, DOC_INDEX_COLUMNS.length], data: index }));
  }
  write('image_codebook.npy', encodeNpy({ dtype: '<f4', shape: [IMAGE_CODES, PATCH_DIM], data: imageCodebook }));
  write('speech_codebook.npy', encodeNpy({ dtype: '<f4', shape: [o.speechUnits, nMels], data: speechCodebook }));
  const spec = datasetSpec(o, layout, thresholds, stats, jobs.length, totalFrames);
  write('dataset.json', `${JSON.stringify(parseOrThrow(datasetSpecSchema, spec, 'fashion-tri dataset.json', 'internal'), null, 2)}\n`);
  log(`wrote ${files.length} files to ${o.outDir}`);
  return { outDir: o.outDir, files, stats, syntheses: jobs.length, speechFrames: totalFrames };
}

function datasetSpec(
  o: typeof DEFAULTS & FashionBuildOptions,
  layout: ReturnType<typeof vocabLayout>,
  thresholds: CaptionThresholds,
  stats: Record<'train' | 'val', SplitStats>,
  syntheses: number,
  speechFrames: number,
): DatasetSpec {
  return {
    name: 'fashion-tri',
    vocab_size: layout.vocabSize,
    modalities: layout.modalities,
    splits: ['train', 'val'],
    description:
      'Fashion-MNIST images as 49 tokens of a 4x4-patch k-means codebook, captions (class + attributes measured on the pixels) ' +
      'as UTF-8 bytes, and the captions spoken by espeak-ng as k-means units of 40 ms log-mel frames, interleaved in varied orders.',
    license:
      'MIT (Fashion-MNIST, Zalando SE 2017); speech synthesised with espeak-ng (GPL-3.0-or-later program; its output audio is not covered by the GPL)',
    tokenizers: {
      text: { type: 'bytes', encoding: 'utf-8', specials: Object.fromEntries(SPECIALS.map((s, i) => [s, 256 + i])) },
      image: {
        type: 'patch_kmeans',
        codebook: 'image_codebook.npy',
        image_size: 28,
        patch: PATCH,
        patches_per_image: PATCHES_PER_IMAGE,
        patch_order: 'row-major patches, row-major pixels within a patch',
        pixel_range: [0, 1],
        codes: IMAGE_CODES,
        kmeans: {
          init: 'k-means++',
          lloyd_iterations: o.iterations,
          sample_patches: Math.min(MAX_PATCH_SAMPLE, o.trainImages * PATCHES_PER_IMAGE),
        },
      },
      speech: {
        type: 'logmel_kmeans',
        codebook: 'speech_codebook.npy',
        units: o.speechUnits,
        mel: DEFAULT_MEL,
        collapse_repeats: true,
        kmeans: { init: 'k-means++', lloyd_iterations: o.iterations, sample_frames: Math.min(MAX_FRAME_SAMPLE, speechFrames) },
        tts: `espeak-ng -w OUT.wav -v VOICE -s SPEED TEXT (${espeakVersion()}), resampled 22050 -> 16000 Hz by windowed sinc`,
        voices: [...VOICES],
        speeds_wpm: [...SPEEDS],
        utterances: syntheses,
      },
    },
    documents: {
      layout: '<bos> segments <eos>; image = <boi> 49 codes <eoi>; speech = <bosp> units <eosp>; text = bare bytes between markers',
      orders: ORDERS.map((x) => x.order),
      order_weights: ORDERS.map((x) => x.weight),
      index_file: '{split}.docs.npy',
      index_columns: [...DOC_INDEX_COLUMNS],
      index_notes: `source_set 0 = Fashion-MNIST train file, 1 = t10k file; voice ${NO_VOICE} and speed 0 = no speech`,
    },
    classes: [...CLASS_NAMES],
    caption_attributes: {
      object_threshold: OBJECT_THRESHOLD,
      note: 'levels 0/1/2 split at these cut points; brightness is global, the others per class (index = label)',
      thresholds,
    },
    source: { package: 'dataset-fashion-mnist (Debian)', train: 'train-*-idx*-ubyte.gz', val: 't10k-*-idx*-ubyte.gz' },
    build: { seed: o.seed, train_images: o.trainImages, val_images: o.valImages, command: o.command ?? null },
    stats,
  };
}
