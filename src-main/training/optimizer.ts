/**
 * AdamW (decoupled weight decay, PyTorch semantics) over named tf.Variables. Its moments are
 * saved in optimizer.safetensors as `<param>.exp_avg` / `<param>.exp_avg_sq` so a resumed run
 * continues exactly where it stopped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedAdamW } from '../engine/kernels/adamw.ts';
import { MotlabError } from '../common/errors.ts';
import { describeList } from '../common/text.ts';

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number;
}

export class AdamW {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  /** Number of updates applied so far (the bias-correction step). */
  stepCount = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly settings: AdamWSettings,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false, `${name}.exp_avg`));
      this.v.set(name, tf.variable(tf.zerosLike(p), false, `${name}.exp_avg_sq`));
    }
  }

  /**
   * Weight decay applies to matrices (rank ≥ 2): every linear layer, the embedding and the output
   * layer. Norm weights (rank 1) are not decayed.
   */
  private decays(p: tf.Variable): boolean {
    return p.rank >= 2;
  }

  /**
   * Apply one update. Each gradient is first multiplied by `gradScale` (1/accumulation × clip
   * factor; skipped when 1). On wasm and cpu one fused kernel per parameter does the whole update
   * with the same float32 operations, in the same order, as the tf ops below (bit-identical).
   */
  apply(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): void {
    this.stepCount += 1;
    const { beta1, beta2, eps, weight_decay } = this.settings;
    const bc1 = 1 - Math.pow(beta1, this.stepCount);
    const bc2 = 1 - Math.pow(beta2, this.stepCount);
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const raw = grads.get(name);
        if (!raw) continue; // a tower that saw no token this step has no gradient
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        const decays = this.decays(p) && weight_decay > 0;
        const fused = fusedAdamW(p, raw, m, v, {
          scale: gradScale,
          beta1,
          beta2,
          eps,
          bc1,
          bc2,
          decay: decays ? 1 - lr * weight_decay : 1,
          lr,
        });
        if (fused) {
          m.assign(fused[1]);
          v.assign(fused[2]);
          p.assign(fused[0]);
          continue;
        }
        const g = gradScale === 1 ? raw : tf.mul(raw, gradScale);
        const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        m.assign(mNew);
        v.assign(vNew);
        const update = tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), eps));
        const decayed = decays ? tf.mul(p, 1 - lr * weight_decay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      }
    });
  }

  /** Moments as plain arrays for optimizer.safetensors. */
  stateTensors(): Record<string, { shape: number[]; data: Float32Array }> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, m] of this.m) out[`${name}.exp_avg`] = { shape: m.shape, data: m.dataSync() as Float32Array };
    for (const [name, v] of this.v) out[`${name}.exp_avg_sq`] = { shape: v.shape, data: v.dataSync() as Float32Array };
    return out;
  }

  loadStateTensors(tensors: Record<string, { shape: number[]; data: Float32Array }>, stepCount: number, source: string): void {
    for (const [name, p] of this.params) {
      for (const [suffix, target] of [
        ['exp_avg', this.m],
        ['exp_avg_sq', this.v],
      ] as const) {
        const t = tensors[`${name}.${suffix}`];
        if (!t)
          throw new MotlabError('invalid_checkpoint', `${source}: the optimizer state lacks ${name}.${suffix}; cannot resume exactly`);
        if (t.shape.join(',') !== p.shape.join(','))
          throw new MotlabError(
            'invalid_checkpoint',
            `${source}: optimizer tensor ${name}.${suffix} has shape ${describeList(t.shape)} but the parameter has ${describeList(p.shape)}`,
          );
        target.get(name)!.assign(tf.tensor(t.data, t.shape, 'float32'));
      }
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
