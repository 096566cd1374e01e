/**
 * Our fused kernels (src-main/engine/kernels/) against the chains of tf ops they replace
 * — bit for bit, values and gradients — and against float64 references, on wasm and cpu.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src-main/engine/engine.ts';
import { fusedAdamW, type AdamWAttrs } from '../../src-main/engine/kernels/adamw.ts';
import { causalMixInto, causalScoresInto, fusedCausalAttention } from '../../src-main/engine/kernels/causal-attention.ts';
import { fusedHeadsToRows, fusedRowsToHeads } from '../../src-main/engine/kernels/heads-gather.ts';
import { fusedRope } from '../../src-main/engine/kernels/rope.ts';
import { fusedRowScale } from '../../src-main/engine/kernels/row-scale.ts';
import { fusedSegmentLinear } from '../../src-main/engine/kernels/segment-linear.ts';
import { sumOfSquares } from '../../src-main/engine/kernels/sum-squares.ts';
import { fusedSwiGLU } from '../../src-main/engine/kernels/swiglu.ts';
import { Rng } from '../../src-main/util/rng.ts';

const BACKENDS = ['wasm', 'cpu'] as const;
const rng = new Rng(77031);
const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i]))))
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

async function assertBitEqual(actual: tf.Tensor, expected: tf.Tensor, what: string): Promise<void> {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.deepEqual(Array.from(await actual.data()), Array.from(await expected.data()), what);
}

before(async () => {
  assert.equal((await initEngine('wasm')).name, 'wasm');
});

async function onBackend(name: string): Promise<void> {
  assert.ok(await tf.setBackend(name));
}

describe('fused optimizer kernels', () => {
  /** The AdamW update as separate tf ops (what the fused kernel replaces), one float32 rounding per op. */
  function adamwOps(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, a: AdamWAttrs, decays: boolean): tf.Tensor[] {
    return tf.tidy(() => {
      const gs = tf.mul(g, a.scale);
      const mNew = tf.add(tf.mul(m, a.beta1), tf.mul(gs, 1 - a.beta1));
      const vNew = tf.add(tf.mul(v, a.beta2), tf.mul(tf.square(gs), 1 - a.beta2));
      const update = tf.div(tf.div(mNew, a.bc1), tf.add(tf.sqrt(tf.div(vNew, a.bc2)), a.eps));
      return [tf.sub(decays ? tf.mul(p, a.decay) : p, tf.mul(update, a.lr)), mNew, vNew];
    });
  }

  for (const backend of BACKENDS) {
    it(`AdamW kernel is bit-identical to the tf ops it replaces on ${backend} (any length, with and without decay)`, async () => {
      await onBackend(backend);
      for (const n of [1, 3, 4, 7, 1029]) {
        for (const decays of [true, false]) {
          const step = 1 + rng.int(50);
          const lr = 3e-3 * (0.5 + rng.uniform());
          const a: AdamWAttrs = {
            scale: rng.uniform() < 0.3 ? 1 : 0.5 * rng.uniform(),
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            bc1: 1 - 0.9 ** step,
            bc2: 1 - 0.95 ** step,
            decay: decays ? 1 - lr * 0.1 : 1,
            lr,
          };
          const p = tf.tensor1d(randn(n));
          const g = tf.tensor1d(randn(n).map((x) => x * 0.01));
          const m = tf.tensor1d(randn(n).map((x) => x * 0.001));
          const v = tf.tensor1d(randn(n).map((x) => x * x * 1e-5));
          const fused = fusedAdamW(p, g, m, v, a);
          assert.ok(fused, `the fused kernel is registered on ${backend}`);
          const ops = adamwOps(p, g, m, v, a, decays);
          for (let k = 0; k < 3; k++) {
            assert.deepEqual(
              Array.from(await fused[k].data()),
              Array.from(await ops[k].data()),
              `${['p', 'm', 'v'][k]} n=${n} decay=${decays}`,
            );
          }
          tf.dispose([p, g, m, v, ...fused, ...ops]);
        }
      }
    });

    it(`sums of squares equal tf.sum(tf.square(x)) bit for bit on ${backend}`, async () => {
      await onBackend(backend);
      const ts: tf.Tensor[] = [1, 5, 128, 4099].map((n) => tf.tensor1d(randn(n)));
      ts.push(tf.tensor2d(randn(12), [3, 4]));
      const got = sumOfSquares(ts);
      const expected = await tf.stack(ts.map((t) => tf.sum(tf.square(t)))).data();
      assert.deepEqual(Array.from(got), Array.from(expected));
      for (let i = 0; i < ts.length; i++) {
        const x = ts[i].dataSync();
        assertClose([got[i]], [Array.from(x).reduce((s, y) => s + y * y, 0)], `float64 reference ${i}`, 1e-5);
      }
      assert.deepEqual(Array.from(sumOfSquares([])), []);
      tf.dispose(ts);
    });
  }
});

describe('fused SwiGLU gate and RoPE', () => {
  for (const backend of BACKENDS) {
    it(`SwiGLU gate (a·sigmoid(a))·b: value and gradients bit-identical to the tf ops on ${backend}`, async () => {
      await onBackend(backend);
      for (const shape of [
        [1, 1],
        [3, 5],
        [16, 12],
        [37, 29],
      ]) {
        const a = tf.tensor(
          randn(size(shape)).map((x) => 3 * x),
          shape,
        );
        const b = tf.tensor(randn(size(shape)), shape);
        const w = tf.tensor(randn(size(shape)), shape);
        const ops = (x: tf.Tensor, y: tf.Tensor) => tf.mul(tf.mul(x, tf.sigmoid(x)), y);
        const fused = (x: tf.Tensor, y: tf.Tensor) => {
          const h = fusedSwiGLU(x, y);
          assert.ok(h, `the SwiGLU kernels are registered on ${backend}`);
          return h;
        };
        await assertBitEqual(fused(a, b), ops(a, b), `value ${shape}`);
        // As in the model, a and b reach the loss through the gate only: bit-identical gradients.
        const loss = (f: typeof ops) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), w));
        const [gaF, gbF] = tf.grads(loss(fused))([a, b]);
        const [gaO, gbO] = tf.grads(loss(ops))([a, b]);
        await assertBitEqual(gaF, gaO, `d/da ${shape}`);
        await assertBitEqual(gbF, gbO, `d/db ${shape}`);
        // With a second path to the loss the gradients are summed (in another order: close, not bit-equal).
        const both = (x: tf.Tensor, y: tf.Tensor) => tf.add(tf.sum(tf.mul(fused(x, y), w)), tf.sum(tf.mul(x, y)));
        const [ga2, gb2] = tf.grads(both)([a, b]);
        // float64 reference: d/da = w·b·σ(a)(1 + a(1 − σ(a))) (+ b), d/db = w·a·σ(a) (+ a)
        const [av, bv, wv] = await Promise.all([a.data(), b.data(), w.data()]);
        const sig = (x: number) => 1 / (1 + Math.exp(-x));
        const da = Array.from(av, (x, i) => wv[i] * bv[i] * sig(x) * (1 + x * (1 - sig(x))));
        const db = Array.from(av, (x, i) => wv[i] * x * sig(x));
        assertClose(await gaF.data(), da, `float64 d/da ${shape}`);
        assertClose(await gbF.data(), db, `float64 d/db ${shape}`);
        assertClose(
          await ga2.data(),
          da.map((d, i) => d + bv[i]),
          `float64 d/da, two paths ${shape}`,
        );
        assertClose(
          await gb2.data(),
          db.map((d, i) => d + av[i]),
          `float64 d/db, two paths ${shape}`,
        );
      }
    });

    it(`RoPE: value and gradient bit-identical to x·cos + (x·R)·sin on ${backend} (SIMD and plain widths)`, async () => {
      await onBackend(backend);
      for (const [lead, S, hd] of [
        [[2, 3], 5, 8],
        [[4], 7, 32],
        [[3], 4, 6],
        [[], 3, 16],
      ] as const) {
        const shape = [...lead, S, hd];
        const h = hd / 2;
        const angle = (s: number, j: number) => s * Math.pow(10000, (-2 * (j % h)) / hd);
        const cos = tf.tensor2d(
          Float32Array.from({ length: S * hd }, (_, i) => Math.cos(angle(Math.floor(i / hd), i % hd))),
          [S, hd],
        );
        const sin = tf.tensor2d(
          Float32Array.from({ length: S * hd }, (_, i) => Math.sin(angle(Math.floor(i / hd), i % hd))),
          [S, hd],
        );
        const rot = new Float32Array(hd * hd);
        for (let j = 0; j < h; j++) {
          rot[(j + h) * hd + j] = -1;
          rot[j * hd + j + h] = 1;
        }
        const R = tf.tensor2d(rot, [hd, hd]);
        const fused = (x: tf.Tensor) => {
          const y = fusedRope(x, cos, sin);
          assert.ok(y, `the RoPE kernel is registered on ${backend}`);
          return y;
        };
        const x = tf.tensor(randn(size(shape)), shape);
        const w = tf.tensor(randn(size(shape)), shape);
        // Bit-identity with arbitrary tables too (real ones repeat across the two halves, which would hide a mix-up).
        for (const [c, sn] of [
          [cos, sin],
          [tf.tensor2d(randn(S * hd), [S, hd]), tf.tensor2d(randn(S * hd), [S, hd])],
        ]) {
          const opsT = (t: tf.Tensor) =>
            tf.add(tf.mul(t, c), tf.mul(tf.reshape(tf.matMul(tf.reshape(t, [-1, hd]) as tf.Tensor2D, R), t.shape), sn));
          const fusedT = (t: tf.Tensor) => fusedRope(t, c, sn)!;
          await assertBitEqual(fusedT(x), opsT(x), `value ${shape}`);
          const gF = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fusedT(t), w)))(x);
          const gO = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(opsT(t), w)))(x);
          await assertBitEqual(gF, gO, `gradient ${shape}`);
        }
        // float64 reference of the forward: pairs (j, j + h) rotated by the position's angle.
        const xv = await x.data();
        const expected = new Float64Array(xv.length);
        for (let r = 0; r < xv.length / hd; r++) {
          const s = r % S;
          for (let j = 0; j < h; j++) {
            const [x1, x2, t] = [xv[r * hd + j], xv[r * hd + j + h], angle(s, j)];
            expected[r * hd + j] = x1 * Math.cos(t) - x2 * Math.sin(t);
            expected[r * hd + j + h] = x2 * Math.cos(t) + x1 * Math.sin(t);
          }
        }
        assertClose(await fused(x).data(), expected, `float64 ${shape}`);
      }
    });
  }
});

describe('segment linear (one weight per run of rows)', () => {
  it('value and gradients are bit-identical to split, matMul per run, concat on wasm', async () => {
    await onBackend('wasm');
    for (const [sizes, k, n] of [
      [[3, 7, 1], 5, 6],
      [[12], 8, 4],
      [[40, 1, 23], 33, 17],
    ] as Array<[number[], number, number]>) {
      const rows = sizes.reduce((a, b) => a + b, 0);
      const x = tf.tensor2d(randn(rows * k), [rows, k]);
      const ws = sizes.map(() => tf.tensor2d(randn(n * k), [n, k]));
      const wOut = tf.tensor2d(randn(rows * n), [rows, n]);
      const reference = (input: tf.Tensor2D, weights: tf.Tensor[]): tf.Tensor2D => {
        // (tfjs's SplitV gradient fails for a single piece, so one run is a plain matMul.)
        const parts = sizes.length === 1 ? [input] : tf.split(input, sizes, 0);
        return tf.concat(
          parts.map((p, t) => tf.matMul(p as tf.Tensor2D, weights[t] as tf.Tensor2D, false, true)),
          0,
        ) as tf.Tensor2D;
      };
      const fused = (input: tf.Tensor2D, weights: tf.Tensor[]): tf.Tensor2D => {
        const y = fusedSegmentLinear(input, weights, sizes);
        assert.ok(y, 'the segment-linear kernels are registered on wasm');
        return y;
      };
      await assertBitEqual(fused(x, ws), reference(x, ws), `value ${sizes}`);
      const loss =
        (f: typeof fused) =>
        (...args: tf.Tensor[]) =>
          tf.sum(tf.mul(f(args[0] as tf.Tensor2D, args.slice(1)), wOut));
      const gF = tf.grads(loss(fused))([x, ...ws]);
      const gR = tf.grads(loss(reference))([x, ...ws]);
      await assertBitEqual(gF[0], gR[0], `dx ${sizes}`);
      for (let t = 0; t < sizes.length; t++) await assertBitEqual(gF[t + 1], gR[t + 1], `dW${t} ${sizes}`);
      // float64 reference of the value
      const [xv, ...wv] = await Promise.all([x.data(), ...ws.map((w) => w.data())]);
      const expected = new Float64Array(rows * n);
      let start = 0;
      sizes.forEach((size, t) => {
        for (let r = start; r < start + size; r++)
          for (let j = 0; j < n; j++) {
            for (let p = 0; p < k; p++) expected[r * n + j] += xv[r * k + p] * wv[t][j * k + p];
          }
        start += size;
      });
      assertClose(await fused(x, ws).data(), expected, `float64 ${sizes}`);
    }
  });

  it("keeps each weight's transposed, packed copy while the weight lives, and frees it with the weight", async () => {
    await onBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const [k, n, rows] = [6, 5, 4];
    const x = tf.tensor2d(randn(rows * k), [rows, k]);
    const expectedOf = async (w: tf.Tensor): Promise<Float64Array> => {
      const [xv, wv] = await Promise.all([x.data(), w.data()]);
      const out = new Float64Array(rows * n);
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) out[r * n + j] += xv[r * k + p] * wv[j * k + p];
      return out;
    };
    const before = backend.numDataIds();
    for (let round = 0; round < 3; round++) {
      // A new weight each round, likely at the freed one's heap offset: the copy must follow the weight, not the memory.
      const w = tf.tensor2d(randn(n * k), [n, k]);
      const expected = await expectedOf(w);
      for (let pass = 0; pass < 2; pass++) {
        const y = fusedSegmentLinear(x, [w], [rows])!;
        assertClose(await y.data(), expected, `round ${round}, pass ${pass}`);
        y.dispose();
      }
      w.dispose();
      assert.equal(backend.numDataIds(), before, `round ${round}: the weight's transposed copy is freed with it`);
    }
  });

  it('gives an empty run zero rows and a zero weight gradient', async () => {
    await onBackend('wasm');
    const x = tf.tensor2d(randn(3 * 2), [3, 2]);
    const ws = [tf.tensor2d(randn(4 * 2), [4, 2]), tf.tensor2d(randn(4 * 2), [4, 2]), tf.tensor2d(randn(4 * 2), [4, 2])];
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(fusedSegmentLinear(a[0] as tf.Tensor2D, a.slice(1), [1, 0, 2])!))([x, ...ws]);
    assert.deepEqual(Array.from(await grads[2].data()), new Array(8).fill(0));
    const [xv, w0, w2] = await Promise.all([x.data(), ws[0].data(), ws[2].data()]);
    // d/dW_t[j, p] = Σ over the run's rows of x[r, p]
    assertClose(
      await grads[1].data(),
      Array.from({ length: 8 }, (_, i) => xv[i % 2]),
      'dW0',
    );
    assertClose(
      await grads[3].data(),
      Array.from({ length: 8 }, (_, i) => xv[2 + (i % 2)] + xv[4 + (i % 2)]),
      'dW2',
    );
    assertClose(
      await grads[0].data(),
      Array.from({ length: 6 }, (_, i) => {
        const w = i < 2 ? w0 : w2;
        return [0, 1, 2, 3].reduce((sum, j) => sum + w[j * 2 + (i % 2)], 0);
      }),
      'dx',
    );
  });

  it('is not registered on cpu (the model then splits and concatenates)', async () => {
    await onBackend('cpu');
    assert.equal(fusedSegmentLinear(tf.zeros([2, 3]) as tf.Tensor2D, [tf.zeros([4, 3])], [2]), null);
  });
});

describe('row scale (one weight vector per run of rows)', () => {
  for (const backend of BACKENDS) {
    it(`value and gradients are bit-identical to x · gather(stack(ws), tower of row) on ${backend} (SIMD and plain widths)`, async () => {
      await onBackend(backend);
      for (const [sizes, d] of [
        [[3, 7, 1], 8],
        [[5, 2], 6],
        [[40, 1, 23], 128],
      ] as Array<[number[], number]>) {
        const rows = sizes.reduce((a, b) => a + b, 0);
        const x = tf.tensor2d(randn(rows * d), [rows, d]);
        const ws = sizes.map(() => tf.tensor1d(randn(d)));
        const w = tf.tensor2d(randn(rows * d), [rows, d]);
        const towerOfRow = tf.tensor1d(
          sizes.flatMap((s, t) => new Array<number>(s).fill(t)),
          'int32',
        );
        const reference = (input: tf.Tensor2D, weights: tf.Tensor[]) =>
          tf.mul(input, tf.gather(tf.stack(weights), towerOfRow)) as tf.Tensor2D;
        const fused = (input: tf.Tensor2D, weights: tf.Tensor[]) => {
          const y = fusedRowScale(input, weights, sizes);
          assert.ok(y, `the row-scale kernels are registered on ${backend}`);
          return y;
        };
        await assertBitEqual(fused(x, ws), reference(x, ws), `value ${sizes}`);
        const loss =
          (f: typeof fused) =>
          (...args: tf.Tensor[]) =>
            tf.sum(tf.mul(f(args[0] as tf.Tensor2D, args.slice(1)), w));
        const gF = tf.grads(loss(fused))([x, ...ws]);
        const gR = tf.grads(loss(reference))([x, ...ws]);
        for (let i = 0; i < gF.length; i++) await assertBitEqual(gF[i], gR[i], `gradient ${i} ${sizes}`);
        // float64 reference of the weights' gradients: Σ over the run's rows of w·x
        const [xv, wv] = await Promise.all([x.data(), w.data()]);
        let start = 0;
        for (let t = 0; t < sizes.length; t++) {
          const expected = Array.from({ length: d }, (_, j) => {
            let sum = 0;
            for (let r = start; r < start + sizes[t]; r++) sum += wv[r * d + j] * xv[r * d + j];
            return sum;
          });
          assertClose(await gF[t + 1].data(), expected, `float64 dw${t} ${sizes}`, 1e-4);
          start += sizes[t];
        }
      }
    });
  }
});

describe('row permutation fused with regrouping by head', () => {
  for (const backend of BACKENDS) {
    it(`equals gather + reshape + transpose both ways, with the inverse permutation as gradient, on ${backend}`, async () => {
      await onBackend(backend);
      for (const [n, heads, hd] of [
        [12, 6, 4],
        [7, 3, 5],
        [64, 12, 32],
      ]) {
        const order = Int32Array.from({ length: n }, (_, i) => i).sort(() => rng.uniform() - 0.5);
        const inverse = new Int32Array(n);
        order.forEach((p, r) => (inverse[p] = r));
        const [idx, inv] = [tf.tensor1d(order, 'int32'), tf.tensor1d(inverse, 'int32')];
        const x = tf.tensor2d(randn(n * heads * hd), [n, heads * hd]);
        const y = tf.tensor3d(randn(heads * n * hd), [heads, n, hd]);
        const toHeadsRef = (t: tf.Tensor) => tf.transpose(tf.reshape(tf.gather(t, idx), [n, heads, hd]), [1, 0, 2]);
        const toRowsRef = (t: tf.Tensor) => tf.gather(tf.reshape(tf.transpose(t, [1, 0, 2]), [n, heads * hd]), idx);
        const toHeads = (t: tf.Tensor) => fusedRowsToHeads(t as tf.Tensor2D, idx, inv, heads)!;
        const toRows = (t: tf.Tensor) => fusedHeadsToRows(t as tf.Tensor3D, idx, inv)!;
        assert.ok(fusedRowsToHeads(x, idx, inv, heads), `registered on ${backend}`);
        await assertBitEqual(toHeads(x), toHeadsRef(x), `to heads ${n}×${heads}×${hd}`);
        await assertBitEqual(toRows(y), toRowsRef(y), `to rows ${n}×${heads}×${hd}`);
        const wH = tf.tensor3d(randn(heads * n * hd), [heads, n, hd]);
        const wR = tf.tensor2d(randn(n * heads * hd), [n, heads * hd]);
        await assertBitEqual(
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(toHeads(t), wH)))(x),
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(toHeadsRef(t), wH)))(x),
          'to heads grad',
        );
        await assertBitEqual(
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(toRows(t), wR)))(y),
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(toRowsRef(t), wR)))(y),
          'to rows grad',
        );
      }
      const bad = tf.tensor1d([0, 5], 'int32');
      assert.throws(() => fusedRowsToHeads(tf.zeros([2, 4]) as tf.Tensor2D, bad, bad, 2)!.dataSync(), /out of range/);
    });
  }
});

describe('causal attention (the products up to the diagonal)', () => {
  /** The tf ops the kernels replace (model/attention.ts without them). */
  const chain = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D => {
    const S = q.shape[1];
    const mask = tf.tensor2d(
      Float32Array.from({ length: S * S }, (_, i) => (i % S > Math.floor(i / S) ? -1e9 : 0)),
      [S, S],
    );
    return tf.matMul(tf.softmax(tf.add(tf.matMul(q, k, false, true), mask)), v);
  };

  it('value and gradients are bit-identical to matMul, mask, softmax, matMul on wasm, and the value matches float64', async () => {
    await onBackend('wasm');
    for (const [B, S, hd] of [
      [3, 8, 8],
      [2, 24, 16],
      [5, 16, 32],
    ]) {
      const [q, k, v, w] = [0, 1, 2, 3].map(() => tf.tensor3d(randn(B * S * hd), [B, S, hd]));
      const fused = (a: tf.Tensor3D, b: tf.Tensor3D, c: tf.Tensor3D) => {
        const y = fusedCausalAttention(a, b, c);
        assert.ok(y, 'the causal attention kernels are registered on wasm');
        return y;
      };
      await assertBitEqual(fused(q, k, v), chain(q, k, v), `value ${[B, S, hd]}`);
      const loss = (f: typeof fused) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(f(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D), w));
      const gF = tf.grads(loss(fused))([q, k, v]);
      const gC = tf.grads(loss(chain))([q, k, v]);
      for (const [i, name] of ['dq', 'dk', 'dv'].entries()) await assertBitEqual(gF[i], gC[i], `${name} ${[B, S, hd]}`);
      // float64: softmax over j ≤ i of q_i·k_j, then the weighted sum of v_j.
      const [qv, kv, vv] = await Promise.all([q.data(), k.data(), v.data()]);
      const expected = new Float64Array(B * S * hd);
      for (let b = 0; b < B; b++)
        for (let i = 0; i < S; i++) {
          const s = Array.from({ length: i + 1 }, (_, j) => {
            let dot = 0;
            for (let e = 0; e < hd; e++) dot += qv[(b * S + i) * hd + e] * kv[(b * S + j) * hd + e];
            return dot;
          });
          const max = Math.max(...s);
          const ex = s.map((x) => Math.exp(x - max));
          const total = ex.reduce((a, x) => a + x, 0);
          for (let e = 0; e < hd; e++)
            expected[(b * S + i) * hd + e] = ex.reduce((a, x, j) => a + (x / total) * vv[(b * S + j) * hd + e], 0);
        }
      assertClose(await fused(q, k, v).data(), expected, `float64 ${[B, S, hd]}`);
    }
  });

  it('its plain-JS fallback (no wasm SIMD) equals the SIMD kernels bit for bit', async () => {
    await onBackend('wasm');
    const [B, S, hd] = [2, 16, 8];
    const [q, k, v] = [0, 1, 2].map(() => tf.tensor3d(randn(B * S * hd), [B, S, hd]));
    const scores = tf.engine().runKernel('MotlabCausalScores', { q, k }) as tf.Tensor3D;
    const p = tf.softmax(scores);
    const mixed = tf.engine().runKernel('MotlabCausalMix', { p, v }) as tf.Tensor3D;
    const kT = (await tf.transpose(k, [0, 2, 1]).data()) as Float32Array;
    const jsScores = new Float32Array(B * S * S);
    causalScoresInto((await q.data()) as Float32Array, kT, jsScores, B, S, hd);
    assert.deepEqual(Array.from(jsScores), Array.from(await scores.data()), 'scores');
    const jsMix = new Float32Array(B * S * hd);
    causalMixInto((await p.data()) as Float32Array, (await v.data()) as Float32Array, jsMix, B, S, hd);
    assert.deepEqual(Array.from(jsMix), Array.from(await mixed.data()), 'mix');
  });

  it('leaves shapes its blocks do not fit, and the cpu backend, to the tf ops', async () => {
    await onBackend('wasm');
    const t = (S: number, hd: number) => tf.zeros([1, S, hd]) as tf.Tensor3D;
    assert.equal(fusedCausalAttention(t(12, 8), t(12, 8), t(12, 8)), null);
    assert.equal(fusedCausalAttention(t(8, 4), t(8, 4), t(8, 4)), null);
    await onBackend('cpu');
    assert.equal(fusedCausalAttention(t(8, 8), t(8, 8), t(8, 8)), null);
  });
});
