/**
 * Hostile requests and damaged workspaces against the real `motlab serve` (a child process on a
 * free loopback port, raw requests over node:net / node:http): every request gets an answer,
 * `{code, message}` for errors, and the server is still up and answering afterwards.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_BODY } from '../../src-main/server/server.ts';
import { post, raw, tryWebSocket } from '../api/harness.ts';
import { peakRssMiB, rawExchange, STACK_FRAME, startServe, writeDataset, writeRun, type ServeProcess } from './helpers.ts';

const root = mkdtempSync(path.join(tmpdir(), 'motlab-hostile-serve-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The server answers a plain API call (and so is alive). */
async function assertAlive(server: ServeProcess): Promise<void> {
  assert.equal(server.child.exitCode, null, `the server exited: ${server.output()}`);
  const res = await post(server.url, 'getWorkspace', {});
  assert.equal(res.status, 200, res.text);
}

function upgradeRequest(target: string, port: number, extra = ''): string {
  return (
    `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`
  );
}

describe('motlab serve on loopback, with a damaged workspace', () => {
  const allowed = path.join(root, 'allowed');
  const workspace = path.join(allowed, 'ws');
  const runs = path.join(workspace, 'runs');
  let server: ServeProcess;

  before(async () => {
    mkdirSync(runs, { recursive: true });
    // The example dataset is made on first use; a small one of ours stands in (no child process).
    writeDataset(path.join(workspace, 'datasets', 'example-synth'));
    const data = writeDataset(path.join(root, 'data'));
    await writeRun(path.join(runs, 'good'), data);
    // Damaged runs, each in its own way.
    const damage: Record<string, (dir: string) => void> = {
      'created-number': (dir) => editRunJson(dir, (r) => ({ ...r, created: 12345 })),
      'null-modality': (dir) => editRunJson(dir, (r) => ({ ...r, model: { ...r.model, modalities: [null] } })),
      'run-json-garbage': (dir) => writeFileSync(path.join(dir, 'run.json'), '{"name": "x", \u0000\u0000'),
      'run-json-fifo': (dir) => {
        rmSync(path.join(dir, 'run.json'));
        execFileSync('mkfifo', [path.join(dir, 'run.json')]);
      },
      'metrics-folder': (dir) => {
        rmSync(path.join(dir, 'metrics.jsonl'));
        mkdirSync(path.join(dir, 'metrics.jsonl'));
      },
      'metrics-fifo': (dir) => {
        rmSync(path.join(dir, 'metrics.jsonl'));
        execFileSync('mkfifo', [path.join(dir, 'metrics.jsonl')]);
      },
      'corrupt-lines': (dir) => {
        const good = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
        writeFileSync(
          path.join(dir, 'metrics.jsonl'),
          good + 'garbage\n' + '\u0000'.repeat(64) + '\n' + good.replace('"step":1', '"step":2'),
        );
      },
    };
    for (const [name, apply] of Object.entries(damage)) {
      const dir = path.join(runs, name);
      await writeRun(dir, data);
      apply(dir);
    }
    // A dataset whose vocab_size would have the overview allocate 8 GB.
    writeDataset(path.join(workspace, 'datasets', 'huge-vocab'), { spec: { vocab_size: 2e9 } });
    server = await startServe(['--workspace', workspace, '--workspace-root', allowed]);
  });

  after(async () => {
    if (server) {
      const code = await server.stop();
      assert.equal(code, 0, server.output());
      assert.doesNotMatch(server.output(), STACK_FRAME, 'no stack trace in the server output');
    }
  });

  test('a WebSocket upgrade to an unparsable URL is answered 400; the server stays up', async () => {
    const answer = await rawExchange(server.port, upgradeRequest('//a:99999/api/events', server.port));
    assert.match(answer, /^HTTP\/1\.1 400 /);
    await assertAlive(server);
    // Plain requests with such targets too, and junk that is not HTTP at all.
    assert.match(
      await rawExchange(server.port, `GET //a:99999/api/x HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`),
      /^HTTP\/1\.1 400 /,
    );
    assert.match(await rawExchange(server.port, '\u0000\u0001\u0002 not http\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(
      await rawExchange(server.port, upgradeRequest('/api/events', server.port, 'Sec-WebSocket-Version: x\r\n')),
      /^HTTP\/1\.1 400 /,
    );
    assert.equal(await tryWebSocket(server.url), 'open');
    await assertAlive(server);
  });

  test('openWorkspace refuses pseudo file systems, files, paths outside the allowed root, and switches only on success', async () => {
    const before = (await post(server.url, 'getWorkspace', {})).json?.result as { path: string };
    const outside = path.join(root, 'outside-ws');
    const file = path.join(allowed, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string, RegExp][] = [
      ['/proc/1', /outside the folders this server may use/],
      ['/etc', /outside the folders this server may use/],
      [outside, /outside the folders this server may use/],
      [file, /is not a folder/],
      [path.join(allowed, 'no-parent', 'ws'), /parent folder .* does not exist/],
      ['relative/ws', /must be absolute/],
      [`${allowed}/nul\u0000`, /NUL character/],
    ];
    for (const [target, pattern] of cases) {
      const started = Date.now();
      const res = await post(server.url, 'openWorkspace', { path: target });
      assert.equal(res.status, 400, `${target}: ${res.text}`);
      assert.equal(res.json?.error?.code, 'invalid_request');
      assert.match(res.json?.error?.message ?? '', pattern, target);
      assert.ok(Date.now() - started < 10_000, `${target} took ${Date.now() - started} ms`);
      assert.deepEqual((await post(server.url, 'getWorkspace', {})).json?.result, before, `${target} must not switch`);
    }
    assert.equal(existsSync(outside), false, 'nothing is created outside the allowed root');
    assert.equal(existsSync(path.join(allowed, 'no-parent')), false);
    // A new folder inside the root opens (and gets what a workspace needs); then back.
    const second = path.join(allowed, 'second');
    mkdirSync(path.join(second, 'datasets', 'example-synth'), { recursive: true });
    writeDataset(path.join(second, 'datasets', 'example-synth'));
    const opened = await post(server.url, 'openWorkspace', { path: second });
    assert.equal(opened.status, 200, opened.text);
    assert.ok(existsSync(path.join(second, 'runs')));
    assert.equal((await post(server.url, 'openWorkspace', { path: workspace })).status, 200);
    await assertAlive(server);
  });

  test('an oversized body is answered 413, declared or streamed', async () => {
    const declared = await rawExchange(
      server.port,
      `POST /api/listRuns HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n{`,
    );
    assert.match(declared, /^HTTP\/1\.1 413 /);
    assert.match(declared, /"code":"invalid_request","message":"Request body too large/);
    const streamed = await post(server.url, 'listRuns', `{"a":"${'x'.repeat(MAX_BODY + 10)}"}`).catch((e: Error) => e);
    // The server answers 413 and closes; the client may see the answer or the reset of its upload.
    if (!(streamed instanceof Error)) assert.equal(streamed.status, 413);
    await assertAlive(server);
  });

  test('the Runs list shows damaged runs as damaged, with the reason, and lists the rest', async () => {
    const started = Date.now();
    const res = await post(server.url, 'listRuns', {});
    assert.equal(res.status, 200, res.text);
    assert.ok(Date.now() - started < 10_000, 'a FIFO must not hang the list');
    const list = res.json?.result as { name: string; status: string; message?: string; created?: unknown }[];
    const byName = Object.fromEntries(list.map((r) => [r.name, r]));
    assert.deepEqual(Object.keys(byName).sort(), [
      'corrupt-lines',
      'created-number',
      'good',
      'metrics-fifo',
      'metrics-folder',
      'null-modality',
      'run-json-fifo',
      'run-json-garbage',
    ]);
    assert.equal(byName.good.status, 'completed');
    assert.equal(byName['corrupt-lines'].status, 'completed');
    const damaged: Record<string, RegExp> = {
      'created-number': /Damaged run folder: .*run\.json: created/,
      'null-modality': /Damaged run folder: .*model\.modalities\[0\]/,
      'run-json-garbage': /Damaged run folder: .*run\.json: not valid JSON/,
      'run-json-fifo': /Damaged run folder: .*run\.json: is a FIFO \(named pipe\), not a regular file/,
      'metrics-folder': /Damaged run folder: .*metrics\.jsonl: is a folder, not a regular file/,
      'metrics-fifo': /Damaged run folder: .*metrics\.jsonl: is a FIFO/,
    };
    for (const [name, pattern] of Object.entries(damaged)) {
      assert.equal(byName[name].status, 'failed', name);
      assert.match(byName[name].message ?? '', pattern, name);
      assert.equal(typeof (byName[name].created ?? ''), 'string', `${name}: created must be a string or absent`);
      assert.equal((await post(server.url, 'getRun', { run: name })).status, 200, name);
    }
    for (const name of ['metrics-folder', 'metrics-fifo']) {
      const metrics = await post(server.url, 'readMetrics', { run: name });
      assert.equal(metrics.status, 422, metrics.text);
      assert.match(metrics.json?.error?.message ?? '', /not a regular file/);
    }
    await assertAlive(server);
  });

  test('corrupt metrics lines are skipped and reported; export still works', async () => {
    const res = await post(server.url, 'readMetrics', { run: 'corrupt-lines' });
    assert.equal(res.status, 200, res.text);
    const chunk = res.json?.result as { records: { step: number }[]; skipped: { count: number; lines: number[]; reason: string } };
    assert.deepEqual(
      chunk.records.map((r) => r.step),
      [1, 2],
    );
    assert.equal(chunk.skipped.count, 2);
    assert.deepEqual(chunk.skipped.lines, [2, 3]);
    assert.match(chunk.skipped.reason, /not valid JSON/);
    const exported = await post(server.url, 'exportMetrics', { run: 'corrupt-lines', format: 'csv' });
    assert.equal(exported.status, 200, exported.text);
  });

  test('a dataset claiming vocab_size 2e9 is not listed and costs no memory', async () => {
    const list = await post(server.url, 'listDatasets', {});
    assert.equal(list.status, 200);
    assert.ok(!(list.json?.result as { name: string }[]).some((d) => d.name === 'huge-vocab'));
    const overview = await post(server.url, 'getDatasetOverview', { dataset: 'huge-vocab' });
    assert.equal(overview.status, 404, overview.text);
    assert.ok(peakRssMiB(server.child.pid!) < 1024, `server peak RSS ${peakRssMiB(server.child.pid!)} MiB`);
  });

  test('static paths that cannot be decoded are 404, not errors', async () => {
    for (const p of ['/%', '/%E0%A4%A', '/..%2f..%2fetc%2fpasswd', '/%00']) assert.equal((await raw(server.url, p)).status, 404, p);
    await assertAlive(server);
  });
});

describe('motlab serve with a token', () => {
  test('a malformed cookie is a 401, on requests and upgrades; the server stays up', async () => {
    const token = 'hostile-suite-token-0123456789';
    const ws = path.join(root, 'token-ws');
    writeDataset(path.join(ws, 'datasets', 'example-synth'));
    // This server may open workspaces anywhere: pseudo file systems are still refused.
    const server = await startServe(['--host', '127.0.0.2', '--workspace', ws, '--workspace-root', '/'], { MOTLAB_TOKEN: token });
    try {
      const auth = { 'x-motlab-token': token };
      for (const target of ['/proc/1', '/proc/self/fd', '/sys/kernel', '/dev/shm/motlab-ws']) {
        const started = Date.now();
        const res = await post(server.url, 'openWorkspace', { path: target }, auth);
        assert.equal(res.status, 400, `${target}: ${res.text}`);
        assert.match(res.json?.error?.message ?? '', /pseudo file system/, target);
        assert.ok(Date.now() - started < 10_000, `${target} took ${Date.now() - started} ms`);
      }
      assert.equal(existsSync('/dev/shm/motlab-ws'), false);
      assert.equal(((await post(server.url, 'getWorkspace', {}, auth)).json?.result as { path: string }).path, ws);
      const cookie = `motlab_token_${server.port}=%`;
      assert.equal((await post(server.url, 'listRuns', {}, { cookie })).status, 401);
      const upgrade = await rawExchange(server.port, upgradeRequest('/api/events', server.port, `Cookie: ${cookie}\r\n`), '127.0.0.2');
      assert.match(upgrade, /^HTTP\/1\.1 401 /);
      assert.equal(await tryWebSocket(server.url, { cookie: `motlab_token_${server.port}=%E0%A4%A` }), 401);
      assert.equal(server.child.exitCode, null, server.output());
      assert.equal((await post(server.url, 'listRuns', {}, { 'x-motlab-token': token })).status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('$MOTLAB_TOKEN shorter than 16 characters is refused before anything starts', async () => {
    const ws = path.join(root, 'short-token-ws');
    const server = startServe(['--host', '127.0.0.2', '--workspace', ws], { MOTLAB_TOKEN: 'secret' });
    await assert.rejects(server, /motlab serve: The access token must have at least 16 characters \(it has 6\)/);
    assert.equal(existsSync(ws), false);
  });
});

function editRunJson(dir: string, edit: (run: Record<string, unknown> & { model: Record<string, unknown> }) => unknown): void {
  const file = path.join(dir, 'run.json');
  writeFileSync(file, JSON.stringify(edit(JSON.parse(readFileSync(file, 'utf8')))));
}
