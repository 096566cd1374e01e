/**
 * What the tower view draws from a weight analysis (common/weight-analysis.ts): block norms per
 * layer, spectra per tower and drift grids per tower pair, against numbers worked out by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blockNormsByLayer,
  driftGrids,
  spectraOf,
  type WeightAnalysis,
  type WeightDriftStats,
  type WeightTensorStats,
} from '../../src-main/common/weight-analysis.ts';

function tensor(
  layer: number | null,
  component: WeightTensorStats['component'],
  weight: string,
  tower: number | null,
  frobenius: number,
): WeightTensorStats {
  const towerLabel = tower === null ? null : ['text', 'image'][tower];
  return {
    name: `${layer}.${weight}.${tower}`,
    component,
    layer,
    weight,
    tower,
    towerLabel,
    shape: [2, 2],
    frobenius,
    singularValues: weight === 'w1' ? [frobenius, frobenius / 2] : null,
    singularValueErrorBound: null,
    stableRank: null,
  };
}

function drift(
  layer: number | null,
  component: WeightDriftStats['component'],
  weight: string,
  cosine: number,
  cka: number | null,
): WeightDriftStats {
  return { layer, component, weight, towers: [0, 1], labels: ['text', 'image'], cosine, cka };
}

const analysis: WeightAnalysis = {
  source: 'hand-made',
  step: 4,
  towers: { attention: ['text', 'image'], ffn: ['text', 'image'], norm: ['text', 'image'] },
  singularValuesPerMatrix: 2,
  metrics: ['cosine', 'cka'],
  tensors: [
    tensor(null, 'embedding', 'embed', null, 100),
    tensor(0, 'attention', 'wq', 0, 3),
    tensor(0, 'attention', 'wk', 0, 4),
    tensor(0, 'attention', 'wq', 1, 1),
    tensor(0, 'ffn', 'w1', 0, 2),
    tensor(0, 'ffn', 'w2', 0, 2),
    tensor(0, 'ffn', 'w3', 0, 1),
    tensor(1, 'ffn', 'w1', 0, 12),
    tensor(0, 'norm', 'ffn_norm', 0, 7),
    tensor(0, 'attention', 'wq bias', 0, 9),
  ],
  drift: [
    drift(1, 'ffn', 'w2', 0.25, 0.5),
    drift(0, 'attention', 'wq', 0.75, 0.5),
    drift(0, 'norm', 'ffn_norm', 0.9, null),
    drift(null, 'norm', 'final_norm', 0.8, null),
  ],
  skipped: [],
};

test('block norms: √(Σ‖W‖²) over a tower’s matrices per layer; embeddings, norms and biases left out', () => {
  const byLabel = Object.fromEntries(blockNormsByLayer(analysis).map((s) => [s.label, s]));
  assert.deepEqual(Object.keys(byLabel).sort(), ['attention · image', 'attention · text', 'ffn · text']);
  assert.deepEqual(byLabel['attention · text'], { label: 'attention · text', layers: [0], norms: [5] }); // √(9 + 16)
  assert.deepEqual(byLabel['attention · image'].norms, [1]);
  assert.deepEqual(byLabel['ffn · text'], { label: 'ffn · text', layers: [0, 1], norms: [3, 12] }); // √(4 + 4 + 1)
});

test('spectra: one series per tower of the chosen matrix, none when no singular values were computed', () => {
  assert.deepEqual(spectraOf(analysis, 1, 'w1'), [{ label: 'text', values: [12, 6] }]);
  assert.deepEqual(spectraOf(analysis, 0, 'wq'), []);
});

test('drift grids: layers × matrices of one tower pair, empty cells null, vectors left out', () => {
  assert.deepEqual(driftGrids(analysis, 'cosine'), [
    {
      labels: ['text', 'image'],
      layers: [0, 1],
      weights: ['wq', 'w2'],
      values: [
        [0.75, null],
        [null, 0.25],
      ],
    },
  ]);
  assert.deepEqual(driftGrids(analysis, 'cka')[0].values, [
    [0.5, null],
    [null, 0.5],
  ]);
});
