/**
 * Routing statistics of MoE towers. Two sources:
 *   - the router statistics training writes per step and layer (metrics.jsonl `moe`), giving
 *     expert load, auxiliary and z-losses, router entropy and dropped-token rate over training;
 *   - per-token routing decisions taken at a checkpoint on a probe set (expert, modality and
 *     position of every token), giving the expert × modality affinity and its mutual
 *     information, positional locality, dropped tokens by modality and position, and the
 *     agreement between two checkpoints.
 * Entropies and information are in nats unless a field says bits. Pure functions (no Node, no tfjs).
 */
import type { MetricsRecord, MoeRoutingStats } from '../common/metrics.ts';
import { MotlabError } from '../common/errors.ts';
import type { RoutingSeries } from '../common/analysis-reports.ts';

// ---------------------------------------------------------------------------------------------
// Known quantities

/** Shannon entropy (nats) of a distribution given by non-negative weights (normalised here). */
export function entropy(weights: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  if (!(total > 0)) return NaN;
  let h = 0;
  for (let i = 0; i < weights.length; i++) {
    const p = weights[i] / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

/**
 * Switch Transformer's load-balancing loss `α·E·Σ_e f_e·P_e`: f_e the share of tokens whose
 * first choice is e, P_e the mean router probability of e. Uniform routing gives α.
 */
export function loadBalanceLoss(firstChoiceShare: ArrayLike<number>, meanProb: ArrayLike<number>, coefficient: number): number {
  if (firstChoiceShare.length !== meanProb.length) {
    throw new MotlabError('invalid_request', `load balance: ${firstChoiceShare.length} shares for ${meanProb.length} experts`);
  }
  let sum = 0;
  for (let e = 0; e < meanProb.length; e++) sum += firstChoiceShare[e] * meanProb[e];
  return coefficient * meanProb.length * sum;
}

/**
 * Share of routing choices that were dropped. Token-choice counts rejected choices out of all
 * choices (kept rows + dropped); expert-choice counts tokens no expert picked out of all tokens.
 */
export function droppedRate(stats: Pick<MoeRoutingStats, 'routing' | 'tokens' | 'tokensPerExpert' | 'dropped'>): number {
  if (stats.routing === 'expert_choice') return stats.tokens > 0 ? stats.dropped / stats.tokens : NaN;
  const kept = stats.tokensPerExpert.reduce((s, n) => s + n, 0);
  const choices = kept + stats.dropped;
  return choices > 0 ? stats.dropped / choices : NaN;
}

// ---------------------------------------------------------------------------------------------
// Over training, from the metrics records

/** Coefficients the model was trained with (config `moe.aux_loss`, `moe.z_loss`). */
export interface RouterLossCoefficients {
  auxLoss: number;
  zLoss: number;
}

/**
 * Router statistics of every (layer, tower) found in the training records, ordered by layer
 * then tower, each over the steps that logged it. Records of a re-trained step (after a resume)
 * replace the earlier ones.
 */
export function routingOverTraining(records: readonly MetricsRecord[], coefficients: RouterLossCoefficients): RoutingSeries[] {
  const byTower = new Map<string, Map<number, MoeRoutingStats>>();
  for (const r of records) {
    if (r.type !== 'train' || !r.moe) continue;
    for (const layer of r.moe) {
      for (const stats of layer.towers) {
        const key = `${stats.layer}:${stats.tower}`;
        if (!byTower.has(key)) byTower.set(key, new Map());
        byTower.get(key)!.set(r.step, stats);
      }
    }
  }
  const result: RoutingSeries[] = [];
  for (const perStep of byTower.values()) {
    const steps = [...perStep.keys()].sort((a, b) => a - b);
    const series = steps.map((s) => perStep.get(s)!);
    const first = series[0];
    const experts = first.tokensPerExpert.length;
    for (const [i, s] of series.entries()) {
      if (s.tokensPerExpert.length !== experts || s.meanProb.length !== experts || s.firstChoiceShare.length !== experts) {
        throw new MotlabError(
          'invalid_request',
          `layer ${first.layer} tower ${first.tower}: step ${steps[i]} reports a different number of experts`,
        );
      }
    }
    const perExpert = (value: (s: MoeRoutingStats, e: number) => number): number[][] =>
      Array.from({ length: experts }, (_, e) => series.map((s) => value(s, e)));
    result.push({
      layer: first.layer,
      tower: first.tower,
      routing: first.routing,
      experts,
      steps,
      load: perExpert((s, e) => {
        const total = s.tokensPerExpert.reduce((a, b) => a + b, 0);
        return total > 0 ? s.tokensPerExpert[e] / total : NaN;
      }),
      firstChoiceShare: perExpert((s, e) => s.firstChoiceShare[e]),
      meanProb: perExpert((s, e) => s.meanProb[e]),
      loadBalance: series.map((s) => loadBalanceLoss(s.firstChoiceShare, s.meanProb, 1)),
      auxLoss: series.map((s) =>
        s.routing === 'token_choice' ? loadBalanceLoss(s.firstChoiceShare, s.meanProb, coefficients.auxLoss) : 0,
      ),
      zLoss: series.map((s) => s.zLoss),
      routerEntropy: series.map((s) => entropy(s.meanProb)),
      firstChoiceEntropy: series.map((s) => entropy(s.firstChoiceShare)),
      droppedRate: series.map((s) => droppedRate(s)),
    });
  }
  return result.sort((a, b) => a.layer - b.layer || a.tower - b.tower);
}

// ---------------------------------------------------------------------------------------------
// At a checkpoint, from per-token decisions

/** Expert index of a token no expert processed. */
export const DROPPED = -1;

/** Routing decisions of one MoE layer for the probe tokens at one checkpoint. */
export interface TokenRouting {
  experts: number;
  modalities: readonly string[];
  /** Per token: the expert of its first choice, or DROPPED when no expert processed it. */
  expert: ArrayLike<number>;
  /** Per token: index into `modalities`. */
  modality: ArrayLike<number>;
  /** Per token: position in its window (0-based). */
  position: ArrayLike<number>;
  /** Per token: its window; tokens of one window are consecutive in these arrays. Default: one window. */
  sequence?: ArrayLike<number>;
}

function checkRouting(r: TokenRouting): void {
  const n = r.expert.length;
  if (!(Number.isInteger(r.experts) && r.experts >= 1)) throw new MotlabError('invalid_request', `routing: ${r.experts} experts`);
  for (const [name, arr] of [
    ['modality', r.modality],
    ['position', r.position],
    ['sequence', r.sequence],
  ] as const) {
    if (arr && arr.length !== n) throw new MotlabError('invalid_request', `routing: ${arr.length} ${name} entries for ${n} tokens`);
  }
  for (let i = 0; i < n; i++) {
    const e = r.expert[i];
    if (!(Number.isInteger(e) && e >= DROPPED && e < r.experts)) {
      throw new MotlabError('invalid_request', `routing: token ${i} has expert ${e} (have ${r.experts} experts)`);
    }
    const m = r.modality[i];
    if (!(Number.isInteger(m) && m >= 0 && m < r.modalities.length)) {
      throw new MotlabError('invalid_request', `routing: token ${i} has modality ${m} (have ${r.modalities.length})`);
    }
  }
}

export interface Affinity {
  experts: number;
  modalities: readonly string[];
  /** [expert][modality] token counts (dropped tokens excluded). */
  counts: number[][];
  /** P(expert | modality): each modality's column sums to 1. */
  expertGivenModality: number[][];
  /** P(modality | expert): each expert's row sums to 1. */
  modalityGivenExpert: number[][];
  /** Tokens no expert processed, per modality. */
  dropped: number[];
}

/** The expert × modality affinity matrix of routed tokens. */
export function affinityMatrix(r: TokenRouting): Affinity {
  checkRouting(r);
  const E = r.experts;
  const M = r.modalities.length;
  const counts = Array.from({ length: E }, () => new Array<number>(M).fill(0));
  const dropped = new Array<number>(M).fill(0);
  for (let i = 0; i < r.expert.length; i++) {
    if (r.expert[i] === DROPPED) dropped[r.modality[i]] += 1;
    else counts[r.expert[i]][r.modality[i]] += 1;
  }
  const modalityTotals = Array.from({ length: M }, (_, m) => counts.reduce((s, row) => s + row[m], 0));
  const expertTotals = counts.map((row) => row.reduce((s, c) => s + c, 0));
  return {
    experts: E,
    modalities: r.modalities,
    counts,
    expertGivenModality: counts.map((row) => row.map((c, m) => (modalityTotals[m] > 0 ? c / modalityTotals[m] : NaN))),
    modalityGivenExpert: counts.map((row, e) => row.map((c) => (expertTotals[e] > 0 ? c / expertTotals[e] : NaN))),
    dropped,
  };
}

export interface MutualInformation {
  nats: number;
  bits: number;
  /** H(modality) of the counted tokens: the most the routing can tell about modality. */
  modalityEntropyNats: number;
  /** nats / H(modality): 0 = routing ignores modality, 1 = it determines it. */
  fractionOfModalityEntropy: number;
}

/** I(expert; modality) of a joint count table ([expert][modality]), plug-in estimate. */
export function mutualInformation(counts: readonly (readonly number[])[]): MutualInformation {
  let total = 0;
  const rowSums = counts.map((row) => row.reduce((s, c) => s + c, 0));
  const columns = counts[0]?.length ?? 0;
  const columnSums = Array.from({ length: columns }, (_, m) => counts.reduce((s, row) => s + row[m], 0));
  for (const s of rowSums) total += s;
  if (!(total > 0)) return { nats: NaN, bits: NaN, modalityEntropyNats: NaN, fractionOfModalityEntropy: NaN };
  let nats = 0;
  counts.forEach((row, e) =>
    row.forEach((c, m) => {
      if (c > 0) nats += (c / total) * Math.log((c * total) / (rowSums[e] * columnSums[m]));
    }),
  );
  nats = Math.max(0, nats); // rounding can leave -1e-17 for independent tables
  const modalityEntropyNats = entropy(columnSums);
  return {
    nats,
    bits: nats / Math.LN2,
    modalityEntropyNats,
    fractionOfModalityEntropy: modalityEntropyNats > 0 ? nats / modalityEntropyNats : NaN,
  };
}

export interface Locality {
  /** Share of consecutive routed token pairs (same window, positions p and p+1) sent to the same expert. */
  sameExpertRate: number;
  pairs: number;
  /** 1/E: the rate if routing were uniform and independent of the neighbour. */
  uniformBaseline: number;
  /** Σ_e p_e²: the rate if routing were independent of the neighbour, with the observed expert shares. */
  marginalBaseline: number;
}

/** How often consecutive tokens pick the same expert (Mixtral's positional locality). */
export function consecutiveSameExpert(r: TokenRouting): Locality {
  checkRouting(r);
  let pairs = 0;
  let same = 0;
  const shares = new Array<number>(r.experts).fill(0);
  for (let i = 0; i < r.expert.length; i++) {
    if (r.expert[i] !== DROPPED) shares[r.expert[i]] += 1;
    if (i === 0) continue;
    const sameWindow = (r.sequence?.[i] ?? 0) === (r.sequence?.[i - 1] ?? 0);
    if (!sameWindow || r.position[i] !== r.position[i - 1] + 1) continue;
    if (r.expert[i] === DROPPED || r.expert[i - 1] === DROPPED) continue;
    pairs += 1;
    if (r.expert[i] === r.expert[i - 1]) same += 1;
  }
  const routed = shares.reduce((s, c) => s + c, 0);
  return {
    sameExpertRate: pairs > 0 ? same / pairs : NaN,
    pairs,
    uniformBaseline: 1 / r.experts,
    marginalBaseline: routed > 0 ? shares.reduce((s, c) => s + (c / routed) ** 2, 0) : NaN,
  };
}

export interface Agreement {
  /** Share of tokens routed to the same expert at both checkpoints (tokens dropped at either excluded). */
  agreement: number;
  tokens: number;
  uniformBaseline: number;
}

/** Routing agreement between two checkpoints on the same probe tokens (OpenMoE's "routing fixes early"). */
export function routingAgreement(a: ArrayLike<number>, b: ArrayLike<number>, experts: number): Agreement {
  if (a.length !== b.length) throw new MotlabError('invalid_request', `routing agreement: ${a.length} tokens against ${b.length}`);
  let tokens = 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === DROPPED || b[i] === DROPPED) continue;
    tokens += 1;
    if (a[i] === b[i]) same += 1;
  }
  return { agreement: tokens > 0 ? same / tokens : NaN, tokens, uniformBaseline: 1 / experts };
}

export interface DropRate {
  label: string;
  tokens: number;
  dropped: number;
  rate: number;
}

/** Share of tokens no expert processed, per modality. */
export function droppedByModality(r: TokenRouting): DropRate[] {
  checkRouting(r);
  const tokens = new Array<number>(r.modalities.length).fill(0);
  const dropped = new Array<number>(r.modalities.length).fill(0);
  for (let i = 0; i < r.expert.length; i++) {
    tokens[r.modality[i]] += 1;
    if (r.expert[i] === DROPPED) dropped[r.modality[i]] += 1;
  }
  return r.modalities.map((label, m) => ({
    label,
    tokens: tokens[m],
    dropped: dropped[m],
    rate: tokens[m] > 0 ? dropped[m] / tokens[m] : NaN,
  }));
}

/**
 * Share of tokens no expert processed, per position bucket: `buckets` equal ranges of
 * [0, sequenceLength), labelled "from–to" (inclusive positions).
 */
export function droppedByPosition(r: TokenRouting, buckets: number, sequenceLength: number): DropRate[] {
  checkRouting(r);
  if (!(Number.isInteger(buckets) && buckets >= 1 && Number.isInteger(sequenceLength) && sequenceLength >= buckets)) {
    throw new MotlabError('invalid_request', `position buckets: ${buckets} buckets over ${sequenceLength} positions`);
  }
  const tokens = new Array<number>(buckets).fill(0);
  const dropped = new Array<number>(buckets).fill(0);
  for (let i = 0; i < r.expert.length; i++) {
    const p = r.position[i];
    if (!(p >= 0 && p < sequenceLength))
      throw new MotlabError('invalid_request', `routing: token ${i} at position ${p} (windows of ${sequenceLength})`);
    const b = Math.floor((p * buckets) / sequenceLength);
    tokens[b] += 1;
    if (r.expert[i] === DROPPED) dropped[b] += 1;
  }
  return tokens.map((n, b) => {
    const from = Math.ceil((b * sequenceLength) / buckets);
    const to = Math.ceil(((b + 1) * sequenceLength) / buckets) - 1;
    return { label: `${from}–${to}`, tokens: n, dropped: dropped[b], rate: n > 0 ? dropped[b] / n : NaN };
  });
}
