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
  const size = classes * (d + 1); // weights, then intercepts
  const logits = new Float64Array(classes);

  /** Mean objective at θ; its gradient into `grad`. */
  const evaluate = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    const bias = classes * d;
    for (let i = 0; i < n; i++) {
      const row = i * d;
      let max = -Infinity;
      for (let k = 0; k < classes; k++) {
        const s = theta[bias + k] + dotAt(theta, k * d, x, row, d);
        logits[k] = s;
        if (s > max) max = s;
      }
      let z = 0;
      for (let k = 0; k < classes; k++) z += Math.exp(logits[k] - max);
      const logZ = max + Math.log(z);
      loss += logZ - logits[labels[i]];
      for (let k = 0; k < classes; k++) {
        const residual = Math.exp(logits[k] - logZ) - (k === labels[i] ? 1 : 0);
        if (residual === 0) continue;
        addScaledAt(grad, k * d, residual, x, row, d);
        grad[bias + k] += residual;
      }
    }
    let penalty = 0;
    for (let p = 0; p < classes * d; p++) {
      penalty += theta[p] * theta[p];
      grad[p] = grad[p] / n + lambda * theta[p];
    }
    for (let k = 0; k < classes; k++) grad[classes * d + k] /= n;
    return loss / n + (lambda / 2) * penalty;
  };

  const theta = new Float64Array(size);
  const result = lbfgs(evaluate, theta, { maxIterations, gradientTolerance: tolerance / n });
  return {
    classes,
    d,
    weights: theta.slice(0, classes * d),
    intercepts: theta.slice(classes * d),
    iterations: result.iterations,
    converged: result.converged,
  };
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
  const { maxIterations, gradientTolerance, memory = 10 } = options;
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
  const maxAbs = (v: Float64Array) => v.reduce((m, e) => Math.max(m, Math.abs(e)), 0);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    if (maxAbs(grad) <= gradientTolerance) return { value, iterations: iteration, converged: true };
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
  return { value, iterations: maxIterations, converged: maxAbs(grad) <= gradientTolerance };
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

/** y[yAt…yAt+length) += scale · x[xAt…xAt+length), unrolled by four (about 2× here). */
function addScaledAt(y: Float64Array, yAt: number, scale: number, x: Float64Array, xAt: number, length: number): void {
  let j = 0;
  for (; j + 4 <= length; j += 4) {
    y[yAt + j] += scale * x[xAt + j];
    y[yAt + j + 1] += scale * x[xAt + j + 1];
    y[yAt + j + 2] += scale * x[xAt + j + 2];
    y[yAt + j + 3] += scale * x[xAt + j + 3];
  }
  for (; j < length; j++) y[yAt + j] += scale * x[xAt + j];
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}
