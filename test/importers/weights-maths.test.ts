/** The pure maths of the weight-space analyses (analysis/weights.ts) against numpy, computed at test time. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frobeniusNorm, topSingularValues, tridiagonalEigen, weightDrift, weightSlotOf } from '../../src-main/analysis/weights.ts';
import { runPython, skipUnlessPython } from '../analysis/python.ts';

const skip = skipUnlessPython('numpy', 'python3-numpy');

function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function random(rows: number, columns: number, seed: number): Float32Array {
  return Float32Array.from({ length: rows * columns }, gaussian(seed));
}

/** rows×columns of rank `rank`: a product of two random factors. */
function lowRank(rows: number, columns: number, rank: number, seed: number): Float32Array {
  const a = random(rows, rank, seed);
  const b = random(rank, columns, seed + 1);
  const out = new Float32Array(rows * columns);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < rank; k++) for (let c = 0; c < columns; c++) out[r * columns + c] += a[r * rank + k] * b[k * columns + c];
  return out;
}

test(
  'top singular values equal numpy.linalg.svd (tall, wide, square, low rank, repeated, zero, larger than the step budget)',
  { skip },
  () => {
    const cases: { name: string; rows: number; columns: number; data: Float32Array; k: number }[] = [
      { name: 'tall', rows: 300, columns: 40, data: random(300, 40, 1), k: 8 },
      { name: 'wide', rows: 40, columns: 300, data: random(40, 300, 2), k: 8 },
      { name: 'square', rows: 64, columns: 64, data: random(64, 64, 3), k: 64 },
      { name: 'lowrank', rows: 50, columns: 30, data: lowRank(50, 30, 3, 4), k: 6 },
      { name: 'big', rows: 900, columns: 600, data: random(900, 600, 5), k: 10 },
      { name: 'vector', rows: 1, columns: 17, data: random(1, 17, 6), k: 4 },
      { name: 'zero', rows: 5, columns: 7, data: new Float32Array(35), k: 3 },
    ];
    // Repeated singular values: 2 × a 20×20 permutation-with-signs matrix (orthogonal) → all σ = 2.
    const repeated = new Float32Array(400);
    for (let i = 0; i < 20; i++) repeated[i * 20 + ((i * 7) % 20)] = i % 2 ? 2 : -2;
    cases.push({ name: 'repeated', rows: 20, columns: 20, data: repeated, k: 5 });

    const expected = runPython<Record<string, number[]>>(
      `out = {}
for c in params:
    w = load(c['name']).astype(np.float64).reshape(c['rows'], c['columns'])
    out[c['name']] = np.linalg.svd(w, compute_uv=False)[:c['k']]
emit(out)`,
      Object.fromEntries(cases.map((c) => [c.name, c.data])),
      cases.map(({ name, rows, columns, k }) => ({ name, rows, columns, k })),
    );
    for (const c of cases) {
      const got = topSingularValues({ rows: c.rows, columns: c.columns, data: c.data }, c.k);
      const want = expected[c.name];
      assert.equal(got.values.length, want.length, c.name);
      const scale = Math.max(want[0], 1e-300);
      got.values.forEach((v, i) =>
        assert.ok(Math.abs(v - want[i]) <= 1e-7 * scale + 1e-12, `${c.name} σ${i + 1}: ${v} ≠ numpy ${want[i]}`),
      );
      assert.ok(got.relativeErrorBound <= 1e-9, `${c.name}: error bound ${got.relativeErrorBound}`);
    }
    // The big case converged before its Krylov space was the whole space.
    assert.ok(topSingularValues({ rows: 900, columns: 600, data: cases[4].data }, 10).steps < 600);
  },
);

test('the tridiagonal eigensolver equals numpy.linalg.eigh', { skip }, () => {
  const g = gaussian(9);
  const n = 40;
  const d = Float32Array.from({ length: n }, g);
  const e = Float32Array.from({ length: n - 1 }, g);
  const { values, vectors } = tridiagonalEigen(d, e);
  const want = runPython<number[]>(
    `d = load('d').astype(np.float64); e = load('e').astype(np.float64)
emit(np.linalg.eigh(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))[0])`,
    { d, e },
  );
  values.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-12, `λ${i}: ${v} ≠ ${want[i]}`));
  // T v = λ v for every returned vector.
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const tv =
        d[i] * vectors[i * n + j] + (i > 0 ? e[i - 1] * vectors[(i - 1) * n + j] : 0) + (i < n - 1 ? e[i] * vectors[(i + 1) * n + j] : 0);
      assert.ok(Math.abs(tv - values[j] * vectors[i * n + j]) < 1e-12);
    }
  }
});

test('Frobenius norm, cosine and linear CKA of two towers equal numpy', { skip }, () => {
  const a = random(48, 16, 11);
  const b = Float32Array.from(a, (x, i) => x + 0.5 * Math.sin(i));
  const want = runPython<{ fro: number; cos: number; cka: number }>(
    `a = load('a').astype(np.float64).reshape(48, 16); b = load('b').astype(np.float64).reshape(48, 16)
ac = a - a.mean(0); bc = b - b.mean(0)
cka = np.linalg.norm(bc.T @ ac) ** 2 / (np.linalg.norm(ac.T @ ac) * np.linalg.norm(bc.T @ bc))
emit({'fro': np.linalg.norm(a), 'cos': (a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b), 'cka': cka})`,
    { a, b },
  );
  assert.ok(Math.abs(frobeniusNorm(a) - want.fro) < 1e-9);
  const drift = weightDrift({ rows: 48, columns: 16, data: a }, { rows: 48, columns: 16, data: b }, ['cosine', 'cka']);
  assert.ok(Math.abs(drift.cosine! - want.cos) < 1e-12);
  assert.ok(Math.abs(drift.cka! - want.cka) < 1e-12);
  // Vectors (norm weights): cosine only.
  assert.deepEqual(weightDrift({ rows: 1, columns: 3, data: [1, 2, 2] }, { rows: 1, columns: 3, data: [2, 1, 2] }, ['cosine', 'cka']), {
    cosine: 8 / 9,
    cka: null,
  });
  assert.throws(
    () => weightDrift({ rows: 2, columns: 2, data: [1, 2, 3, 4] }, { rows: 1, columns: 4, data: [1, 2, 3, 4] }, ['cosine']),
    /2×2 against 1×4/,
  );
});

test('every name of the tensor table has its slot; other names have none', () => {
  assert.deepEqual(weightSlotOf('layers.3.attention.wk.2.weight'), { component: 'attention', layer: 3, weight: 'wk', tower: 2 });
  assert.deepEqual(weightSlotOf('layers.0.attention.q_norm.1.weight'), { component: 'attention', layer: 0, weight: 'q_norm', tower: 1 });
  assert.deepEqual(weightSlotOf('layers.0.attention.wv.1.bias'), { component: 'attention', layer: 0, weight: 'wv bias', tower: 1 });
  assert.deepEqual(weightSlotOf('layers.1.ffn_norm.0.weight'), { component: 'norm', layer: 1, weight: 'ffn_norm', tower: 0 });
  assert.deepEqual(weightSlotOf('layers.1.feed_forward.w2.2.weight'), { component: 'ffn', layer: 1, weight: 'w2', tower: 2 });
  assert.deepEqual(weightSlotOf('layers.1.feed_forward.experts.0.3.w1.weight'), {
    component: 'ffn',
    layer: 1,
    weight: 'expert 3 w1',
    tower: 0,
  });
  assert.deepEqual(weightSlotOf('layers.1.feed_forward.router.0.weight'), { component: 'ffn', layer: 1, weight: 'router', tower: 0 });
  assert.deepEqual(weightSlotOf('norm.2.weight'), { component: 'norm', layer: null, weight: 'final_norm', tower: 2 });
  assert.deepEqual(weightSlotOf('embed.weight'), { component: 'embedding', layer: null, weight: 'embed', tower: null });
  assert.deepEqual(weightSlotOf('output.weight'), { component: 'output', layer: null, weight: 'output', tower: null });
  for (const other of ['model.embed_tokens.weight', 'layers.x.attention.wq.0.weight', 'layers.0.attention.wq.0.weights', 'norm.weight'])
    assert.equal(weightSlotOf(other), null, other);
});
