/**
 * The probe set: which token positions of a dataset split the feature analyses look at — a
 * seeded sample stratified by modality, identical for every checkpoint of a run (a pure function
 * of the tokens, the modality ranges, seq_len, the size and the seed).
 *
 * Positions live in windows, because the model sees a position only inside a window of context.
 * The windows are the split's evaluation windows (data/dataset.ts: window w holds tokens
 * [w·seqLen, (w+1)·seqLen)); a position's features are those the model computes for it there.
 * Sampling is two-stage so that capture runs few windows, each once:
 *   1. windows are drawn in a seeded random order until, for every modality, the drawn windows
 *      hold at least `oversample` × `perModality` of its tokens (or all of them);
 *   2. from the tokens of the drawn windows, `perModality` positions per modality are drawn
 *      uniformly without replacement (all of them when fewer);
 *   windows left holding no drawn position are dropped.
 * Within the drawn windows the sample is uniform; `oversample` trades capture cost (windows to
 * run) against spread (at most about 1/oversample of a modality's tokens come from any drawn
 * window). "N of M" is recorded per modality: sampled, present in the drawn windows, and present
 * in all the split's windows.
 */
import { windowCount } from '../../data/dataset.ts';
import { modalityTable, type Modality } from '../../common/modalities.ts';
import { MotlabError } from '../../common/errors.ts';
import { Rng } from '../../util/rng.ts';
import { shuffle } from './sampling.ts';

export interface ProbeSetOptions {
  seqLen: number;
  /** Positions to sample per modality. Default 2000. */
  perModality?: number;
  /** Default 0. */
  seed?: number;
  /** Draw windows until each modality has this many times `perModality` tokens in them. Default DEFAULT_PROBE_OVERSAMPLE. */
  oversample?: number;
}

export interface ProbeModalityCount {
  modality: string;
  /** Positions sampled (N). */
  sampled: number;
  /** Tokens of the modality in the drawn windows. */
  inDrawnWindows: number;
  /** Tokens of the modality in all the split's evaluation windows (M). */
  available: number;
}

export interface ProbeSet {
  seed: number;
  seqLen: number;
  perModality: number;
  oversample: number;
  /** Split position of each window's first token, ascending (a multiple of seqLen). */
  windowStarts: Int32Array;
  /** The windows' tokens, row-major [windowStarts.length, seqLen]: the model's input. */
  windows: Int32Array;
  /** The sampled positions, in increasing split position. Each array has one entry per position. */
  positions: {
    /** Index into windowStarts. */
    window: Int32Array;
    /** Offset inside the window, in [0, seqLen). */
    offset: Int32Array;
    /** Position in the split: windowStarts[window] + offset. */
    split: Int32Array;
    /** Index into the modalities. */
    modality: Int32Array;
    token: Int32Array;
  };
  counts: ProbeModalityCount[];
}

/**
 * 2: each drawn window gives about half of its tokens of a modality to the sample. 4 spread the
 * sample over twice as many windows, but doubled the capture (the model runs whole windows):
 * 8 `small` checkpoints took 12.1 s against 8.6 s with 2 workers here.
 */
export const DEFAULT_PROBE_OVERSAMPLE = 2;

export function sampleProbeSet(tokens: ArrayLike<number>, modalities: readonly Modality[], options: ProbeSetOptions): ProbeSet {
  const { seqLen, perModality = 2000, seed = 0, oversample = DEFAULT_PROBE_OVERSAMPLE } = options;
  if (!Number.isInteger(seqLen) || seqLen < 1)
    throw new MotlabError('invalid_request', `probe set: seq_len must be a positive integer, got ${seqLen}`);
  if (!Number.isInteger(perModality) || perModality < 1)
    throw new MotlabError('invalid_request', `probe set: the size per modality must be a positive integer, got ${perModality}`);
  if (!(oversample >= 1)) throw new MotlabError('invalid_request', `probe set: oversample must be at least 1, got ${oversample}`);
  const totalWindows = windowCount(tokens.length, seqLen);
  if (totalWindows === 0)
    throw new MotlabError(
      'invalid_request',
      `probe set: the split has ${tokens.length} tokens, too few for one window of seq_len ${seqLen} (+1)`,
    );
  if (totalWindows * seqLen >= 2 ** 31)
    throw new MotlabError('invalid_request', `probe set: the split is too long (${tokens.length} tokens)`);

  const table = modalityTable(modalities);
  const modalityAt = (p: number) => {
    const t = tokens[p];
    return t >= 0 && t < table.length ? table[t] : -1;
  };
  const available = new Array<number>(modalities.length).fill(0);
  for (let p = 0; p < totalWindows * seqLen; p++) {
    const m = modalityAt(p);
    if (m >= 0) available[m]++;
  }

  const rng = new Rng(seed);
  const windowRng = rng.fork();
  const positionRng = rng.fork();

  // 1. Windows in seeded random order until each modality has enough candidates.
  const wanted = available.map((a) => Math.min(a, Math.ceil(oversample * perModality)));
  const inDrawn = new Array<number>(modalities.length).fill(0);
  const order = shuffle(
    Array.from({ length: totalWindows }, (_, w) => w),
    windowRng,
  );
  const drawn: number[] = [];
  for (const w of order) {
    if (inDrawn.every((c, m) => c >= wanted[m])) break;
    drawn.push(w);
    for (let p = w * seqLen; p < (w + 1) * seqLen; p++) {
      const m = modalityAt(p);
      if (m >= 0) inDrawn[m]++;
    }
  }
  drawn.sort((a, b) => a - b);

  // 2. Positions per modality, uniformly from the drawn windows' tokens.
  const candidates: number[][] = modalities.map(() => []);
  for (const w of drawn)
    for (let p = w * seqLen; p < (w + 1) * seqLen; p++) {
      const m = modalityAt(p);
      if (m >= 0) candidates[m].push(p);
    }
  const chosen: number[] = [];
  const sampled = candidates.map((list) => {
    const count = Math.min(perModality, list.length);
    // Partial Fisher–Yates: the first `count` entries become a uniform sample.
    for (let i = 0; i < count; i++) {
      const j = i + positionRng.int(list.length - i);
      const t = list[i];
      list[i] = list[j];
      list[j] = t;
    }
    for (let i = 0; i < count; i++) chosen.push(list[i]);
    return count;
  });
  chosen.sort((a, b) => a - b);

  // Keep only windows holding a chosen position.
  const windowStarts: number[] = [];
  const window = new Int32Array(chosen.length);
  chosen.forEach((p, i) => {
    const start = p - (p % seqLen);
    if (windowStarts[windowStarts.length - 1] !== start) windowStarts.push(start);
    window[i] = windowStarts.length - 1;
  });
  const windows = new Int32Array(windowStarts.length * seqLen);
  windowStarts.forEach((start, w) => {
    for (let j = 0; j < seqLen; j++) windows[w * seqLen + j] = tokens[start + j];
  });

  return {
    seed,
    seqLen,
    perModality,
    oversample,
    windowStarts: Int32Array.from(windowStarts),
    windows,
    positions: {
      window,
      offset: Int32Array.from(chosen, (p) => p % seqLen),
      split: Int32Array.from(chosen),
      modality: Int32Array.from(chosen, modalityAt),
      token: Int32Array.from(chosen, (p) => tokens[p]),
    },
    counts: modalities.map((m, i) => ({ modality: m.name, sampled: sampled[i], inDrawnWindows: inDrawn[i], available: available[i] })),
  };
}
