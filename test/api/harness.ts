/** Shared setup for the API tests: a real server on a fresh temporary workspace. */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { createApiClient, httpTransport, type MotlabClient } from '../../src-main/common/api/client.ts';
import type { ApiEvent } from '../../src-main/common/api/types.ts';
import { startServer, type RunningServer } from '../../src-main/server/server.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export async function startTestServer(
  options: { host?: string; token?: string } = {},
): Promise<{ server: RunningServer; workspace: string; cleanup(): Promise<void> }> {
  const workspace = mkdtempSync(join(tmpdir(), 'motlab-api-'));
  const server = await startServer({
    workspace,
    host: options.host ?? '127.0.0.1',
    port: 0,
    token: options.token,
    staticDir: join(ROOT, 'dist-renderer'),
    cliPath: join(ROOT, 'bin', 'motlab.mjs'),
    builtinDatasets: join(ROOT, 'assets', 'datasets'),
  });
  return {
    server,
    workspace,
    async cleanup() {
      // A client left open (a test that failed half-way) would keep reconnecting and hold the
      // test process open: close every client made for this server first.
      for (const client of clientsOf.get(server) ?? []) client.transport.close?.();
      clientsOf.delete(server);
      await server.close();
      rmSync(workspace, { recursive: true, force: true });
    },
  };
}

const clientsOf = new Map<RunningServer, MotlabClient[]>();

export function clientFor(server: RunningServer): MotlabClient {
  const client = createApiClient(
    httpTransport({
      baseUrl: server.url.replace(/\/$/, ''),
      token: server.token,
      WebSocket: WebSocket as unknown as NonNullable<Parameters<typeof httpTransport>[0]['WebSocket']>,
    }),
  );
  clientsOf.set(server, [...(clientsOf.get(server) ?? []), client]);
  return client;
}

/** Collects pushed events and lets a test wait for one matching a predicate. */
export class EventLog {
  readonly events: ApiEvent[] = [];
  private waiters: { match: (e: ApiEvent) => boolean; resolve: (e: ApiEvent) => void }[] = [];

  constructor(client: MotlabClient) {
    client.transport.subscribe((e) => {
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(e)) return true;
        w.resolve(e);
        return false;
      });
    });
  }

  /** The first event (already seen, from index `from`, or future) matching `match`. */
  waitFor<T extends ApiEvent>(match: (e: ApiEvent) => e is T, from?: number, what?: string, timeoutMs?: number): Promise<T>;
  waitFor(match: (e: ApiEvent) => boolean, from?: number, what?: string, timeoutMs?: number): Promise<ApiEvent>;
  waitFor(match: (e: ApiEvent) => boolean, from = 0, what = 'event', timeoutMs = 120_000): Promise<ApiEvent> {
    const seen = this.events.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; last events: ${JSON.stringify(this.events.slice(-3))}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }
}

/** Wait until the WebSocket is open (events before that would be missed). */
export function connected(client: MotlabClient): Promise<void> {
  return new Promise((resolve) => {
    const off = client.transport.onConnection?.((s) => {
      if (s === 'open') {
        queueMicrotask(() => off?.());
        resolve();
      }
    });
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: { ok?: boolean; result?: unknown; error?: { code: string; message: string } } | null;
}

/** A raw HTTP request (node:http, so Host and Origin can be set freely). */
export function raw(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: RawResponse['json'] = null;
        try {
          json = JSON.parse(text) as RawResponse['json'];
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POST JSON to an API method. */
export function post(url: string, method: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return raw(url, `/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Try a WebSocket upgrade; resolves 'open' or the HTTP status of the refusal. */
export function tryWebSocket(url: string, headers: Record<string, string> = {}): Promise<'open' | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws').replace(/\/$/, '') + '/api/events', { headers });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => {});
  });
}
