/**
 * Log-mel features for the speech modality, computed here rather than by a library so the
 * numbers are the same wherever the build runs: Hann window, radix-2 FFT, HTK-style
 * triangular mel filters, natural log with a floor.
 */
export interface MelConfig {
  sample_rate: number;
  window: number; // samples (25 ms)
  hop: number; // samples (40 ms)
  n_fft: number;
  n_mels: number;
  f_min: number;
  f_max: number;
  log_floor: number;
}

export const DEFAULT_MEL: MelConfig = {
  sample_rate: 16000,
  window: 400,
  hop: 640,
  n_fft: 512,
  n_mels: 32,
  f_min: 60,
  f_max: 7600,
  log_floor: 1e-6,
};

/** In-place iterative radix-2 FFT; `re`/`im` have a power-of-two length. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if ((n & (n - 1)) !== 0) throw new Error(`fft length ${n} is not a power of two`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i];
      re[i] = re[j];
      re[j] = tr;
      const ti = im[i];
      im[i] = im[j];
      im[j] = ti;
    }
  }
  const [cos, sin] = twiddles(n);
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const step = n / len;
    for (let k = 0; k < half; k++) {
      const wr = cos[k * step];
      const wi = sin[k * step];
      for (let i = k; i < n; i += len) {
        const j = i + half;
        const tr = re[j] * wr - im[j] * wi;
        const ti = re[j] * wi + im[j] * wr;
        re[j] = re[i] - tr;
        im[j] = im[i] - ti;
        re[i] += tr;
        im[i] += ti;
      }
    }
  }
}

const twiddleCache = new Map<number, [Float64Array, Float64Array]>();
/** cos/sin of -2πk/n for k < n/2. */
function twiddles(n: number): [Float64Array, Float64Array] {
  let t = twiddleCache.get(n);
  if (!t) {
    const cos = new Float64Array(n / 2);
    const sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      cos[k] = Math.cos((-2 * Math.PI * k) / n);
      sin[k] = Math.sin((-2 * Math.PI * k) / n);
    }
    t = [cos, sin];
    twiddleCache.set(n, t);
  }
  return t;
}

const hzToMel = (f: number): number => 2595 * Math.log10(1 + f / 700);
const melToHz = (m: number): number => 700 * (10 ** (m / 2595) - 1);

/** n_mels × (n_fft/2 + 1) triangular filters. */
export function melFilterbank(cfg: MelConfig): Float64Array[] {
  const bins = cfg.n_fft / 2 + 1;
  const lo = hzToMel(cfg.f_min);
  const hi = hzToMel(cfg.f_max);
  const edges = Array.from({ length: cfg.n_mels + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (cfg.n_mels + 1)));
  return Array.from({ length: cfg.n_mels }, (_, m) => {
    const row = new Float64Array(bins);
    const [a, b, c] = [edges[m], edges[m + 1], edges[m + 2]];
    for (let k = 0; k < bins; k++) {
      const f = (k * cfg.sample_rate) / cfg.n_fft;
      if (f > a && f < c) row[k] = f <= b ? (f - a) / (b - a) : (c - f) / (c - b);
    }
    return row;
  });
}

/** Frame-major log-mel matrix (frames × n_mels) of mono samples at cfg.sample_rate. */
export function logMel(samples: Float32Array, cfg: MelConfig = DEFAULT_MEL): { frames: number; data: Float32Array } {
  const frames = samples.length < cfg.window ? 0 : Math.floor((samples.length - cfg.window) / cfg.hop) + 1;
  const data = new Float32Array(frames * cfg.n_mels);
  // Each filter as (first bin, weights) so the inner loop skips the zeros.
  const bank = melFilterbank(cfg).map((row) => {
    const first = row.findIndex((w) => w !== 0);
    const last = row.length - 1 - [...row].reverse().findIndex((w) => w !== 0);
    return first < 0 ? { first: 0, w: new Float64Array(0) } : { first, w: row.slice(first, last + 1) };
  });
  const hann = Float64Array.from({ length: cfg.window }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / cfg.window));
  const re = new Float64Array(cfg.n_fft);
  const im = new Float64Array(cfg.n_fft);
  const power = new Float64Array(cfg.n_fft / 2 + 1);
  for (let f = 0; f < frames; f++) {
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < cfg.window; i++) re[i] = samples[f * cfg.hop + i] * hann[i];
    fft(re, im);
    for (let k = 0; k < power.length; k++) power[k] = re[k] * re[k] + im[k] * im[k];
    for (let m = 0; m < cfg.n_mels; m++) {
      const { first, w } = bank[m];
      let e = 0;
      for (let k = 0; k < w.length; k++) e += w[k] * power[first + k];
      data[f * cfg.n_mels + m] = Math.log(Math.max(e, cfg.log_floor));
    }
  }
  return { frames, data };
}

/** Mono 16-bit PCM WAV → samples in [-1, 1). Tolerates the unknown-length header espeak-ng --stdout writes. */
export function parseWav(bytes: Buffer): { sampleRate: number; samples: Float32Array } {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE')
    throw new Error('not a RIFF/WAVE stream');
  let pos = 12;
  let sampleRate = 0;
  while (pos + 8 <= bytes.length) {
    const id = bytes.toString('latin1', pos, pos + 4);
    const size = bytes.readUInt32LE(pos + 4);
    if (id === 'fmt ') {
      const format = bytes.readUInt16LE(pos + 8);
      const channels = bytes.readUInt16LE(pos + 10);
      sampleRate = bytes.readUInt32LE(pos + 12);
      const bits = bytes.readUInt16LE(pos + 22);
      if (format !== 1 || channels !== 1 || bits !== 16)
        throw new Error(`WAV is format ${format}, ${channels} channels, ${bits} bits; expected mono 16-bit PCM`);
    } else if (id === 'data') {
      if (!sampleRate) throw new Error('WAV data before fmt chunk');
      // A streamed WAV has a placeholder size: read to the end of what arrived.
      const end = Math.min(bytes.length, pos + 8 + size);
      const count = Math.floor((end - pos - 8) / 2);
      const samples = new Float32Array(count);
      for (let i = 0; i < count; i++) samples[i] = bytes.readInt16LE(pos + 8 + 2 * i) / 32768;
      return { sampleRate, samples };
    }
    pos += 8 + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const resampleCache = new Map<string, { up: number; down: number; half: number; phases: Float64Array[] }>();

/**
 * Band-limited resampling by a rational factor: windowed-sinc (Blackman, ±16 taps of the
 * slower rate) evaluated per output phase, cut off at 0.94 × the lower Nyquist frequency.
 */
export function resample(x: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return x.slice();
  const key = `${from}:${to}`;
  let plan = resampleCache.get(key);
  if (!plan) {
    const g = gcd(from, to);
    const up = to / g; // output samples per `down` input samples
    const down = from / g;
    const ratio = Math.min(1, to / from); // cut-off relative to the input Nyquist
    const cutoff = 0.94 * ratio;
    const half = Math.ceil(16 / ratio);
    const phases = Array.from({ length: up }, (_, p) => {
      const frac = ((p * down) % up) / up; // fractional input position of output phase p
      const taps = new Float64Array(2 * half);
      for (let j = 0; j < 2 * half; j++) {
        const t = j - half + 1 - frac; // input tap offset relative to the exact position
        const sinc = t === 0 ? 1 : Math.sin(Math.PI * cutoff * t) / (Math.PI * cutoff * t);
        const u = (t + half) / (2 * half); // 0..1 across the window
        const w = u <= 0 || u >= 1 ? 0 : 0.42 - 0.5 * Math.cos(2 * Math.PI * u) + 0.08 * Math.cos(4 * Math.PI * u);
        taps[j] = cutoff * sinc * w;
      }
      return taps;
    });
    plan = { up, down, half, phases };
    resampleCache.set(key, plan);
  }
  const { up, down, half, phases } = plan;
  const n = Math.floor((x.length * up) / down);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const base = Math.floor((i * down) / up);
    const taps = phases[i % up];
    const k0 = base - half + 1;
    // Taps that fall outside the signal read zeros.
    const jFrom = Math.max(0, -k0);
    const jTo = Math.min(taps.length, x.length - k0);
    let s = 0;
    for (let j = jFrom; j < jTo; j++) s += x[k0 + j] * taps[j];
    y[i] = s;
  }
  return y;
}
