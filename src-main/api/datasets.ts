/**
 * The dataset browser behind getDatasetOverview / getDatasetDocuments. Datasets whose
 * dataset.json declares fashion-tri's tokenizers are decoded (caption, picture, spectrogram);
 * any other dataset is shown as windows of token ids split into runs of one modality, so user
 * datasets are browsable too. Loaded splits are cached in memory (keyed by the files' size and
 * mtime), so paging does not re-read or re-scan a split.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkDataset } from '../data/check.ts';
import { loadSplitTokens, type TokenArray } from '../data/dataset.ts';
import { modalityTable } from '../common/modalities.ts';
import {
  decodeImageTokens,
  decodeSpeechUnits,
  documentMeta,
  decodeText,
  imageToUint8,
  loadFashionDataset,
  segmentDocuments,
  tokenStats,
  type FashionDataset,
} from '../data/fashion-tri/decode.ts';
import { BOS, IMAGE_SIDE, SPECIALS, vocabLayout } from '../data/fashion-tri/vocab.ts';
import { splitFileName } from '../data/format.ts';
import { readNpyFile, type NpyArray } from '../data/npy.ts';
import { MAX_JSON_FILE_BYTES, readRegularText } from '../data/regular-file.ts';
import { MotlabError } from '../common/errors.ts';
import type {
  DatasetDocument,
  DatasetInfo,
  DatasetOverview,
  DocumentPage,
  DocumentSegment,
  ModalityUsageStats,
  SplitOverview,
} from '../common/api/types.ts';

/** Tokens per browsed window of a dataset without a decoder. */
export const WINDOW_TOKENS = 256;
/** Histograms of wider modality ranges are binned down to at most this many bars. */
export const MAX_HISTOGRAM_BINS = 512;
/** Datasets kept in memory at once. */
const CACHE_SIZE = 3;

interface SplitData {
  tokens: TokenArray;
  /** Decoded datasets: stream position of each document's <bos>. */
  docStarts: Int32Array | null;
  /** fashion-tri's `<split>.docs.npy` (source image, label, voice, …), if present. */
  index: NpyArray | null;
}

interface Entry {
  stamp: string;
  fashion: FashionDataset | null;
  /** Why a dataset that declares fashion-tri's tokenizers is shown as tokens instead. */
  decoderWarning: string | null;
  spectrogramRange: [number, number] | undefined;
  overview: Promise<DatasetOverview> | null;
  splits: Map<string, Promise<SplitData>>;
}

type Raw = Record<string, unknown>;
const obj = (v: unknown): Raw => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});

/** True when dataset.json declares exactly the token layout the fashion-tri decoders assume. */
export function declaresFashionTri(raw: Raw): boolean {
  const tok = obj(raw.tokenizers);
  const text = obj(tok.text);
  const image = obj(tok.image);
  const speech = obj(tok.speech);
  if (text.type !== 'bytes' || image.type !== 'patch_kmeans' || speech.type !== 'logmel_kmeans') return false;
  const specials = obj(text.specials);
  if (!SPECIALS.every((name, i) => specials[name] === 256 + i)) return false;
  if (image.image_size !== IMAGE_SIDE || typeof speech.units !== 'number') return false;
  const expected = vocabLayout(speech.units).modalities;
  const mods = Array.isArray(raw.modalities) ? (raw.modalities as Raw[]) : [];
  return (
    mods.length === expected.length &&
    expected.every((m, i) => mods[i].name === m.name && mods[i].start === m.start && mods[i].end === m.end)
  );
}

/** A cheap fingerprint of the files a dataset is read from: reload when any changes. */
async function stampOf(dir: string, splits: string[]): Promise<string> {
  const files = ['dataset.json', ...splits.map(splitFileName)];
  const parts = await Promise.all(
    files.map((f) =>
      stat(join(dir, f)).then(
        (s) => `${f}:${s.size}:${s.mtimeMs}`,
        () => `${f}:-`,
      ),
    ),
  );
  return parts.join('|');
}

const bosPositions = (tokens: TokenArray): Int32Array => {
  let n = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === BOS) n++;
  const out = new Int32Array(n);
  for (let i = 0, k = 0; i < tokens.length; i++) if (tokens[i] === BOS) out[k++] = i;
  return out;
};

function usageOf(tokens: TokenArray, modalities: DatasetInfo['modalities']): ModalityUsageStats[] {
  const stats = tokenStats(tokens, modalities);
  return stats.modalities.map((m) => {
    const binWidth = Math.max(1, Math.ceil((m.end - m.start) / MAX_HISTOGRAM_BINS));
    let histogram = m.histogram;
    if (binWidth > 1) {
      histogram = new Array<number>(Math.ceil(m.histogram.length / binWidth)).fill(0);
      m.histogram.forEach((c, i) => (histogram[Math.floor(i / binWidth)] += c));
    }
    return {
      name: m.name,
      start: m.start,
      end: m.end,
      count: m.count,
      share: tokens.length ? m.count / tokens.length : 0,
      used: m.used,
      histogram,
      binWidth,
    };
  });
}

export class DatasetBrowser {
  private readonly cache = new Map<string, Entry>();

  private async entry(info: DatasetInfo): Promise<Entry> {
    const stamp = await stampOf(info.path, info.splits);
    const cached = this.cache.get(info.path);
    if (cached && cached.stamp === stamp) {
      // Most recently used last, so the oldest is evicted first.
      this.cache.delete(info.path);
      this.cache.set(info.path, cached);
      return cached;
    }
    let raw: Raw = {};
    try {
      raw = obj(
        JSON.parse(await readRegularText(join(info.path, 'dataset.json'), { maxBytes: MAX_JSON_FILE_BYTES, code: 'invalid_dataset' })),
      );
    } catch {
      // checkDataset reports an unreadable dataset.json in the overview.
    }
    let fashion: FashionDataset | null = null;
    let decoderWarning: string | null = null;
    let spectrogramRange: [number, number] | undefined;
    if (declaresFashionTri(raw)) {
      try {
        fashion = loadFashionDataset(info.path);
        let lo = Infinity;
        let hi = -Infinity;
        for (const v of fashion.speechCodebook) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        spectrogramRange = [lo, hi];
      } catch (e) {
        decoderWarning = `dataset.json declares fashion-tri tokenizers, but they cannot be loaded (${(e as Error).message}); showing token ids`;
      }
    }
    const entry: Entry = { stamp, fashion, decoderWarning, spectrogramRange, overview: null, splits: new Map() };
    this.cache.delete(info.path);
    this.cache.set(info.path, entry);
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    return entry;
  }

  private split(info: DatasetInfo, entry: Entry, split: string): Promise<SplitData> {
    let p = entry.splits.get(split);
    if (!p) {
      p = (async () => {
        const tokens = await loadSplitTokens(join(info.path, splitFileName(split)));
        if (!entry.fashion) return { tokens, docStarts: null, index: null };
        const indexPath = join(info.path, `${split}.docs.npy`);
        const index = existsSync(indexPath) ? await readNpyFile(indexPath) : null;
        return { tokens, docStarts: bosPositions(tokens), index };
      })();
      // A failed read is not cached: the person may fix the file and retry.
      p.catch(() => entry.splits.delete(split));
      entry.splits.set(split, p);
    }
    return p;
  }

  async overview(info: DatasetInfo): Promise<DatasetOverview> {
    const entry = await this.entry(info);
    entry.overview ??= this.buildOverview(info, entry);
    entry.overview.catch(() => (entry.overview = null));
    return entry.overview;
  }

  private async buildOverview(info: DatasetInfo, entry: Entry): Promise<DatasetOverview> {
    const report = await checkDataset(info.path);
    const modalities = report.spec?.modalities ?? info.modalities;
    const splits: SplitOverview[] = [];
    for (const split of report.spec?.splits ?? info.splits) {
      const failed = report.splits.find((s) => s.split === split)?.error;
      if (failed) {
        splits.push({ split, tokens: 0, documents: 0, modalities: [], error: failed });
        continue;
      }
      const data = await this.split(info, entry, split);
      splits.push({
        split,
        tokens: data.tokens.length,
        documents: data.docStarts ? data.docStarts.length : Math.ceil(data.tokens.length / WINDOW_TOKENS),
        modalities: usageOf(data.tokens, modalities),
        error: null,
      });
    }
    const spec = report.spec as (typeof report.spec & { license?: string }) | null;
    return {
      name: info.name,
      path: info.path,
      builtin: info.builtin,
      description: spec?.description ?? info.description,
      license: spec?.license,
      vocab_size: spec?.vocab_size ?? info.vocab_size,
      modalities: modalities.map((m) => ({ name: m.name, start: m.start, end: m.end })),
      decoder: entry.fashion ? 'fashion-tri' : 'tokens',
      unit: entry.fashion ? 'document' : 'window',
      ...(entry.fashion ? {} : { windowTokens: WINDOW_TOKENS }),
      specialTokens: entry.fashion ? Object.fromEntries(SPECIALS.map((name, i) => [String(256 + i), name])) : {},
      splits,
      problems: report.problems,
      warnings: entry.decoderWarning ? [...report.warnings, entry.decoderWarning] : report.warnings,
    };
  }

  async documents(info: DatasetInfo, split: string, offset: number, count: number): Promise<DocumentPage> {
    if (!info.splits.includes(split))
      throw new MotlabError('not_found', `Dataset "${info.name}" has no split "${split}" (splits: ${info.splits.join(', ') || 'none'})`);
    const entry = await this.entry(info);
    const data = await this.split(info, entry, split);
    const fashion = entry.fashion;
    const base = { dataset: info.name, split, offset };
    if (fashion && data.docStarts) {
      const starts = data.docStarts;
      const total = starts.length;
      const from = Math.min(offset, total);
      const to = Math.min(offset + count, total);
      const lo = from < total ? starts[from] : data.tokens.length;
      const hi = to < total ? starts[to] : data.tokens.length;
      const spans = segmentDocuments(data.tokens.subarray(lo, hi));
      const documents = spans.map((span, k) => decodeFashionDocument(fashion, data, from + k, lo, span));
      return { ...base, decoder: 'fashion-tri', unit: 'document', total, documents, spectrogramRange: entry.spectrogramRange };
    }
    const total = Math.ceil(data.tokens.length / WINDOW_TOKENS);
    const table = modalityTable(info.modalities, info.vocab_size);
    const documents: DatasetDocument[] = [];
    for (let w = offset; w < Math.min(offset + count, total); w++) {
      const start = w * WINDOW_TOKENS;
      const end = Math.min(start + WINDOW_TOKENS, data.tokens.length);
      documents.push({
        index: w,
        token_range: [start, end],
        segments: modalityRuns(data.tokens, start, end, table, info.modalities),
        meta: null,
      });
    }
    return { ...base, decoder: 'tokens', unit: 'window', total, documents };
  }
}

/** Consecutive tokens of one modality as one segment; ids no modality holds form "unknown" runs. */
export function modalityRuns(
  tokens: TokenArray,
  start: number,
  end: number,
  table: Int32Array,
  modalities: DatasetInfo['modalities'],
): DocumentSegment[] {
  const which = (t: number): number => (t >= 0 && t < table.length ? table[t] : -1);
  const out: DocumentSegment[] = [];
  let s = start;
  while (s < end) {
    const m = which(tokens[s]);
    let e = s + 1;
    while (e < end && which(tokens[e]) === m) e++;
    out.push({ modality: m >= 0 ? modalities[m].name : 'unknown', start: s, end: e, ids: Array.from(tokens.subarray(s, e)) });
    s = e;
  }
  return out;
}

function decodeFashionDocument(
  ds: FashionDataset,
  data: SplitData,
  n: number,
  shift: number,
  span: ReturnType<typeof segmentDocuments>[number],
): DatasetDocument {
  const segments = span.segments.map((seg): DocumentSegment => {
    const ids = data.tokens.subarray(shift + seg.start, shift + seg.end);
    const out: DocumentSegment = { modality: seg.modality, start: shift + seg.start, end: shift + seg.end, ids: Array.from(ids) };
    if (seg.modality === 'text') out.text = decodeText(ids);
    else if (seg.modality === 'image') {
      const px = imageToUint8(decodeImageTokens(ids, ds.imageCodebook));
      out.image = Array.from({ length: IMAGE_SIDE }, (_, y) => Array.from(px.subarray(y * IMAGE_SIDE, (y + 1) * IMAGE_SIDE)));
    } else out.spectrogram = decodeSpeechUnits(ids, ds.speechCodebook, ds.nMels);
    return out;
  });
  return {
    index: n,
    token_range: [shift + span.start, shift + span.end],
    segments,
    meta: data.index ? documentMeta(ds, data.index, n) : null,
  };
}

/** A row of `<split>.docs.npy` (columns: source_set, source_index, label, order, voice, speed). */
