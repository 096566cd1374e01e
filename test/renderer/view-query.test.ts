/**
 * A view's state in its address (src-renderer/lib/view-query.ts): what is written, that every
 * state reads back as itself (names that look like numbers, booleans, JSON or contain commas
 * included), defaults left out, and clear refusals of addresses that describe no valid view.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lossesViewSchema, pcaViewSchema, stepMatchViewSchema } from '../../src-main/common/views.ts';
import { decodeViewQuery, encodeViewQuery } from '../../src-renderer/lib/view-query.ts';

const losses = (fields: Record<string, unknown>) => lossesViewSchema.parse({ kind: 'losses', ...fields });

test('a state is written readably: defaults left out, strings as they are, lists of names joined by commas', () => {
  assert.equal(encodeViewQuery(lossesViewSchema, losses({ runs: ['dense', 'mot'] })), 'runs=dense%2Cmot');
  const q = encodeViewQuery(lossesViewSchema, losses({ runs: ['a'], x: 'flops', smoothing: 0.9, logY: true, xRange: [10, 2000.5] }));
  assert.equal(new URLSearchParams(q).toString(), q);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(q)), {
    runs: 'a',
    x: 'flops',
    smoothing: '0.9',
    logY: 'true',
    xRange: '[10,2000.5]',
  });
});

test('every state reads back as itself, whatever its names look like', () => {
  const states = [
    losses({ runs: ['dense'] }),
    losses({ runs: ['123', 'true', 'null'], split: 'both', compare: ['123', 'true'] }),
    losses({ runs: ['/runs/a,b', 'x y', '[1]', '"quoted"'], modalities: ['text', 'image'], xRange: [0.5, 1e12], smoothing: 0 }),
    losses({ runs: ['r'], modalities: [], showRaw: false, logX: true }),
  ];
  for (const state of states) {
    const decoded = decodeViewQuery(lossesViewSchema, 'losses', encodeViewQuery(lossesViewSchema, state));
    assert.ok(decoded.ok, JSON.stringify(decoded));
    assert.deepEqual(decoded.state, state);
  }
  const match = stepMatchViewSchema.parse({ kind: 'step-match', reference: '42', runs: ['mot', 'false'], x: 'wall' });
  assert.deepEqual(decodeViewQuery(stepMatchViewSchema, 'step-match', encodeViewQuery(stepMatchViewSchema, match)), {
    ok: true,
    state: match,
  });
  const pca = pcaViewSchema.parse({ kind: 'pca', run: 'mot', checkpoint: 200, components: [2, 3], reference: null });
  assert.deepEqual(decodeViewQuery(pcaViewSchema, 'pca', encodeViewQuery(pcaViewSchema, pca)), { ok: true, state: pca });
});

test('a hand-typed address works; one describing no valid view is refused with the reason', () => {
  assert.deepEqual(decodeViewQuery(lossesViewSchema, 'losses', 'runs=dense,mot&x=tokens'), {
    ok: true,
    state: losses({ runs: ['dense', 'mot'], x: 'tokens' }),
  });
  const refusals: [string, RegExp][] = [
    ['', /runs/],
    ['runs=a&x=epochs', /x: /],
    ['runs=a&smoothing=2', /smoothing ≤ 0\.999/],
    ['runs=a&colour=red', /unknown setting colour/],
    ['runs=a&kind=pca', /unknown setting kind/],
  ];
  for (const [query, reason] of refusals) {
    const decoded = decodeViewQuery(lossesViewSchema, 'losses', query);
    assert.equal(decoded.ok, false, query);
    assert.match((decoded as { problem: string }).problem, reason, query);
  }
});
