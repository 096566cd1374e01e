/**
 * A plain-JS reference of docs/architecture.md's forward pass and loss, written from the spec and
 * nothing else: loops over arrays in float64, one token at a time, each token using its own
 * towers' weights directly (no grouping, no tensors). Slow and obvious on purpose — the
 * TensorFlow.js model is checked against it.
 */
import type { ModelConfig } from '../../src-main/model/config.ts';

export type RefParams = Record<string, ArrayLike<number>>;

export interface RefMoeRouting {
  layer: number;
  tower: number;
  /** Per expert, the global positions (b·S+s) it processed. */
  kept: number[][];
  /** Global positions with at least one dropped choice (token-choice) / no expert (expert-choice). */
  dropped: number[];
  capacity: number;
  /** The tower's global positions (sequence order) and each one's router probabilities [E]. */
  positions: number[];
  probabilities: number[][];
}

export interface RefOutput {
  logits: Float64Array; // [N·V]
  ce: Float64Array; // [N]
  meanCe: number;
  aux: number;
  loss: number;
  /** Mean CE over positions whose target is of modality m (null when none). */
  modalityLoss: (number | null)[];
  modalityCounts: number[];
  routing: RefMoeRouting[];
  /** FFN output (before the chameleon norm) per layer, per position. */
  ffnOut: Float64Array[][];
  /** Attention output o = W_o a (before the chameleon norm) per layer, per position. */
  attentionOut: Float64Array[][];
  /** The residual stream after each block, per layer, per position. */
  hidden: Float64Array[][];
}

function weight(params: RefParams, name: string): ArrayLike<number> {
  const w = params[name];
  if (!w) throw new Error(`reference: no parameter ${name}`);
  return w;
}

/** y = W x with W stored row-major [out, in]. */
function matvec(w: ArrayLike<number>, x: ArrayLike<number>, out: number): Float64Array {
  const inn = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let j = 0; j < inn; j++) s += w[o * inn + j] * x[j];
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  let ms = 0;
  for (let j = 0; j < x.length; j++) ms += x[j] * x[j];
  ms /= x.length;
  const r = 1 / Math.sqrt(ms + 1e-5);
  return Float64Array.from(x, (v, j) => v * r * w[j]);
}

function add(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (v, j) => v + b[j]);
}

function swiglu(x: ArrayLike<number>, w1: ArrayLike<number>, w2: ArrayLike<number>, w3: ArrayLike<number>, F: number): Float64Array {
  const a = matvec(w1, x, F);
  const b = matvec(w3, x, F);
  const g = a.map((v, j) => (v / (1 + Math.exp(-v))) * b[j]);
  return matvec(w2, g, x.length);
}

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function logSumExp(z: ArrayLike<number>): number {
  let m = -Infinity;
  for (let j = 0; j < z.length; j++) m = Math.max(m, z[j]);
  let s = 0;
  for (let j = 0; j < z.length; j++) s += Math.exp(z[j] - m);
  return m + Math.log(s);
}

/** Index of the largest value not yet excluded (first one on ties). */
function argmaxExcluding(values: number[], excluded: Set<number>): number {
  let best = -1;
  for (let j = 0; j < values.length; j++) {
    if (excluded.has(j)) continue;
    if (best < 0 || values[j] > values[best]) best = j;
  }
  return best;
}

/** MoE over one tower's tokens (rows in sequence order); returns outputs, aux loss, routing. */
function moe(
  config: ModelConfig,
  params: RefParams,
  prefix: string,
  tower: number,
  rows: Float64Array[],
  positions: number[],
): { out: Float64Array[]; aux: number; kept: number[][]; dropped: number[]; capacity: number; p: number[][] } {
  const m = config.moe!;
  const E = m.experts;
  const F = config.ffn_hidden;
  const n = rows.length;
  const router = weight(params, `${prefix}.feed_forward.router.${tower}.weight`);
  const logits = rows.map((x) => Array.from(matvec(router, x, E)));
  const p = logits.map(softmax);
  const gates: Map<number, number>[] = Array.from({ length: n }, () => new Map()); // token → expert → gate
  const kept: number[][] = Array.from({ length: E }, () => []);
  const droppedSet = new Set<number>();
  let capacity: number;
  if (m.routing === 'token_choice') {
    capacity = Math.ceil((m.capacity_factor * n * m.top_k) / E);
    for (let i = 0; i < n; i++) {
      const chosen: number[] = [];
      const excluded = new Set<number>();
      for (let r = 0; r < m.top_k; r++) {
        const e = argmaxExcluding(p[i], excluded);
        excluded.add(e);
        chosen.push(e);
      }
      const denom = m.renormalize ? chosen.reduce((s, e) => s + p[i][e], 0) : 1;
      for (const e of chosen) {
        if (kept[e].length < capacity) {
          kept[e].push(i);
          gates[i].set(e, p[i][e] / denom);
        } else {
          droppedSet.add(i);
        }
      }
    }
  } else {
    capacity = Math.min(n, Math.ceil((m.capacity_factor * n) / E));
    for (let e = 0; e < E; e++) {
      const column = p.map((pi) => pi[e]);
      const excluded = new Set<number>();
      for (let c = 0; c < capacity; c++) {
        const i = argmaxExcluding(column, excluded);
        excluded.add(i);
        kept[e].push(i);
        gates[i].set(e, p[i][e]);
      }
      kept[e].sort((a, b) => a - b);
    }
    for (let i = 0; i < n; i++) if (gates[i].size === 0) droppedSet.add(i);
  }
  const out = rows.map((x, i) => {
    const y = new Float64Array(x.length);
    for (const [e, g] of gates[i]) {
      const w = (name: string) => weight(params, `${prefix}.feed_forward.experts.${tower}.${e}.${name}.weight`);
      const ye = swiglu(x, w('w1'), w('w2'), w('w3'), F);
      for (let j = 0; j < y.length; j++) y[j] += g * ye[j];
    }
    return y;
  });
  let aux = 0;
  if (m.routing === 'token_choice') {
    const f = new Array<number>(E).fill(0);
    const P = new Array<number>(E).fill(0);
    for (let i = 0; i < n; i++) {
      f[argmaxExcluding(p[i], new Set())] += 1 / n;
      for (let e = 0; e < E; e++) P[e] += p[i][e] / n;
    }
    aux += m.aux_loss * E * f.reduce((s, fe, e) => s + fe * P[e], 0);
    aux += (m.z_loss * logits.reduce((s, z) => s + logSumExp(z) ** 2, 0)) / n;
  }
  return {
    out,
    aux,
    kept: kept.map((list) => list.map((i) => positions[i])),
    dropped: [...droppedSet].sort((a, b) => a - b).map((i) => positions[i]),
    capacity,
    p,
  };
}

export function referenceForward(
  config: ModelConfig,
  params: RefParams,
  inputs: ArrayLike<number>,
  targets: ArrayLike<number>,
  batchSize: number,
): RefOutput {
  const { d_model: D, n_heads: H, ffn_hidden: F, vocab_size: V, seq_len: S } = config;
  const hd = D / H;
  const half = hd / 2;
  const N = batchSize * S;
  const modalityOf = (token: number) => config.modalities.findIndex((m) => token >= m.start && token < m.end);
  const towerOf = (component: 'attention' | 'ffn' | 'norm', token: number) =>
    config.towers[component].findIndex((group) => group.includes(config.modalities[modalityOf(token)].name));
  const tA = Array.from({ length: N }, (_, i) => towerOf('attention', inputs[i]));
  const tF = Array.from({ length: N }, (_, i) => towerOf('ffn', inputs[i]));
  const tN = Array.from({ length: N }, (_, i) => towerOf('norm', inputs[i]));
  const pre = config.norm_style === 'pre';
  const embed = weight(params, 'embed.weight');

  let h: Float64Array[] = Array.from({ length: N }, (_, i) => Float64Array.from({ length: D }, (_, j) => embed[inputs[i] * D + j]));
  let aux = 0;
  const routing: RefMoeRouting[] = [];
  const ffnOutAll: Float64Array[][] = [];
  const attentionOut: Float64Array[][] = [];
  const hidden: Float64Array[][] = [];

  for (let l = 0; l < config.n_layers; l++) {
    const L = `layers.${l}`;
    const attnNorm = (i: number) => weight(params, `${L}.attention_norm.${tN[i]}.weight`);
    const ffnNorm = (i: number) => weight(params, `${L}.ffn_norm.${tN[i]}.weight`);
    const xa = h.map((x, i) => (pre ? rmsNorm(x, attnNorm(i)) : x));
    const proj = (w: string, i: number) => matvec(weight(params, `${L}.attention.${w}.${tA[i]}.weight`), xa[i], D);
    const q = xa.map((_, i) => proj('wq', i));
    const k = xa.map((_, i) => proj('wk', i));
    const v = xa.map((_, i) => proj('wv', i));
    // QK-norm per head, then RoPE (rotate-half) per head at the position in the window.
    for (let i = 0; i < N; i++) {
      const pos = i % S;
      for (const [vec, normName] of [
        [q[i], 'q_norm'],
        [k[i], 'k_norm'],
      ] as const) {
        for (let j = 0; j < H; j++) {
          let head: Float64Array = vec.slice(j * hd, (j + 1) * hd);
          if (config.qk_norm) head = rmsNorm(head, weight(params, `${L}.attention.${normName}.${tA[i]}.weight`));
          const rotated = Float64Array.from({ length: hd }, (_, d) => (d < half ? -head[d + half] : head[d - half]));
          for (let d = 0; d < hd; d++) {
            const angle = pos * Math.pow(config.rope_theta, (-2 * (d % half)) / hd);
            vec[j * hd + d] = head[d] * Math.cos(angle) + rotated[d] * Math.sin(angle);
          }
        }
      }
    }
    // Global causal attention within each window.
    const a = Array.from({ length: N }, () => new Float64Array(D));
    for (let b = 0; b < batchSize; b++) {
      for (let j = 0; j < H; j++) {
        for (let s = 0; s < S; s++) {
          const i = b * S + s;
          const scores: number[] = [];
          for (let t = 0; t <= s; t++) {
            let dot = 0;
            for (let d = 0; d < hd; d++) dot += q[i][j * hd + d] * k[b * S + t][j * hd + d];
            scores.push(dot / Math.sqrt(hd));
          }
          const w = softmax(scores);
          for (let t = 0; t <= s; t++) for (let d = 0; d < hd; d++) a[i][j * hd + d] += w[t] * v[b * S + t][j * hd + d];
        }
      }
    }
    const o = a.map((ai, i) => matvec(weight(params, `${L}.attention.wo.${tA[i]}.weight`), ai, D));
    attentionOut.push(o);
    const u = h.map((hi, i) => add(hi, pre ? o[i] : rmsNorm(o[i], attnNorm(i))));
    const xf = u.map((ui, i) => (pre ? rmsNorm(ui, ffnNorm(i)) : ui));

    const f: Float64Array[] = new Array(N);
    for (let t = 0; t < config.towers.ffn.length; t++) {
      const positions = [...Array(N).keys()].filter((i) => tF[i] === t);
      if (positions.length === 0) continue;
      if (config.moe?.towers.includes(t)) {
        const r = moe(
          config,
          params,
          L,
          t,
          positions.map((i) => xf[i]),
          positions,
        );
        positions.forEach((i, j) => (f[i] = r.out[j]));
        aux += r.aux;
        routing.push({ layer: l, tower: t, kept: r.kept, dropped: r.dropped, capacity: r.capacity, positions, probabilities: r.p });
      } else {
        const w = (name: string) => weight(params, `${L}.feed_forward.${name}.${t}.weight`);
        for (const i of positions) f[i] = swiglu(xf[i], w('w1'), w('w2'), w('w3'), F);
      }
    }
    ffnOutAll.push(f);
    h = u.map((ui, i) => add(ui, pre ? f[i] : rmsNorm(f[i], ffnNorm(i))));
    hidden.push(h);
  }

  const out = weight(params, 'output.weight');
  const logits = new Float64Array(N * V);
  const ce = new Float64Array(N);
  const M = config.modalities.length;
  const sums = new Array<number>(M).fill(0);
  const counts = new Array<number>(M).fill(0);
  for (let i = 0; i < N; i++) {
    const z = matvec(out, rmsNorm(h[i], weight(params, `norm.${tN[i]}.weight`)), V);
    logits.set(z, i * V);
    ce[i] = logSumExp(z) - z[targets[i]];
    const m = modalityOf(targets[i]);
    sums[m] += ce[i];
    counts[m]++;
  }
  const meanCe = ce.reduce((s, x) => s + x, 0) / N;
  return {
    logits,
    ce,
    meanCe,
    aux,
    loss: meanCe + aux,
    modalityLoss: sums.map((s, m) => (counts[m] > 0 ? s / counts[m] : null)),
    modalityCounts: counts,
    routing,
    ffnOut: ffnOutAll,
    attentionOut,
    hidden,
  };
}
