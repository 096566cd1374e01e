/**
 * Every fix in src-main/engine/tfjs-fixes/ against a plain-JS reference (hand-written loops,
 * scatter-adds, finite differences), on both the wasm and the cpu backend.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src-main/engine/engine.ts';
import { setWasmMatMulFastPath } from '../../src-main/engine/tfjs-fixes/kernel-replacements.ts';
import { Rng } from '../../src-main/util/rng.ts';

const BACKENDS = ['wasm', 'cpu'] as const;
const rng = new Rng(20240607);

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol * (1 + Math.abs(expected[i])))) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Row-major strides. */
function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/**
 * Reference batched matMul with numpy-style broadcasting of the batch dims, written independently
 * of the code under test. Returns the output, and a function mapping an output batch index to
 * the flat batch indices of a and b (used by the gradient references).
 */
function refMatMul(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean) {
  const ra = aShape.length;
  const rb = bShape.length;
  const m = tA ? aShape[ra - 1] : aShape[ra - 2];
  const k = tA ? aShape[ra - 2] : aShape[ra - 1];
  const n = tB ? bShape[rb - 2] : bShape[rb - 1];
  const oa = aShape.slice(0, -2);
  const ob = bShape.slice(0, -2);
  const rank = Math.max(oa.length, ob.length);
  const padA = [...new Array<number>(rank - oa.length).fill(1), ...oa];
  const padB = [...new Array<number>(rank - ob.length).fill(1), ...ob];
  const outer = padA.map((d, i) => Math.max(d, padB[i]));
  const sa = strides(padA);
  const sb = strides(padB);
  const batchOf = (o: number) => {
    let rem = o;
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      const inner = size(outer.slice(d + 1));
      const c = Math.floor(rem / inner);
      rem %= inner;
      if (padA[d] !== 1) ia += c * sa[d];
      if (padB[d] !== 1) ib += c * sb[d];
    }
    return [ia, ib];
  };
  const batch = size(outer);
  const out = new Float32Array(batch * m * n);
  for (let o = 0; o < batch; o++) {
    const [ia, ib] = batchOf(o);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = tA ? a[ia * m * k + p * m + i] : a[ia * m * k + i * k + p];
          const bv = tB ? b[ib * k * n + j * k + p] : b[ib * k * n + p * n + j];
          s += av * bv;
        }
        out[(o * m + i) * n + j] = s;
      }
    }
  }
  return { out, shape: [...outer, m, n], batchOf, m, k, n };
}

before(async () => {
  const info = await initEngine('wasm');
  assert.equal(info.name, 'wasm');
});

async function onBackend(name: string): Promise<void> {
  assert.ok(await tf.setBackend(name));
}

describe('UnsortedSegmentSum kernel (linear time)', () => {
  for (const backend of BACKENDS) {
    it(`matches a scatter-add on ${backend}, float32 and int32, dropping negative ids`, async () => {
      await onBackend(backend);
      const x = randn(6 * 3);
      const ids = [0, 2, 2, -1, 3, 1];
      const expected = new Float32Array(4 * 3);
      ids.forEach((s, i) => {
        if (s >= 0) for (let j = 0; j < 3; j++) expected[s * 3 + j] += x[i * 3 + j];
      });
      const got = tf.unsortedSegmentSum(tf.tensor2d(x, [6, 3]), tf.tensor1d(ids, 'int32'), 4);
      assert.deepEqual(got.shape, [4, 3]);
      assertClose(await got.data(), expected, 'float32');
      const xi = Int32Array.from({ length: 12 }, (_, i) => i * 7 - 20);
      const gotInt = tf.unsortedSegmentSum(tf.tensor2d(xi, [6, 2], 'int32'), tf.tensor1d(ids, 'int32'), 4);
      const expInt = new Int32Array(8);
      ids.forEach((s, i) => {
        if (s >= 0) for (let j = 0; j < 2; j++) expInt[s * 2 + j] += xi[i * 2 + j];
      });
      assert.equal(gotInt.dtype, 'int32');
      assert.deepEqual(Array.from(await gotInt.data()), Array.from(expInt));
    });

    it(`gives the gather gradient of a [1024,128] lookup into a 512-row table on ${backend}`, async () => {
      await onBackend(backend);
      const rows = 512;
      const dim = 128;
      const idx = Int32Array.from({ length: 1024 }, () => rng.int(rows));
      const w = randn(1024 * dim);
      const table = tf.tensor2d(randn(rows * dim), [rows, dim]);
      const indices = tf.tensor1d(idx, 'int32');
      const weights = tf.tensor2d(w, [1024, dim]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, indices), weights)))(table);
      const expected = new Float32Array(rows * dim);
      for (let i = 0; i < idx.length; i++) for (let j = 0; j < dim; j++) expected[idx[i] * dim + j] += w[i * dim + j];
      assert.deepEqual(g.shape, [rows, dim]);
      assertClose(await g.data(), expected, 'gather grad');
      tf.dispose([table, indices, weights, g]);
    });

    it(`gives the gather gradient along axis 0 with 2-D indices into a 3-D table on ${backend}`, async () => {
      await onBackend(backend);
      const [R, C1, C2] = [6, 2, 3];
      const idx = Int32Array.from({ length: 4 * 2 }, () => rng.int(R));
      const w = randn(idx.length * C1 * C2);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, tf.tensor2d(idx, [4, 2], 'int32')), tf.tensor(w, [4, 2, C1, C2]))))(
        tf.tensor3d(randn(R * C1 * C2), [R, C1, C2]),
      );
      const inner = C1 * C2;
      const expected = new Float32Array(R * inner);
      idx.forEach((r, i) => {
        for (let j = 0; j < inner; j++) expected[r * inner + j] += w[i * inner + j];
      });
      assert.deepEqual(g.shape, [R, C1, C2]);
      assertClose(await g.data(), expected, 'gather axis 0 grad, 2-D indices');
    });

    it(`gives the gather gradient along axis 1 with 2-D indices on ${backend}`, async () => {
      await onBackend(backend);
      const [A, N, C] = [3, 10, 4];
      const idx = Int32Array.from({ length: 2 * 5 }, () => rng.int(N));
      const w = randn(A * 10 * C);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, tf.tensor2d(idx, [2, 5], 'int32'), 1), tf.tensor(w, [A, 2, 5, C]))))(
        tf.tensor3d(randn(A * N * C), [A, N, C]),
      );
      const expected = new Float32Array(A * N * C);
      for (let a = 0; a < A; a++)
        for (let p = 0; p < 10; p++)
          for (let c = 0; c < C; c++) {
            expected[(a * N + idx[p]) * C + c] += w[(a * 10 + p) * C + c];
          }
      assertClose(await g.data(), expected, 'gather axis 1 grad');
    });
  }
});

describe('TopK and ScatterNd gradients', () => {
  for (const backend of BACKENDS) {
    it(`TopK: values' gradient lands on the chosen positions (manual scatter and finite differences) on ${backend}`, async () => {
      await onBackend(backend);
      const [R, N, K] = [3, 7, 3];
      // Distinct values spaced ≥ 0.1 apart so a 1e-2 finite-difference step never reorders them.
      const xv = new Float32Array(R * N);
      for (let r = 0; r < R; r++) {
        const perm = Array.from({ length: N }, (_, i) => i).sort(() => rng.uniform() - 0.5);
        perm.forEach((p, i) => (xv[r * N + i] = p * 0.1 + r));
      }
      const w = randn(R * K);
      const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.topk(x, K).values, tf.tensor2d(w, [R, K])));
      const g = await tf
        .grad(f)(tf.tensor2d(xv, [R, N]))
        .data();
      const manual = new Float32Array(R * N);
      for (let r = 0; r < R; r++) {
        const order = Array.from({ length: N }, (_, i) => i).sort((p, q) => xv[r * N + q] - xv[r * N + p]);
        for (let j = 0; j < K; j++) manual[r * N + order[j]] += w[r * K + j];
      }
      assertClose(g, manual, 'topk grad vs scatter');
      const eps = 1e-2;
      const fd = new Float32Array(R * N);
      for (let i = 0; i < R * N; i++) {
        const plus = Float32Array.from(xv);
        const minus = Float32Array.from(xv);
        plus[i] += eps;
        minus[i] -= eps;
        const fp = (await f(tf.tensor2d(plus, [R, N])).data())[0];
        const fm = (await f(tf.tensor2d(minus, [R, N])).data())[0];
        fd[i] = (fp - fm) / (2 * eps);
      }
      assertClose(g, fd, 'topk grad vs finite differences', 2e-3);
    });

    it(`TopK indices feeding a gather are differentiable (no int32 "gradient") on ${backend}`, async () => {
      await onBackend(backend);
      const xv = Float32Array.from([0.3, 2.0, -1.0, 1.5, 0.7, 0.1]);
      const w = Float32Array.from([1.0, -2.0]);
      const g = await tf
        .grad((x: tf.Tensor) => {
          const { indices } = tf.topk(x, 2);
          return tf.sum(tf.mul(tf.gather(x, indices), tf.tensor1d(w)));
        })(tf.tensor1d(xv))
        .data();
      // top-2 of xv: positions 1 (2.0) and 3 (1.5); the gathered values carry w.
      assertClose(g, [0, 1, 0, -2, 0, 0], 'gather(topk.indices) grad');
    });

    it(`ScatterNd: gradient of updates is dy gathered at the indices (duplicates included) on ${backend}`, async () => {
      await onBackend(backend);
      const idx = [[1], [3], [1], [0]];
      const w = randn(5 * 3);
      const g = await tf
        .grad((u: tf.Tensor) => tf.sum(tf.mul(tf.scatterND(tf.tensor2d(idx, [4, 1], 'int32'), u, [5, 3]), tf.tensor2d(w, [5, 3]))))(
          tf.tensor2d(randn(12), [4, 3]),
        )
        .data();
      const expected = new Float32Array(12);
      idx.forEach(([r], i) => {
        for (let j = 0; j < 3; j++) expected[i * 3 + j] = w[r * 3 + j];
      });
      assertClose(g, expected, 'scatterND grad');
    });
  }
});

describe('matMul: wasm fast path (all transpose and batch combinations)', () => {
  const cases: Array<[string, number[], number[], number, number, number]> = [
    // name, outer dims of a, outer dims of b, m, k, n
    ['2-D', [], [], 7, 5, 3],
    ['2-D, larger', [], [], 33, 70, 45],
    ['3-D batched', [4], [4], 6, 5, 3],
    ['3-D · 2-D (shared weights)', [4], [], 6, 5, 3],
    ['batch-1 a · batched b', [1], [4], 6, 5, 3],
    ['4-D batched', [2, 3], [2, 3], 6, 5, 4],
    ['4-D · [1,1] broadcast', [2, 3], [1, 1], 6, 5, 4],
    ['4-D leading broadcast', [1, 3], [2, 3], 6, 5, 4],
    ['m = n = k = 1', [3], [3], 1, 1, 1],
  ];
  const combos = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const;

  for (const [name, oa, ob, m, k, n] of cases) {
    it(`${name}: wasm (fast path and original) and cpu agree with a triple loop`, async () => {
      for (const [tA, tB] of combos) {
        const aShape = [...oa, ...(tA ? [k, m] : [m, k])];
        const bShape = [...ob, ...(tB ? [n, k] : [k, n])];
        const a = randn(size(aShape));
        const b = randn(size(bShape));
        const ref = refMatMul(a, aShape, b, bShape, tA, tB);
        const results: Record<string, Float32Array> = {};
        for (const backend of BACKENDS) {
          await onBackend(backend);
          const out = tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), tA, tB);
          assert.deepEqual(out.shape, ref.shape, `${backend} shape tA=${tA} tB=${tB}`);
          results[backend] = (await out.data()) as Float32Array;
          assertClose(results[backend], ref.out, `${backend} ${name} tA=${tA} tB=${tB}`, 1e-4);
        }
        assertClose(results.wasm, results.cpu, `wasm vs cpu ${name} tA=${tA} tB=${tB}`, 1e-4);
        await onBackend('wasm');
        setWasmMatMulFastPath(false);
        try {
          const orig = await tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), tA, tB).data();
          assertClose(orig, ref.out, `wasm original kernel ${name} tA=${tA} tB=${tB}`, 1e-4);
        } finally {
          setWasmMatMulFastPath(true);
        }
      }
    });
  }

  it('broadcasts [2,1] against [1,3] batch dims correctly on wasm', async () => {
    await onBackend('wasm');
    const aShape = [2, 1, 4, 5];
    const bShape = [1, 3, 5, 2];
    const a = randn(size(aShape));
    const b = randn(size(bShape));
    const ref = refMatMul(a, aShape, b, bShape, false, false);
    const out = tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape));
    assert.deepEqual(out.shape, [2, 3, 4, 2]);
    assertClose(await out.data(), ref.out, 'wasm [2,1]x[1,3]');
  });

  it('packed weights are never stale: one buffer as b under two shapes, and memory reused after dispose', async () => {
    await onBackend('wasm');
    const check = async (a: Float32Array, aShape: number[], b: tf.Tensor, what: string) => {
      const ref = refMatMul(a, aShape, (await b.data()) as Float32Array, b.shape, false, false);
      for (let rep = 0; rep < 2; rep++) {
        assertClose(await tf.matMul(tf.tensor(a, aShape), b).data(), ref.out, `${what} (call ${rep + 1})`);
      }
    };
    const w = tf.tensor2d(randn(6 * 8), [6, 8]);
    await check(randn(3 * 6), [3, 6], w, 'w as [6,8]');
    await check(randn(3 * 8), [3, 8], tf.reshape(w, [8, 6]), 'same buffer as [8,6]');
    w.dispose();
    for (let i = 0; i < 3; i++) {
      const w2 = tf.tensor2d(randn(6 * 8), [6, 8]); // typically lands where w was
      await check(randn(3 * 6), [3, 6], w2, `new weights #${i + 1}`);
      w2.dispose();
    }
  });

  it('leaks no tensors or wasm buffers', async () => {
    await onBackend('wasm');
    const a = tf.tensor(randn(2 * 3 * 8 * 6), [2, 3, 8, 6]);
    const b = tf.tensor(randn(2 * 3 * 8 * 5), [2, 3, 8, 5]);
    const tensors = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds();
    for (const [tA, tB] of [
      [true, false],
      [false, false],
    ] as const) {
      const x = tA ? a : tf.transpose(a, [0, 1, 3, 2]);
      const out = tf.matMul(x, b, tA, tB);
      out.dispose();
      if (x !== a) x.dispose();
    }
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.backend().numDataIds(), dataIds);
    tf.dispose([a, b]);
  });
});

describe('gradient shape fixes', () => {
  for (const backend of BACKENDS) {
    it(`matMul gradient with broadcast batch dims has the inputs' shapes and values on ${backend}`, async () => {
      await onBackend(backend);
      const cases: Array<[number[], number[]]> = [
        [
          [2, 3, 4, 5],
          [5, 6],
        ],
        [
          [2, 3, 4, 5],
          [1, 1, 5, 6],
        ],
        [
          [1, 3, 4, 5],
          [2, 3, 5, 6],
        ],
        [
          [3, 4, 5],
          [1, 5, 6],
        ],
      ];
      for (const [aShape, bShape] of cases) {
        const a = randn(size(aShape));
        const b = randn(size(bShape));
        const ref = refMatMul(a, aShape, b, bShape, false, false);
        const w = randn(ref.out.length);
        const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), tf.tensor(w, ref.shape))))([
          tf.tensor(a, aShape),
          tf.tensor(b, bShape),
        ]);
        // dA[ia] += W[o] · B[ib]ᵀ ; dB[ib] += A[ia]ᵀ · W[o], summed over broadcast copies.
        const { m, k, n } = ref;
        const da = new Float32Array(a.length);
        const db = new Float32Array(b.length);
        for (let o = 0; o < ref.out.length / (m * n); o++) {
          const [ia, ib] = ref.batchOf(o);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++)
              for (let p = 0; p < k; p++) {
                const wv = w[(o * m + i) * n + j];
                da[ia * m * k + i * k + p] += wv * b[ib * k * n + p * n + j];
                db[ib * k * n + p * n + j] += a[ia * m * k + i * k + p] * wv;
              }
        }
        assert.deepEqual(ga.shape, aShape);
        assert.deepEqual(gb.shape, bShape);
        assertClose(await ga.data(), da, `dA ${aShape}·${bShape}`, 1e-4);
        assertClose(await gb.data(), db, `dB ${aShape}·${bShape}`, 1e-4);
      }
    });

    it(`cumsum gradient is right along axis 0 (non-square and square) and inner axes on ${backend}`, async () => {
      await onBackend(backend);
      for (const shape of [
        [3, 4],
        [3, 3],
        [2, 3, 4],
      ]) {
        for (const axis of shape.length === 2 ? [0, 1] : [0, 1, 2]) {
          for (const [exclusive, reverse] of [
            [false, false],
            [true, false],
            [false, true],
            [true, true],
          ]) {
            const w = randn(size(shape));
            const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.cumsum(x, axis, exclusive, reverse), tf.tensor(w, shape))))(
              tf.tensor(randn(size(shape)), shape),
            );
            assert.deepEqual(g.shape, shape);
            // y[r] collects x[i] for i ≤ r (<, ≥, > with exclusive / reverse) ⇒ dx[i] = Σ_r∈S(i) w[r].
            const st = strides(shape);
            const len = shape[axis];
            const expected = new Float32Array(size(shape));
            for (let flat = 0; flat < expected.length; flat++) {
              const i = Math.floor(flat / st[axis]) % len;
              for (let r = 0; r < len; r++) {
                const contributes = reverse ? (exclusive ? i > r : i >= r) : exclusive ? i < r : i <= r;
                if (contributes) expected[flat] += w[flat + (r - i) * st[axis]];
              }
            }
            assertClose(await g.data(), expected, `cumsum ${shape} axis ${axis} excl=${exclusive} rev=${reverse}`);
          }
        }
      }
    });

    it(`where() with a mask computed inside the differentiated function works on ${backend}`, async () => {
      await onBackend(backend);
      const xv = Float32Array.from([-2, -0.5, 0.5, 3]);
      const g = await tf
        .grad((x: tf.Tensor) => tf.sum(tf.where(tf.greater(x, tf.scalar(0)), tf.mul(x, tf.scalar(2)), tf.mul(x, tf.scalar(3)))))(
          tf.tensor1d(xv),
        )
        .data();
      assertClose(g, [3, 3, 2, 2], 'where grad');
    });
  }
});

/** Plain-JS slice of a row-major array: every output coordinate mapped back to its input index. */
function refSlice(x: Float32Array, shape: number[], begin: number[], sz: number[]): Float32Array {
  const out = new Float32Array(size(sz));
  const st = strides(shape);
  for (let o = 0; o < out.length; o++) {
    let rem = o;
    let src = 0;
    for (let d = sz.length - 1; d >= 0; d--) {
      src += (begin[d] + (rem % sz[d])) * st[d];
      rem = Math.floor(rem / sz[d]);
    }
    out[o] = x[src];
  }
  return out;
}

describe('data movement kernels: row gather, slice, split, identity, cast', () => {
  for (const backend of BACKENDS) {
    it(`gathers rows along axis 0 like a plain loop on ${backend} (1-D/2-D indices, any row size, int32, repeats)`, async () => {
      await onBackend(backend);
      for (const xShape of [[7], [7, 5], [7, 3, 4], [1, 1]]) {
        const rows = xShape[0];
        const inner = size(xShape.slice(1));
        const x = randn(size(xShape));
        for (const iShape of [[10], [2, 3], [0]]) {
          const idx = Int32Array.from({ length: size(iShape) }, () => rng.int(rows));
          const got = tf.gather(tf.tensor(x, xShape), tf.tensor(idx, iShape, 'int32'));
          const expected = new Float32Array(idx.length * inner);
          idx.forEach((r, i) => {
            for (let j = 0; j < inner; j++) expected[i * inner + j] = x[r * inner + j];
          });
          assert.deepEqual(got.shape, [...iShape, ...xShape.slice(1)]);
          assert.deepEqual(Array.from(await got.data()), Array.from(expected), `gather ${xShape} by ${iShape}`);
        }
      }
      const xi = tf.tensor2d(
        Int32Array.from({ length: 12 }, (_, i) => i * 3 - 7),
        [4, 3],
        'int32',
      );
      const gi = tf.gather(xi, tf.tensor1d([3, 0, 3], 'int32'));
      assert.equal(gi.dtype, 'int32');
      assert.deepEqual(Array.from(await gi.data()), [20, 23, 26, -7, -4, -1, 20, 23, 26]);
      assert.throws(() => tf.gather(xi, tf.tensor1d([0, 4], 'int32')), /not in \[0, 3\]/);
      assert.throws(() => tf.gather(xi, tf.tensor1d([-1], 'int32')), /not in \[0, 3\]/);
      // Other axes still take tfjs's own kernel.
      const g1 = tf.gather(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]), tf.tensor1d([2, 0], 'int32'), 1);
      assert.deepEqual(Array.from(await g1.data()), [3, 1, 6, 4]);
    });

    it(`slices and splits any box of a rank 1–5 tensor on ${backend}`, async () => {
      await onBackend(backend);
      for (const shape of [[9], [4, 6], [3, 4, 5], [2, 3, 4, 5], [2, 2, 3, 2, 3]]) {
        const x = randn(size(shape));
        const t = tf.tensor(x, shape);
        for (let trial = 0; trial < 6; trial++) {
          const begin = shape.map((d) => rng.int(d));
          const sz = shape.map((d, i) => (trial % 2 === 0 && i > 0 ? d - begin[i] : 1 + rng.int(d - begin[i])));
          const got = tf.slice(t, begin, sz);
          assert.deepEqual(got.shape, sz);
          assert.deepEqual(
            Array.from(await got.data()),
            Array.from(refSlice(x, shape, begin, sz)),
            `slice ${shape} at ${begin} size ${sz}`,
          );
        }
        for (let axis = 0; axis < shape.length; axis++) {
          const d = shape[axis];
          const sizes = d === 1 ? [1] : [1, d - 1];
          const parts = tf.split(t, sizes, axis);
          let offset = 0;
          for (let p = 0; p < parts.length; p++) {
            const begin = shape.map((_, i) => (i === axis ? offset : 0));
            const sz = shape.map((dd, i) => (i === axis ? sizes[p] : dd));
            assert.deepEqual(Array.from(await parts[p].data()), Array.from(refSlice(x, shape, begin, sz)), `split ${shape} axis ${axis}`);
            offset += sizes[p];
          }
        }
      }
    });

    it(`transposes the last two axes like a plain loop (ragged sizes, batches, other perms) on ${backend}`, async () => {
      await onBackend(backend);
      for (const shape of [
        [1, 1],
        [3, 5],
        [4, 8],
        [37, 70],
        [2, 3, 5, 6],
        [2, 0, 3],
      ]) {
        const r = shape.length;
        const [rows, cols] = shape.slice(-2);
        const batch = size(shape.slice(0, -2));
        const x = randn(size(shape));
        const expected = new Float32Array(x.length);
        for (let b = 0; b < batch; b++)
          for (let i = 0; i < rows; i++)
            for (let j = 0; j < cols; j++) {
              expected[b * rows * cols + j * rows + i] = x[b * rows * cols + i * cols + j];
            }
        const got = tf.transpose(tf.tensor(x, shape), [...Array(r - 2).keys(), r - 1, r - 2]);
        assert.deepEqual(got.shape, [...shape.slice(0, -2), cols, rows]);
        assert.deepEqual(Array.from(await got.data()), Array.from(expected), `transpose ${shape}`);
      }
      const other = tf.transpose(tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), [2, 0, 1]);
      assert.deepEqual(Array.from(await other.data()), [1, 3, 5, 7, 2, 4, 6, 8]);
    });

    it(`clone and same-dtype cast keep their values after the source is freed, and leak nothing, on ${backend}`, async () => {
      await onBackend(backend);
      const values = randn(12);
      const dataIds = tf.backend().numDataIds();
      const x = tf.tensor2d(values, [3, 4]);
      const c = tf.clone(x);
      const f = tf.cast(x, 'float32');
      const i = tf.tidy(() => tf.cast(tf.tensor1d([1.7, -2.7, 3.2]), 'int32'));
      x.dispose();
      assert.deepEqual(Array.from(await c.data()), Array.from(values));
      assert.deepEqual(Array.from(await f.data()), Array.from(values));
      assert.equal(i.dtype, 'int32');
      assert.deepEqual(Array.from(await i.data()), [1, -2, 3]);
      tf.dispose([c, f, i]);
      assert.equal(tf.backend().numDataIds(), dataIds);
      // A variable assigned a clone, then the clone's source freed: the variable keeps its values.
      const v = tf.variable(tf.zeros([2]));
      const src = tf.tensor1d([5, 6]);
      v.assign(tf.clone(src));
      src.dispose();
      assert.deepEqual(Array.from(await v.data()), [5, 6]);
      v.dispose();
    });
  }
});
