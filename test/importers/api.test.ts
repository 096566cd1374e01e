/**
 * The imports area over the real HTTP API: importCheckpoint checks the path like a workspace
 * (absolute, inside the server's allowed folders), imports into the open workspace as
 * "<file>-imported" and answers with the run marked imported; analyzeWeights reads it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { encodeSafetensors } from '../../src-main/checkpoints/safetensors.ts';
import { loadDatasetSpec } from '../../src-main/data/dataset.ts';
import { buildModelConfig } from '../../src-main/model/presets.ts';
import { ApiError } from '../../src-main/common/api/client.ts';
import { clientFor, ROOT, startTestServer } from '../api/harness.ts';
import { tinyWeights } from '../hostile/helpers.ts';

let env: Awaited<ReturnType<typeof startTestServer>>;
let file = '';
let weights: ReturnType<typeof tinyWeights>;

before(async () => {
  env = await startTestServer();
  const spec = await loadDatasetSpec(path.join(ROOT, 'assets', 'datasets', 'fashion-tri'));
  const config = buildModelConfig('mot', 'tiny', spec);
  weights = tinyWeights(config, 3);
  const dir = path.join(env.workspace, 'incoming');
  mkdirSync(dir);
  file = path.join(dir, 'colleague.safetensors');
  writeFileSync(file, encodeSafetensors(weights, { format: 'motlab', config: JSON.stringify(config) }));
});

after(async () => {
  await env?.cleanup();
});

test('importCheckpoint refuses paths a client may not name, with the reason', async () => {
  const client = clientFor(env.server);
  for (const [p, reason] of [
    ['incoming/colleague.safetensors', /the path must be absolute/],
    ['/etc/hostname', /outside the folders this server may use/],
    [path.join(env.workspace, 'nope.safetensors'), /no such file or folder/],
  ] as const) {
    await assert.rejects(
      client.importCheckpoint({ path: p }),
      (e: unknown) => e instanceof ApiError && e.code === 'invalid_request' && reason.test(e.message),
    );
  }
});

test('importCheckpoint makes a run marked imported; analyzeWeights reads its weights', async () => {
  const client = clientFor(env.server);
  const run = await client.importCheckpoint({ path: file });
  assert.equal(run.name, 'colleague-imported');
  assert.equal(run.status, 'completed');
  assert.equal(run.modelKind, 'MoT');
  assert.deepEqual(
    { ...run.imported, path: undefined },
    { kind: 'imported', path: undefined, format: 'safetensors', mapping: 'lab', assumed: [], dropped: 0 },
  );
  assert.ok((await client.listRuns({})).some((r) => r.name === 'colleague-imported' && r.imported?.mapping === 'lab'));
  // The same file again gets a name of its own.
  assert.equal((await client.importCheckpoint({ path: file })).name, 'colleague-imported-2');

  const analysis = await client.analyzeWeights({ run: 'colleague-imported', singularValues: 1, metrics: ['cosine'] });
  assert.equal(analysis.tensors.length, Object.keys(weights).length);
  assert.deepEqual(analysis.towers.attention, ['text', 'image', 'speech']);
  // tinyWeights fills norms with ones: every pair of norm towers has cosine 1.
  const norms = analysis.drift.filter((d) => d.component === 'norm');
  assert.ok(norms.length > 0 && norms.every((d) => Math.abs(d.cosine! - 1) < 1e-12));
  await assert.rejects(client.analyzeWeights({ run: 'no-such-run' }), (e: unknown) => e instanceof ApiError && e.code === 'not_found');
});
