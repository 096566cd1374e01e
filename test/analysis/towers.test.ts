import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cosineSimilarity, driftMatrix, linearCka, towerDrift, type Matrix } from '../../src-main/analysis/towers.ts';

const close = (a: number, b: number, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${a} ≠ ${b}`);

function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function randomMatrix(rows: number, columns: number, seed: number): Matrix {
  const g = gaussian(seed);
  return { rows, columns, data: Float64Array.from({ length: rows * columns }, g) };
}

function multiply(a: Matrix, b: Matrix): Matrix {
  const out = new Float64Array(a.rows * b.columns);
  for (let i = 0; i < a.rows; i++)
    for (let k = 0; k < a.columns; k++)
      for (let j = 0; j < b.columns; j++) out[i * b.columns + j] += a.data[i * a.columns + k] * b.data[k * b.columns + j];
  return { rows: a.rows, columns: b.columns, data: out };
}

/** A random orthogonal matrix by Gram–Schmidt on Gaussian columns. */
function orthogonal(size: number, seed: number): Matrix {
  const g = gaussian(seed);
  const cols: number[][] = [];
  for (let c = 0; c < size; c++) {
    let v = Array.from({ length: size }, g);
    for (const u of cols) {
      const d = v.reduce((s, x, i) => s + x * u[i], 0);
      v = v.map((x, i) => x - d * u[i]);
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    cols.push(v.map((x) => x / norm));
  }
  return { rows: size, columns: size, data: Float64Array.from({ length: size * size }, (_, k) => cols[k % size][Math.floor(k / size)]) };
}

test('cosine similarity matches a hand computation', () => {
  close(cosineSimilarity([1, 2, 2], [2, 1, 2]), 8 / 9, 1e-15);
  close(cosineSimilarity([1, 0], [-3, 0]), -1, 1e-15);
  assert.ok(Number.isNaN(cosineSimilarity([0, 0], [1, 2])));
  assert.throws(() => cosineSimilarity([1], [1, 2]), /1 values against 2/);
});

test('linear CKA: 1 against itself, invariant to rotation and isotropic scaling, near 0 against independent data', () => {
  const x = randomMatrix(400, 12, 1);
  close(linearCka(x, x), 1, 1e-12);
  const y = multiply(randomMatrix(400, 12, 2), randomMatrix(12, 9, 3)); // a different width on purpose
  const base = linearCka(x, y);
  const rotated = multiply(x, orthogonal(12, 4));
  const scaled: Matrix = { ...y, data: Float64Array.from(y.data, (v) => -7.5 * v + 3) }; // scale and shift (centring removes the shift)
  close(linearCka(rotated, scaled), base, 1e-10);
  close(linearCka(rotated, x), 1, 1e-10);
  const independent = linearCka(randomMatrix(4000, 8, 5), randomMatrix(4000, 8, 6));
  assert.ok(independent < 0.01, `CKA of independent data ${independent}`);
  // A shared component gives a clearly positive CKA.
  const shared = { ...x, data: Float64Array.from(x.data, (v, i) => v + 0.5 * y.data[Math.floor(i / 12) * 9 + (i % 9)]) };
  assert.ok(linearCka(shared, y) > 5 * base);
  assert.ok(Number.isNaN(linearCka({ rows: 3, columns: 1, data: [2, 2, 2] }, { rows: 3, columns: 1, data: [1, 2, 3] })));
  assert.throws(() => linearCka(x, randomMatrix(10, 2, 1)), /400 examples against 10/);
});

test('linear CKA agrees with numpy in feature space and in example space (wide matrices)', () => {
  const cases = [
    [randomMatrix(300, 6, 11), randomMatrix(300, 4, 12)], // tall: feature-space path
    [randomMatrix(8, 40, 13), randomMatrix(8, 30, 14)], // wide: Gram path
  ];
  const script = [
    'import sys, json, numpy as np',
    'out = []',
    'for (xr, xc, xd), (yr, yc, yd) in json.load(sys.stdin):',
    '    X = np.array(xd).reshape(xr, xc); Y = np.array(yd).reshape(yr, yc)',
    '    X = X - X.mean(0); Y = Y - Y.mean(0)',
    '    out.append(np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)))',
    'print(json.dumps(out))',
  ].join('\n');
  const input = JSON.stringify(cases.map((pair) => pair.map((m) => [m.rows, m.columns, Array.from(m.data)])));
  const expected = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input }).toString()) as number[];
  cases.forEach(([x, y], i) => close(linearCka(x, y), expected[i], 1e-12));
});

test('tower drift tables: layers × checkpoints × pairs, NaN where a tower is missing', () => {
  const w = (values: number[]): Matrix => ({ rows: 1, columns: values.length, data: values });
  const entries = [
    { layer: 0, checkpoint: 100, tower: 'text', matrix: w([1, 0]) },
    { layer: 0, checkpoint: 100, tower: 'image', matrix: w([1, 0]) },
    { layer: 0, checkpoint: 100, tower: 'speech', matrix: w([0, 1]) },
    { layer: 0, checkpoint: 200, tower: 'text', matrix: w([1, 1]) },
    { layer: 0, checkpoint: 200, tower: 'image', matrix: w([1, 0]) },
    { layer: 1, checkpoint: 200, tower: 'text', matrix: w([3, 4]) },
    { layer: 1, checkpoint: 200, tower: 'image', matrix: w([4, 3]) },
  ];
  const table = towerDrift(entries, 'cosine');
  assert.deepEqual(table.layers, [0, 1]);
  assert.deepEqual(table.checkpoints, [100, 200]);
  assert.deepEqual(table.pairs, [
    ['text', 'image'],
    ['text', 'speech'],
    ['image', 'speech'],
  ]);
  const textImage = driftMatrix(table, 0);
  close(textImage[0][0], 1);
  close(textImage[0][1], Math.SQRT1_2);
  close(textImage[1][1], 24 / 25);
  assert.ok(Number.isNaN(textImage[1][0]));
  assert.equal(table.values[0][0][1], 0); // text ⟂ speech
  assert.throws(() => towerDrift([...entries, entries[0]], 'cosine'), /two matrices for layer 0, checkpoint 100, tower text/);
  assert.throws(() => towerDrift([entries[0], { ...entries[1], matrix: w([1, 0, 0]) }], 'cosine'), /1×2 against 1×3/);
  assert.throws(() => driftMatrix(table, 3), /no pair 3/);
});
