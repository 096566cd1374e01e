/**
 * The analyses that run the model go through the job mechanism over the real server: a tiny
 * MoT run (trained here by the real `motlab train`) is analysed through the API; the answer
 * equals `motlab analyze towers --json` (the CLI runs the same collect in its own process),
 * progress arrives as analysis-progress events under the request's id, two identical requests
 * share one job, cancelAnalysis cancels it, and errors arrive as {code, message}.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApiEvent } from '../../src-main/common/api/types.ts';
import { motlab } from '../training/helpers.ts';
import { clientFor, connected, EventLog, startTestServer } from './harness.ts';

let ctx: Awaited<ReturnType<typeof startTestServer>>;
const RUN = 'tiny-mot';

before(async () => {
  ctx = await startTestServer();
  const data = join(ctx.workspace, 'synth-data');
  assert.equal(motlab(['data', 'synth', '--out', data, '--tokens', '40000', '--seed', '5']).status, 0);
  const out = join(ctx.workspace, 'runs', RUN);
  const args = ['train', '--config', 'mot', '--size', 'tiny', '--data', data, '--out', out, '--steps', '4', '--checkpoint-every', '2'];
  const r = motlab([...args, '--engine', 'wasm']);
  assert.equal(r.status, 0, r.stderr);
});
after(async () => {
  await ctx.cleanup();
});

test('towers through the API: one job for two identical requests, progress under the request id, the CLI answer', async () => {
  const client = clientFor(ctx.server);
  const log = new EventLog(client);
  await connected(client);
  const [a, b] = await Promise.all([
    client.analyzeTowers({ run: RUN, probeWindows: 4, requestId: 'towers-a' }),
    client.analyzeTowers({ run: RUN, probeWindows: 4, requestId: 'towers-b' }),
  ]);
  assert.deepEqual(a, b);
  const jobs = (await client.listJobs({})).filter((j) => j.kind === 'analysis');
  assert.equal(jobs.length, 1, JSON.stringify(jobs));
  assert.equal(jobs[0].status, 'completed');
  const progress = log.events.filter((e): e is Extract<ApiEvent, { type: 'analysis-progress' }> => e.type === 'analysis-progress');
  for (const id of ['towers-a', 'towers-b'])
    assert.ok(
      progress.some((e) => e.requestId === id && e.analysis === 'towers'),
      id,
    );
  assert.ok(progress.every((e) => e.fraction >= 0 && e.fraction <= 1));

  const cli = motlab(['analyze', 'towers', '--run', join(ctx.workspace, 'runs', RUN), '--windows', '4', '--json', '--engine', 'wasm']);
  assert.equal(cli.status, 0, cli.stderr);
  const fromCli = JSON.parse(cli.stdout);
  assert.deepEqual(a.checkpoints, fromCli.checkpoints);
  // Weight drift comes from the files alone: equal. Output drift ran the model (engines may differ by rounding).
  assert.deepEqual(a.weights, fromCli.weights);
  const outputs = (r: { outputs: { ffn?: { cka: { values: number[][][] } } } }) => r.outputs.ffn!.cka.values.flat(2);
  outputs(fromCli).forEach((v, i) => assert.ok(Math.abs(v - outputs(a)[i]) < 1e-4, `output CKA ${i}: ${v} vs ${outputs(a)[i]}`));
});

test('cancelAnalysis cancels the job: the request fails with "cancelled" and the job says so', async () => {
  const client = clientFor(ctx.server);
  const pending = client.analyzeTowers({ run: RUN, probeWindows: 8, requestId: 'towers-cancel' });
  const rejected = assert.rejects(pending, /cancelled/);
  assert.deepEqual(await client.cancelAnalysis({ requestId: 'towers-cancel' }), { cancelled: true });
  await rejected;
  const job = (await client.listJobs({})).find((j) => j.kind === 'analysis' && j.input.probeWindows === 8);
  assert.equal(job?.status, 'cancelled');
  assert.deepEqual(await client.cancelAnalysis({ requestId: 'towers-cancel' }), { cancelled: false });
});

test('errors come back as {code, message}: a run without MoE for routing, a missing run, a bad layer before any job', async () => {
  const client = clientFor(ctx.server);
  await assert.rejects(client.analyzeRouting({ run: RUN }), (e: Error & { code?: string }) => {
    assert.match(e.message, /MoE/);
    return true;
  });
  await assert.rejects(client.analyzeTowers({ run: 'nope' }), (e: Error & { code?: string }) => e.code === 'not_found');
  const before = (await client.listJobs({})).length;
  await assert.rejects(
    client.analyzePca({ run: RUN, layers: [7] }),
    (e: Error & { code?: string }) => e.code === 'invalid_request' && /layer 7 does not exist/.test(e.message),
  );
  assert.equal((await client.listJobs({})).length, before, 'no job was started for a bad request');
});

test('exportFigure runs the model in analysis jobs too: a towers figure and a PCA figure, each after its job', async () => {
  const client = clientFor(ctx.server);
  const before = new Set((await client.listJobs({})).map((j) => j.id));
  const towers = await client.exportFigure({ view: { kind: 'towers', run: RUN, panel: 'output-drift' }, figure: { format: 'csv' } });
  assert.match(towers.data.split('\r\n')[0], /checkpoint|layer|step/);
  const pca = await client.exportFigure({ view: { kind: 'pca', run: RUN, layer: 0, probeTokens: 20 }, figure: { format: 'svg' } });
  assert.match(pca.data, /^<svg/);
  const started = (await client.listJobs({})).filter((j) => !before.has(j.id));
  assert.deepEqual(started.map((j) => [j.kind, j.input.analysis, j.status]).sort(), [
    ['analysis', 'pca-capture', 'completed'],
    ['analysis', 'towers', 'completed'],
  ]);
});
