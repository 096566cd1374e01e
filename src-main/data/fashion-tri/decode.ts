/**
 * Decoders for fashion-tri tokens, for the dataset browser and the tests. The low-level
 * functions are pure; readDocuments/readSplitStats read a built dataset folder and return
 * plain JSON-serialisable objects (number arrays, no typed arrays).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_JSON_FILE_BYTES, readRegularFileSync } from '../regular-file.ts';
import { datasetSpecSchema, splitFileName, type DatasetSpec } from '../format.ts';
import { decodeNpy, type NpyArray } from '../npy.ts';
import { parseOrThrow } from '../../common/validate.ts';
import { MotlabError } from '../../common/errors.ts';
import {
  BOI,
  BOS,
  BOSP,
  EOI,
  EOS,
  EOSP,
  IMAGE_SIDE,
  IMAGE_START,
  PATCH,
  PATCH_DIM,
  PATCHES_PER_IMAGE,
  PATCHES_PER_SIDE,
  SPEECH_START,
  TEXT_END,
  specialName,
  type ModalityName,
} from './vocab.ts';

/** Text tokens → string: bytes decoded as UTF-8, special tokens written as their names. */
export function decodeText(tokens: ArrayLike<number>): string {
  let out = '';
  let bytes: number[] = [];
  const flush = (): void => {
    out += Buffer.from(bytes).toString('utf8');
    bytes = [];
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t < 256) bytes.push(t);
    else {
      flush();
      out += specialName(t) ?? `<${t}>`;
    }
  }
  flush();
  return out;
}

/**
 * Image tokens (vocabulary ids IMAGE_START.., in patch order) → 28×28 picture in [0, 1],
 * row-major. Missing patches (fewer than 49 tokens) stay 0; extra tokens are ignored.
 */
export function decodeImageTokens(tokens: ArrayLike<number>, codebook: Float32Array): Float32Array {
  const img = new Float32Array(IMAGE_SIDE * IMAGE_SIDE);
  const codes = codebook.length / PATCH_DIM;
  for (let p = 0; p < Math.min(tokens.length, PATCHES_PER_IMAGE); p++) {
    const c = tokens[p] - IMAGE_START;
    if (c < 0 || c >= codes) continue;
    const py = Math.floor(p / PATCHES_PER_SIDE);
    const px = p % PATCHES_PER_SIDE;
    for (let y = 0; y < PATCH; y++)
      for (let x = 0; x < PATCH; x++) {
        const v = codebook[c * PATCH_DIM + y * PATCH + x];
        img[(py * PATCH + y) * IMAGE_SIDE + px * PATCH + x] = Math.min(1, Math.max(0, v));
      }
  }
  return img;
}

/** [0, 1] picture → 0..255 bytes. */
export const imageToUint8 = (img: Float32Array): Uint8Array => Uint8Array.from(img, (v) => Math.round(v * 255));

/** Speech units (vocabulary ids SPEECH_START..) → rough log-mel spectrogram, one frame (the unit's centroid) per unit. */
export function decodeSpeechUnits(tokens: ArrayLike<number>, codebook: Float32Array, nMels: number): number[][] {
  const units = codebook.length / nMels;
  const frames: number[][] = [];
  for (let i = 0; i < tokens.length; i++) {
    const u = tokens[i] - SPEECH_START;
    if (u < 0 || u >= units) continue;
    frames.push(Array.from(codebook.subarray(u * nMels, (u + 1) * nMels), (v) => Math.round(v * 1000) / 1000));
  }
  return frames;
}

export interface Segment {
  modality: ModalityName;
  /** Token positions [start, end) of the content, markers excluded. */
  start: number;
  end: number;
}

export interface DocumentSpan {
  /** Token positions [start, end) of the whole document, <bos> and <eos> included. */
  start: number;
  end: number;
  segments: Segment[];
}

/**
 * Splits a token stream into documents by their <bos>/<eos> markers and each document into
 * segments by <boi>/<eoi> and <bosp>/<eosp>; bare text-range tokens form text segments.
 * Tokens before the first <bos> are skipped; an unterminated last document ends at the end.
 */
export function segmentDocuments(tokens: ArrayLike<number>, maxDocs = Infinity, skipDocs = 0): DocumentSpan[] {
  const docs: DocumentSpan[] = [];
  let seen = 0;
  let i = 0;
  while (i < tokens.length && docs.length < maxDocs) {
    if (tokens[i] !== BOS) {
      i++;
      continue;
    }
    const start = i++;
    const segments: Segment[] = [];
    while (i < tokens.length && tokens[i] !== EOS && tokens[i] !== BOS) {
      const t = tokens[i];
      if (t === BOI || t === BOSP) {
        const close = t === BOI ? EOI : EOSP;
        const s = ++i;
        while (i < tokens.length && tokens[i] !== close && tokens[i] !== EOS && tokens[i] !== BOS) i++;
        segments.push({ modality: t === BOI ? 'image' : 'speech', start: s, end: i });
        if (tokens[i] === close) i++;
      } else if (t < TEXT_END && specialName(t) === undefined) {
        const s = i;
        while (i < tokens.length && tokens[i] < 256) i++;
        segments.push({ modality: 'text', start: s, end: i });
      } else i++; // a stray marker or out-of-place token: skip it
    }
    if (tokens[i] === EOS) i++;
    if (seen++ >= skipDocs) docs.push({ start, end: i, segments });
  }
  return docs;
}

export interface FashionDataset {
  dir: string;
  spec: DatasetSpec;
  imageCodebook: Float32Array;
  speechCodebook: Float32Array;
  nMels: number;
  classes: string[];
  voices: string[];
  orders: ModalityName[][];
}

/** Codebooks and indexes are small; a bigger file is not one of ours. */
const MAX_NPY_BYTES = 1 << 30;

function readNpy(path: string): ReturnType<typeof decodeNpy> {
  if (!existsSync(path)) throw new MotlabError('not_found', `${path} is missing`);
  return decodeNpy(readRegularFileSync(path, { maxBytes: MAX_NPY_BYTES, code: 'invalid_dataset' }), path);
}

/** dataset.json + both codebooks of a built fashion-tri folder. */
export function loadFashionDataset(dir: string): FashionDataset {
  const specPath = join(dir, 'dataset.json');
  if (!existsSync(specPath)) throw new MotlabError('not_found', `${specPath} is missing: not a dataset folder`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readRegularFileSync(specPath, { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_dataset' }).toString('utf8')) as Record<
      string,
      unknown
    >;
  } catch (e) {
    if (e instanceof MotlabError) throw e;
    throw new MotlabError('invalid_dataset', `${specPath} is not valid JSON`);
  }
  const spec = parseOrThrow(datasetSpecSchema, raw, specPath, 'invalid_dataset');
  const image = readNpy(join(dir, 'image_codebook.npy'));
  const speech = readNpy(join(dir, 'speech_codebook.npy'));
  if (image.dtype !== '<f4' || image.shape[1] !== PATCH_DIM)
    throw new MotlabError('invalid_dataset', `${dir}/image_codebook.npy must be float32 [codes, ${PATCH_DIM}]`);
  if (speech.dtype !== '<f4' || speech.shape.length !== 2)
    throw new MotlabError('invalid_dataset', `${dir}/speech_codebook.npy must be float32 [units, mels]`);
  const docs = (raw.documents ?? {}) as { orders?: ModalityName[][] };
  const tok = (raw.tokenizers ?? {}) as { speech?: { voices?: string[] } };
  return {
    dir,
    spec,
    imageCodebook: image.data,
    speechCodebook: speech.data,
    nMels: speech.shape[1],
    classes: (raw.classes as string[] | undefined) ?? [],
    voices: tok.speech?.voices ?? [],
    orders: docs.orders ?? [],
  };
}

export function readSplitTokens(dir: string, split: string): Uint16Array | Int32Array {
  const arr = readNpy(join(dir, splitFileName(split)));
  if (arr.dtype !== '<u2' && arr.dtype !== '<i4')
    throw new MotlabError('invalid_dataset', `${dir}/${splitFileName(split)} must hold uint16 or int32 tokens`);
  return arr.data;
}

export interface DocumentMeta {
  source_set: 'train' | 't10k';
  source_index: number;
  label: number;
  class_name: string;
  voice: string | null;
  speed_wpm: number | null;
}

/** Provenance of document `n` from the split's `<split>.docs.npy` index (null when absent). */
export function documentMeta(ds: Pick<FashionDataset, 'classes' | 'voices'>, index: NpyArray, n: number): DocumentMeta | null {
  if (index.shape.length !== 2 || index.shape[1] < 6 || n >= index.shape[0]) return null;
  const cols = index.shape[1];
  const row = Array.from(index.data.subarray(n * cols, n * cols + 6), Number);
  return {
    source_set: row[0] === 0 ? 'train' : 't10k',
    source_index: row[1],
    label: row[2],
    class_name: ds.classes[row[2]] ?? String(row[2]),
    voice: row[4] === 0xffff ? null : (ds.voices[row[4]] ?? String(row[4])),
    speed_wpm: row[5] === 0 ? null : row[5],
  };
}

export interface DecodedDocument {
  index: number;
  token_range: [number, number];
  order: ModalityName[];
  caption: string | null;
  /** 28 rows of 28 grey levels 0..255, or null without an image segment. */
  image: number[][] | null;
  image_codes: number[];
  /** [units][mel bands] log-mel centroids, or null without a speech segment. */
  spectrogram: number[][] | null;
  speech_units: number[];
  meta: DocumentMeta | null;
}

/** Documents `offset .. offset+count-1` of a split, decoded. */
export function readDocuments(datasetDir: string, split: string, count: number, offset = 0): DecodedDocument[] {
  const ds = loadFashionDataset(datasetDir);
  const tokens = readSplitTokens(datasetDir, split);
  const indexPath = join(datasetDir, `${split}.docs.npy`);
  const index = existsSync(indexPath) ? readNpy(indexPath) : undefined;
  return segmentDocuments(tokens, count, offset).map((doc, k) => {
    const n = offset + k;
    const first = (m: ModalityName): Segment | undefined => doc.segments.find((s) => s.modality === m);
    const text = first('text');
    const image = first('image');
    const speech = first('speech');
    const slice = (s: Segment | undefined): number[] => (s ? Array.from(tokens.subarray(s.start, s.end)) : []);
    const imageCodes = slice(image);
    const speechUnits = slice(speech);
    let picture: number[][] | null = null;
    if (image) {
      const px = imageToUint8(decodeImageTokens(imageCodes, ds.imageCodebook));
      picture = Array.from({ length: IMAGE_SIDE }, (_, y) => Array.from(px.subarray(y * IMAGE_SIDE, (y + 1) * IMAGE_SIDE)));
    }
    const meta = index ? documentMeta(ds, index, n) : null;
    return {
      index: n,
      token_range: [doc.start, doc.end],
      order: doc.segments.map((s) => s.modality),
      caption: text ? decodeText(tokens.subarray(text.start, text.end)) : null,
      image: picture,
      image_codes: imageCodes.map((t) => t - IMAGE_START),
      spectrogram: speech ? decodeSpeechUnits(speechUnits, ds.speechCodebook, ds.nMels) : null,
      speech_units: speechUnits.map((t) => t - SPEECH_START),
      meta,
    };
  });
}

export interface ModalityUsage {
  name: string;
  start: number;
  end: number;
  /** Tokens of this modality in the stream. */
  count: number;
  /** histogram[i] = occurrences of token id start + i. */
  histogram: number[];
  /** Distinct ids that occur at least once. */
  used: number;
}

export interface TokenStats {
  tokens: number;
  documents: number;
  modalities: ModalityUsage[];
  /** Tokens outside every declared range (should be 0). */
  out_of_range: number;
}

/** Per-modality token counts and vocabulary-usage histograms of a token stream. */
export function tokenStats(tokens: ArrayLike<number>, modalities: { name: string; start: number; end: number }[]): TokenStats {
  const usage = modalities.map((m) => ({ ...m, count: 0, histogram: new Array<number>(m.end - m.start).fill(0), used: 0 }));
  let outOfRange = 0;
  let documents = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === BOS) documents++;
    const m = usage.find((u) => t >= u.start && t < u.end);
    if (!m) {
      outOfRange++;
      continue;
    }
    m.count++;
    m.histogram[t - m.start]++;
  }
  for (const m of usage) m.used = m.histogram.filter((c) => c > 0).length;
  return { tokens: tokens.length, documents, modalities: usage, out_of_range: outOfRange };
}

export function readSplitStats(datasetDir: string, split: string): TokenStats {
  const ds = loadFashionDataset(datasetDir);
  return tokenStats(readSplitTokens(datasetDir, split), ds.spec.modalities);
}
