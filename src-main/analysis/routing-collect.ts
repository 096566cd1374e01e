/**
 * The routing analysis of a MoE run (collect part; maths in routing.ts):
 *   - over training, from metrics.jsonl: expert load, auxiliary and z-losses, router entropy and
 *     dropped rate per (layer, MoE tower);
 *   - at each chosen checkpoint, on the probe windows (run-checkpoints.ts): every probe token's
 *     top expert (capture.ts), its input modality and window position → the expert × modality
 *     affinity and its mutual information, the consecutive same-expert rate against 1/E, dropped
 *     tokens by modality and position bucket, and agreement with the previous checkpoint.
 * The probe windows go through the model in batches of the run's batch_size, so the capacity rule
 * (which depends on how many tokens a tower gets per batch) drops tokens as it did in training;
 * a token counts as dropped when no expert kept it (decideRouting, the training rule).
 */
import { MotlabError } from '../common/errors.ts';
import type { CheckpointRouting, RoutingReport } from '../common/analysis-reports.ts';
export type { RoutingReport } from '../common/analysis-reports.ts';
import { captureActivations } from '../model/capture.ts';
import { prepareBatch } from '../model/batch.ts';
import { towerTable } from '../model/config.ts';
import { decideRouting } from '../model/moe.ts';
import {
  affinityMatrix,
  consecutiveSameExpert,
  droppedByModality,
  droppedByPosition,
  mutualInformation,
  routingAgreement,
  routingOverTraining,
  DROPPED,
  type TokenRouting,
} from './routing.ts';
import {
  disposeParams,
  loadCheckpointParams,
  loadDatasetOf,
  probeWindows,
  readRunForAnalysis,
  type CheckpointSelection,
} from './run-checkpoints.ts';

export interface RoutingOptions extends CheckpointSelection {
  /** Probe windows (first N evaluation windows of the val split). Default 16. */
  probeWindows?: number;
  /** Position buckets for the dropped rate. Default 4. */
  positionBuckets?: number;
  onProgress?: (done: number, total: number, what: string) => void;
}

export async function analyzeRouting(runDir: string, options: RoutingOptions = {}): Promise<RoutingReport> {
  const { run, records, checkpoints } = await readRunForAnalysis(runDir, options);
  const config = run.model;
  const moe = config.moe;
  if (!moe) throw new MotlabError('invalid_request', `${runDir}: the model has no MoE towers, so there is no routing to analyse`);
  const overTraining = routingOverTraining(records, { auxLoss: moe.aux_loss, zLoss: moe.z_loss });
  const dataset = await loadDatasetOf(run);
  const probe = probeWindows(dataset, config.seq_len, options.probeWindows ?? 16);
  const S = config.seq_len;
  const N = probe.windows * S;
  const modalities = config.modalities.map((m) => m.name);
  const ffnTowerOf = towerTable(config, 'ffn');
  const batchWindows = run.training.batch_size;
  const buckets = options.positionBuckets ?? 4;

  const atCheckpoints: CheckpointRouting[] = [];
  const previous = new Map<string, { step: number; expert: Int32Array }>();
  for (const [ci, checkpoint] of checkpoints.entries()) {
    options.onProgress?.(ci, checkpoints.length, `checkpoint ${checkpoint.step}`);
    const { config: ckConfig, params } = await loadCheckpointParams(checkpoint.dir);
    // Per layer with MoE: the kept expert (or DROPPED) and the modality of every probe token.
    const expert = new Map<number, Int32Array>();
    const modality = new Int32Array(N);
    try {
      for (let w0 = 0; w0 < probe.windows; w0 += batchWindows) {
        const B = Math.min(batchWindows, probe.windows - w0);
        const inputs = probe.inputs.subarray(w0 * S, (w0 + B) * S);
        const batch = prepareBatch(ckConfig, inputs, probe.targets.subarray(w0 * S, (w0 + B) * S), B);
        try {
          modality.set(batch.inputModality, w0 * S);
          const acts = captureActivations(ckConfig, params, batch, { layers: moeLayers(ckConfig.n_layers) });
          for (const layer of acts.layers) {
            if (!layer.routing) continue;
            if (!expert.has(layer.layer)) expert.set(layer.layer, new Int32Array(N).fill(DROPPED));
            const out = expert.get(layer.layer)!;
            const E = moe.experts;
            for (const t of moe.towers) {
              const positions: number[] = [];
              for (let p = 0; p < B * S; p++) if (ffnTowerOf[batch.inputModality[p]] === t) positions.push(p);
              const probs = new Float32Array(positions.length * E);
              positions.forEach((p, i) => probs.set(layer.routing!.probabilities.subarray(p * E, (p + 1) * E), i * E));
              const decision = decideRouting(probs, positions.length, moe, positions);
              const kept = new Uint8Array(positions.length);
              decision.rows.forEach((rows) => rows.forEach((i) => (kept[i] = 1)));
              positions.forEach((p, i) => (out[w0 * S + p] = kept[i] ? layer.routing!.topExpert[p] : DROPPED));
            }
          }
        } finally {
          batch.dispose();
        }
      }
    } finally {
      disposeParams(params);
    }
    const position = Int32Array.from({ length: N }, (_, i) => i % S);
    const sequence = Int32Array.from({ length: N }, (_, i) => Math.floor(i / S));
    for (const [layer, all] of [...expert.entries()].sort((a, b) => a[0] - b[0])) {
      for (const t of moe.towers) {
        const idx: number[] = [];
        for (let i = 0; i < N; i++) if (ffnTowerOf[modality[i]] === t) idx.push(i);
        const r: TokenRouting = {
          experts: moe.experts,
          modalities,
          expert: Int32Array.from(idx, (i) => all[i]),
          modality: Int32Array.from(idx, (i) => modality[i]),
          position: Int32Array.from(idx, (i) => position[i]),
          sequence: Int32Array.from(idx, (i) => sequence[i]),
        };
        const affinity = affinityMatrix(r);
        const key = `${layer}:${t}`;
        const prev = previous.get(key);
        atCheckpoints.push({
          step: checkpoint.step,
          layer,
          tower: t,
          experts: moe.experts,
          tokens: idx.length,
          affinity,
          mutualInformation: mutualInformation(affinity.counts),
          locality: consecutiveSameExpert(r),
          droppedByModality: droppedByModality(r),
          droppedByPosition: droppedByPosition(r, Math.min(buckets, S), S),
          agreementWithPrevious: prev ? { ...routingAgreement(prev.expert, r.expert, moe.experts), previousStep: prev.step } : null,
        });
        previous.set(key, { step: checkpoint.step, expert: r.expert as Int32Array });
      }
    }
  }
  options.onProgress?.(checkpoints.length, checkpoints.length, 'done');
  return {
    runDir,
    experts: moe.experts,
    routing: moe.routing,
    modalities,
    probe: { split: probe.split, windows: probe.windows, seqLen: S, tokens: N },
    overTraining,
    checkpoints: checkpoints.map((c) => c.step),
    atCheckpoints,
  };
}

/** Every layer: MoE towers sit in every layer's FFN (config `moe.towers` are per-layer ffn towers). */
function moeLayers(layers: number): number[] {
  return Array.from({ length: layers }, (_, l) => l);
}

/** Flat rows for --csv: one per (step, layer, tower, expert, modality) affinity cell, plus summary columns. */
export function routingCsvRows(report: RoutingReport): (string | number)[][] {
  const rows: (string | number)[][] = [
    ['step', 'layer', 'tower', 'expert', 'modality', 'tokens', 'p_expert_given_modality', 'mi_nats', 'same_expert_rate', 'agreement_prev'],
  ];
  for (const c of report.atCheckpoints) {
    c.affinity.counts.forEach((row, e) =>
      row.forEach((n, m) =>
        rows.push([
          c.step,
          c.layer,
          c.tower,
          e,
          report.modalities[m],
          n,
          c.affinity.expertGivenModality[e][m],
          c.mutualInformation.nats,
          c.locality.sameExpertRate,
          c.agreementWithPrevious?.agreement ?? '',
        ]),
      ),
    );
  }
  return rows;
}
