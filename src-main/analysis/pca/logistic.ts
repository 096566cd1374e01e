/**
 * Multinomial logistic regression (softmax with intercepts, L2 on the weights) fitted by
 * L-BFGS in float64: deterministic (fixed arithmetic order, no randomness) with a fixed
 * iteration budget. The objective is scikit-learn's LogisticRegression(multi_class=
 * 'multinomial', penalty='l2', C):
 *
 *   Σᵢ −log softmax(W xᵢ + b)[yᵢ] + ‖W‖²_F / (2C)
 *
 * which we minimise divided by the number of rows (same minimiser, better scaled). Converged
 * means the gradient of the undivided objective is at most `tolerance` in every coordinate,
 * scikit-learn's own criterion (its `tol`, default 1e-4).
 */
import { ProbeRows } from './logistic-kernels.ts';

export interface LogisticOptions {
  /** Inverse regularisation strength, as scikit-learn's C. Default 1. */
  c?: number;
  /** L-BFGS iterations at most. Default 300. */
  maxIterations?: number;
  /** Default 1e-4. */
  tolerance?: number;
}

export interface LogisticModel {
  classes: number;
  d: number;
  /** Row-major [classes, d]. */
  weights: Float64Array;
  intercepts: Float64Array;
  iterations: number;
  converged: boolean;
}

/**
 * Fit on n rows of `x` (row-major [n, d], float64, already standardised by the caller) with
 * labels in [0, classes).
 *
 * The objective changes only along the class-sum directions Σₖ θₖ through the penalty, so its
 * minimiser has Σₖ θₖ = 0 — and L-BFGS from θ = 0 never leaves that subspace (every gradient
 * lies in it). We therefore optimise its coordinates u in an orthonormal basis Q of the class
 * contrasts (θ = Q u, Helmert's): the same iterates as on θ, with classes − 1 dot products and
 * gradient rows per example instead of classes (a third less work for three modalities). The
 * penalty keeps its form, ‖θ‖² = ‖u‖², and the θ gradient is Q times the u gradient.
 */
export function fitLogistic(
  x: Float64Array,
  n: number,
  d: number,
  labels: Int32Array,
  classes: number,
  options: LogisticOptions = {},
): LogisticModel {
  const { c = 1, maxIterations = 300, tolerance = 1e-4 } = options;
  const lambda = 1 / (c * n);
  const contrasts = classes - 1;
  const stride = d + 1; // per contrast: d weights, then the intercept
  const q = helmert(classes);
  // One row's logits and exponentials (the class with the largest logit gets exactly 1).
  const logits = new Float64Array(classes);
  const exps = new Float64Array(classes);
  // Per contrast t, column-major: scores[t·n + i] = u_t · (x_i, 1), then the residuals
  // Qᵀ(softmax − onehot) in place. The passes over the rows take contrasts two at a time
  // (logistic-kernels.ts), a lone last one with a zero partner.
  const scores = new Float64Array(contrasts * n);
  const rows = new ProbeRows(x, n, d);
  const { pairs } = rows;

  /** Mean objective at u; its gradient into `grad`. */
  const evaluate = (u: Float64Array, grad: Float64Array): number => {
    for (let t = 0; t < contrasts; t += 2) {
      const paired = t + 1 < contrasts;
      rows.a.set(u.subarray(t * stride, t * stride + d));
      if (paired) rows.b.set(u.subarray((t + 1) * stride, (t + 1) * stride + d));
      else rows.b.fill(0);
      rows.dots();
      const intercept = u[t * stride + d];
      for (let i = 0; i < n; i++) scores[t * n + i] = pairs[2 * i] + intercept;
      if (paired) {
        const next = u[(t + 1) * stride + d];
        for (let i = 0; i < n; i++) scores[(t + 1) * n + i] = pairs[2 * i + 1] + next;
      }
    }
    // Row by row: the logits (θ = Q u), the softmax, the loss and the residuals in the contrasts,
    // Qᵀ(softmax − onehot), written over the row's scores (one pass instead of ~20 over all rows).
    // loss = Σᵢ max + log Σexps − logit of the label. Each Σexps is in [1, classes], so the log
    // of a product of 32 of them replaces 32 logs without overflow (classes < 2³¹).
    let loss = 0;
    let product = 1;
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      let top = 0;
      for (let k = 0; k < classes; k++) {
        let logit = 0;
        for (let t = 0; t < contrasts; t++) {
          const w = q[k * contrasts + t];
          if (w !== 0) logit += w * scores[t * n + i];
        }
        logits[k] = logit;
        if (k === 0 || logit > max) {
          max = logit;
          top = k;
        }
      }
      let sum = 0;
      for (let k = 0; k < classes; k++) {
        const e = k === top ? 1 : Math.exp(logits[k] - max);
        exps[k] = e;
        sum += e;
      }
      const label = labels[i];
      loss += max - logits[label];
      product *= sum;
      if ((i & 31) === 31) {
        loss += Math.log(product);
        product = 1;
      }
      exps[label] -= sum;
      const inverse = 1 / sum;
      for (let t = 0; t < contrasts; t++) {
        let residual = 0;
        for (let k = 0; k < classes; k++) {
          const w = q[k * contrasts + t];
          if (w !== 0) residual += w * exps[k];
        }
        scores[t * n + i] = residual * inverse;
      }
    }
    loss += Math.log(product);
    for (let t = 0; t < contrasts; t += 2) {
      const paired = t + 1 < contrasts;
      for (let i = 0; i < n; i++) {
        pairs[2 * i] = scores[t * n + i];
        pairs[2 * i + 1] = paired ? scores[(t + 1) * n + i] : 0;
      }
      rows.g.fill(0);
      rows.h.fill(0);
      rows.sums();
      grad.set(rows.g.subarray(0, d), t * stride);
      if (paired) grad.set(rows.h.subarray(0, d), (t + 1) * stride);
    }
    let penalty = 0;
    for (let t = 0; t < contrasts; t++) {
      const at = t * stride;
      let interceptGrad = 0;
      for (let i = 0; i < n; i++) interceptGrad += scores[t * n + i];
      for (let e = 0; e < d; e++) {
        penalty += u[at + e] * u[at + e];
        grad[at + e] = grad[at + e] / n + lambda * u[at + e];
      }
      grad[at + d] = interceptGrad / n;
    }
    return loss / n + (lambda / 2) * penalty;
  };

  const u = new Float64Array(contrasts * stride);
  const theta = new Float64Array(classes * stride);
  /** θ = Q u, class-major [classes, d + 1]. */
  const toTheta = (v: Float64Array, out: Float64Array) => {
    out.fill(0);
    for (let k = 0; k < classes; k++)
      for (let t = 0; t < contrasts; t++) {
        const w = q[k * contrasts + t];
        for (let e = 0; e < stride; e++) out[k * stride + e] += w * v[t * stride + e];
      }
  };
  const result = lbfgs(evaluate, u, {
    maxIterations,
    gradientTolerance: tolerance / n,
    // More pairs than scipy's 10: about 15% fewer iterations on real features, for a two-loop
    // recursion that stays negligible beside one evaluation.
    memory: 30,
    // scikit-learn's criterion, on the gradient in θ.
    gradientSize: (grad) => {
      toTheta(grad, theta);
      return maxAbs(theta);
    },
  });
  toTheta(u, theta);
  const weights = new Float64Array(classes * d);
  const intercepts = new Float64Array(classes);
  for (let k = 0; k < classes; k++) {
    weights.set(theta.subarray(k * stride, k * stride + d), k * d);
    intercepts[k] = theta[k * stride + d];
  }
  return { classes, d, weights, intercepts, iterations: result.iterations, converged: result.converged };
}

/**
 * Helmert's contrasts, row-major [classes, classes − 1]: orthonormal columns, each orthogonal
 * to (1, …, 1); column t is (1, …, 1, −(t + 1), 0, …, 0) / √((t + 1)(t + 2)).
 */
function helmert(classes: number): Float64Array {
  const q = new Float64Array(classes * (classes - 1));
  for (let t = 0; t < classes - 1; t++) {
    const norm = Math.sqrt((t + 1) * (t + 2));
    for (let k = 0; k <= t; k++) q[k * (classes - 1) + t] = 1 / norm;
    q[(t + 1) * (classes - 1) + t] = -(t + 1) / norm;
  }
  return q;
}

/** The most probable class of each of the n rows of `x` (ties: the lowest class). */
export function predictLogistic(model: LogisticModel, x: Float64Array, n: number): Int32Array {
  const { classes, d, weights, intercepts } = model;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    for (let k = 0; k < classes; k++) {
      const s = intercepts[k] + dotAt(weights, k * d, x, i * d, d);
      if (s > best) {
        best = s;
        out[i] = k;
      }
    }
  }
  return out;
}

interface LbfgsOptions {
  maxIterations: number;
  /** Stop when every gradient coordinate is at most this in magnitude. */
  gradientTolerance: number;
  /** Correction pairs kept. */
  memory?: number;
  /** The size of a gradient compared with gradientTolerance. Default: its largest |coordinate|. */
  gradientSize?: (grad: Float64Array) => number;
}

/**
 * Minimise f from θ (updated in place) by L-BFGS with a backtracking line search;
 * a correction pair is stored only when its curvature sᵀy is positive, keeping the implied
 * Hessian approximation positive definite.
 */
export function lbfgs(
  f: (theta: Float64Array, grad: Float64Array) => number,
  theta: Float64Array,
  options: LbfgsOptions,
): { value: number; iterations: number; converged: boolean } {
  const { maxIterations, gradientTolerance, memory = 10, gradientSize = maxAbs } = options;
  const size = theta.length;
  const grad = new Float64Array(size);
  const nextGrad = new Float64Array(size);
  const next = new Float64Array(size);
  const direction = new Float64Array(size);
  const s: Float64Array[] = [];
  const y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(memory);
  let value = f(theta, grad);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    if (gradientSize(grad) <= gradientTolerance) return { value, iterations: iteration, converged: true };
    // Two-loop recursion: direction = −H·grad.
    direction.set(grad);
    for (let m = s.length - 1; m >= 0; m--) {
      alpha[m] = rho[m] * dot(s[m], direction);
      axpy(-alpha[m], y[m], direction);
    }
    const gamma = s.length ? dot(s[s.length - 1], y[y.length - 1]) / dot(y[y.length - 1], y[y.length - 1]) : 1 / Math.sqrt(dot(grad, grad));
    for (let e = 0; e < size; e++) direction[e] *= gamma;
    for (let m = 0; m < s.length; m++) {
      const beta = rho[m] * dot(y[m], direction);
      axpy(alpha[m] - beta, s[m], direction);
    }
    for (let e = 0; e < size; e++) direction[e] = -direction[e];
    let slope = dot(grad, direction);
    if (!(slope < 0)) {
      // Not a descent direction (rounding): restart from steepest descent.
      s.length = y.length = rho.length = 0;
      for (let e = 0; e < size; e++) direction[e] = -grad[e] / Math.sqrt(dot(grad, grad));
      slope = dot(grad, direction);
    }
    // Armijo's sufficient decrease, or — once decreases are lost in f's rounding — its
    // quadratic-model equivalent on the slope, φ'(step) ≤ (1 − 2·1e-4)·|φ'(0)| (Hager–Zhang's
    // approximate Wolfe condition).
    const roundingAllowance = 1e-12 * Math.abs(value);
    let step = 1;
    let nextValue = Infinity;
    let accepted = false;
    for (let tries = 0; tries < 40 && !accepted; tries++) {
      if (tries > 0) step /= 2;
      for (let e = 0; e < size; e++) next[e] = theta[e] + step * direction[e];
      nextValue = f(next, nextGrad);
      accepted =
        nextValue <= value + 1e-4 * step * slope ||
        (nextValue <= value + roundingAllowance && dot(nextGrad, direction) <= -(1 - 2e-4) * slope);
    }
    if (!accepted) return { value, iterations: iteration, converged: false }; // no progress possible
    const sNew = new Float64Array(size);
    const yNew = new Float64Array(size);
    for (let e = 0; e < size; e++) {
      sNew[e] = next[e] - theta[e];
      yNew[e] = nextGrad[e] - grad[e];
    }
    const curvature = dot(sNew, yNew);
    if (curvature > 1e-12 * Math.sqrt(dot(sNew, sNew) * dot(yNew, yNew))) {
      if (s.length === memory) {
        s.shift();
        y.shift();
        rho.shift();
      }
      s.push(sNew);
      y.push(yNew);
      rho.push(1 / curvature);
    }
    theta.set(next);
    grad.set(nextGrad);
    value = nextValue;
  }
  return { value, iterations: maxIterations, converged: gradientSize(grad) <= gradientTolerance };
}

/**
 * a[aAt…aAt+length) · b[bAt…bAt+length) with four running sums: independent chains instead of
 * one, so the loop is not bound by the latency of each addition (about 2× here).
 */
function dotAt(a: Float64Array, aAt: number, b: Float64Array, bAt: number, length: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 4 <= length; j += 4) {
    s0 += a[aAt + j] * b[bAt + j];
    s1 += a[aAt + j + 1] * b[bAt + j + 1];
    s2 += a[aAt + j + 2] * b[bAt + j + 2];
    s3 += a[aAt + j + 3] * b[bAt + j + 3];
  }
  for (; j < length; j++) s0 += a[aAt + j] * b[bAt + j];
  return s0 + s1 + (s2 + s3);
}

function maxAbs(v: Float64Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}
