/**
 * The HTTP+WebSocket transport over a real server: validation messages come from the API's
 * schemas, errors cross as {code, message}, and access control (Host/Origin on loopback, the
 * token everywhere else) is enforced on every request and upgrade.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { apiDefinition, startRunSchema } from '../../src-main/common/api/definition.ts';
import { contentSecurityPolicy } from '../../src-main/common/csp.ts';
import { PRESET_NAMES } from '../../src-main/common/vocabulary.ts';
import { describeZodIssues } from '../../src-main/common/validate.ts';
import { ApiError } from '../../src-main/common/api/client.ts';
import { startServer } from '../../src-main/server/server.ts';
import { clientFor, post, raw, ROOT, startTestServer, tryWebSocket } from './harness.ts';

/** The message the API must give for `input`: the schema's own issues, formatted the one shared way. */
function schemaMessage(method: keyof typeof apiDefinition, input: unknown): string {
  const result = apiDefinition[method].input.safeParse(input);
  assert.equal(result.success, false, 'test input should be invalid');
  return `Invalid ${method} request: ${describeZodIssues(result.error!)}`;
}

describe('server on 127.0.0.1', () => {
  let ctx: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    ctx = await startTestServer();
  });
  after(async () => {
    await ctx.cleanup();
  });

  test('binds loopback without a token and creates the workspace with an example dataset', async () => {
    assert.equal(ctx.server.host, '127.0.0.1');
    assert.equal(ctx.server.token, undefined);
    assert.ok(existsSync(join(ctx.workspace, 'runs')));
    assert.ok(existsSync(join(ctx.workspace, 'motlab-workspace.json')));
    const client = clientFor(ctx.server);
    const datasets = await client.listDatasets({});
    const example = datasets.find((d) => d.name === 'example-synth');
    assert.ok(example, `example dataset missing; notes: ${ctx.server.notes.join(' ')}`);
    assert.deepEqual(
      example.modalities.map((m) => m.name),
      ['text', 'image', 'speech'],
    );
    assert.deepEqual(await client.listRuns({}), []);
    const catalog = await client.getCatalog({});
    assert.deepEqual(
      catalog.presets.map((p) => p.name),
      [...PRESET_NAMES],
    );
    assert.equal(catalog.defaults.dataset !== undefined, true);
  });

  test('invalid inputs are refused with the schema message', async () => {
    const cases: [keyof typeof apiDefinition, unknown][] = [
      ['startRun', { preset: 'huge-transformer', size: 'tiny', dataset: 'example-synth' }],
      ['startRun', { preset: 'mot', size: 'tiny', dataset: 'example-synth', steps: -3 }],
      ['startRun', { preset: 'mot', size: 'tiny', dataset: 'example-synth', stepz: 3 }],
      ['startRun', { preset: 'mot', size: 'tiny', dataset: 'example-synth', name: '../escape' }],
      ['readMetrics', { run: '../../etc', offset: 0 }],
      ['readMetrics', { run: 'x', offset: 1.5 }],
      ['getRun', {}],
    ];
    for (const [method, input] of cases) {
      const res = await post(ctx.server.url, method, input);
      assert.equal(res.status, 400, `${method} ${JSON.stringify(input)}`);
      assert.deepEqual(res.json, { ok: false, error: { code: 'invalid_request', message: schemaMessage(method, input) } });
    }
    // The typed client throws the same error shape.
    const client = clientFor(ctx.server);
    const input = { preset: 'mot' as const, size: 'enormous' as 'tiny', dataset: 'example-synth' };
    await assert.rejects(client.startRun(input), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 'invalid_request');
      assert.equal(e.message, schemaMessage('startRun', input));
      assert.match(e.message, /size/);
      return true;
    });
    // The schema the form uses is the one the server enforces.
    assert.equal(apiDefinition.startRun.input, startRunSchema);
  });

  test('errors a person can act on: unknown dataset, unknown run, unknown method, bad body', async () => {
    const noData = await post(ctx.server.url, 'startRun', { preset: 'mot', size: 'tiny', dataset: 'nope' });
    assert.equal(noData.status, 404);
    assert.equal(noData.json?.error?.code, 'not_found');
    assert.match(noData.json?.error?.message ?? '', /No dataset named "nope" \(available: .*example-synth/);

    const noRun = await post(ctx.server.url, 'getRun', { run: 'missing-run' });
    assert.equal(noRun.status, 404);
    assert.match(noRun.json?.error?.message ?? '', /No run named "missing-run"/);

    const noMethod = await post(ctx.server.url, 'dropDatabase', {});
    assert.equal(noMethod.status, 404);
    assert.equal(noMethod.json?.error?.message, 'Unknown API method "dropDatabase"');

    const badJson = await post(ctx.server.url, 'listRuns', '{not json');
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json?.error?.message, 'Request body is not valid JSON');

    const notJsonType = await raw(ctx.server.url, '/api/listRuns', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    assert.equal(notJsonType.status, 400);

    const get = await raw(ctx.server.url, '/api/listRuns');
    assert.equal(get.status, 405);
  });

  test('serves the built UI with a strict CSP and nothing outside it', async () => {
    assert.ok(existsSync(join(ROOT, 'dist-renderer', 'index.html')), 'run "tsx scripts/build.ts renderer" first (npm test does)');
    const page = await raw(ctx.server.url, '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-security-policy'], contentSecurityPolicy('header'));
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.text, readFileSync(join(ROOT, 'dist-renderer', 'index.html'), 'utf8'));
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/assets/../../package.json', '/nope.js']) {
      const res = await raw(ctx.server.url, path);
      assert.equal(res.status, 404, path);
    }
  });

  test('DNS rebinding and cross-site requests are refused', async () => {
    const evilHost = await post(ctx.server.url, 'listRuns', {}, { host: `attacker.example:${ctx.server.port}` });
    assert.equal(evilHost.status, 403);
    const evilPage = await raw(ctx.server.url, '/', { headers: { host: 'attacker.example' } });
    assert.equal(evilPage.status, 403);
    const wrongPort = await post(ctx.server.url, 'listRuns', {}, { host: `127.0.0.1:${ctx.server.port + 1}` });
    assert.equal(wrongPort.status, 403);
    const okLocalhost = await post(ctx.server.url, 'listRuns', {}, { host: `localhost:${ctx.server.port}` });
    assert.equal(okLocalhost.status, 200);

    const crossSite = await post(ctx.server.url, 'listRuns', {}, { origin: 'https://attacker.example' });
    assert.equal(crossSite.status, 403);
    const sameSite = await post(ctx.server.url, 'listRuns', {}, { origin: `http://127.0.0.1:${ctx.server.port}` });
    assert.equal(sameSite.status, 200);

    assert.equal(await tryWebSocket(ctx.server.url, { origin: 'https://attacker.example' }), 403);
    assert.equal(await tryWebSocket(ctx.server.url, { origin: `http://127.0.0.1:${ctx.server.port}` }), 'open');
  });
});

describe('server on a non-default address requires the token', () => {
  let ctx: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    // 127.0.0.2 is still this machine, but not the default loopback bind: the token rule applies.
    ctx = await startTestServer({ host: '127.0.0.2' });
  });
  after(async () => {
    await ctx.cleanup();
  });

  test('a token is generated and printed in the URL to open', () => {
    assert.match(ctx.server.token ?? '', /^[0-9a-f]{48}$/);
    assert.equal(ctx.server.openUrl, `http://127.0.0.2:${ctx.server.port}/?token=${ctx.server.token}`);
  });

  test('requests and WebSocket upgrades without the token are refused', async () => {
    const url = ctx.server.url;
    const noToken = await post(url, 'listRuns', {});
    assert.equal(noToken.status, 401);
    assert.equal(noToken.json?.error?.code, 'unauthorized');
    assert.equal((await raw(url, '/')).status, 401);
    assert.equal((await raw(url, '/index.html')).status, 401);
    assert.equal((await post(url, 'listRuns', {}, { 'x-motlab-token': 'f'.repeat(48) })).status, 401);
    assert.equal((await post(url, 'listRuns', {}, { cookie: `motlab_token_${ctx.server.port}=nope` })).status, 401);
    assert.equal(await tryWebSocket(url), 401);
  });

  test('the token is accepted as header, bearer, cookie, and ?token= once (traded for a cookie)', async () => {
    const { url, token, port } = ctx.server;
    assert.ok(token);
    assert.equal((await post(url, 'listRuns', {}, { 'x-motlab-token': token })).status, 200);
    assert.equal((await post(url, 'listRuns', {}, { authorization: `Bearer ${token}` })).status, 200);
    const first = await raw(url, `/?token=${token}`);
    assert.equal(first.status, 302);
    assert.equal(first.headers.location, '/');
    const cookie = String(first.headers['set-cookie']).split(';')[0];
    assert.equal(cookie, `motlab_token_${port}=${token}`);
    assert.match(String(first.headers['set-cookie']), /HttpOnly/);
    assert.match(String(first.headers['set-cookie']), /SameSite=Strict/);
    assert.equal((await raw(url, '/', { headers: { cookie } })).status, 200);
    assert.equal((await post(url, 'listRuns', {}, { cookie })).status, 200);
    assert.equal(await tryWebSocket(url, { cookie }), 'open');
    assert.equal(await tryWebSocket(url, { 'x-motlab-token': token }), 'open');
    // The typed client with the token works end to end.
    assert.deepEqual(await clientFor(ctx.server).listRuns({}), []);
  });
});

describe('reconnection', () => {
  test('the client reconnects its event socket after a server restart and sees the same workspace', async () => {
    const first = await startTestServer();
    const port = first.server.port;
    const client = clientFor(first.server);
    const states: string[] = [];
    client.transport.onConnection?.((s) => states.push(s));
    client.transport.subscribe(() => {}); // the event socket opens with the first subscriber
    let second: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      await waitFor(() => states.includes('open'));
      await first.server.close(); // the workspace folder stays: a restarted server reads the same runs
      await waitFor(() => states.at(-1) !== 'open');
      second = await startServer({
        workspace: first.workspace,
        host: '127.0.0.1',
        port,
        staticDir: join(ROOT, 'dist-renderer'),
        cliPath: join(ROOT, 'bin', 'motlab.mjs'),
        builtinDatasets: join(ROOT, 'assets', 'datasets'),
      });
      await waitFor(() => states.filter((s) => s === 'open').length === 2);
      // Events flow on the new socket.
      const got = new Promise((resolve) => client.transport.subscribe((e) => e.type === 'workspace-changed' && resolve(e)));
      await client.openWorkspace({ path: first.workspace });
      assert.deepEqual(await got, { type: 'workspace-changed', path: first.workspace });
    } finally {
      client.transport.close?.();
      await second?.close();
      await first.cleanup();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
