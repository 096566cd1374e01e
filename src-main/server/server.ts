/**
 * `motlab serve`: the built renderer plus the API over HTTP (POST /api/<method>, JSON in,
 * Envelope out) and a WebSocket (/api/events) that pushes ApiEvents. A thin adapter: the
 * API itself is src-main/api/impl.ts, validated by src-main/api/dispatch.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { API_PREFIX, EVENTS_PATH } from '../common/api/client.ts';
import { dispatch, httpStatusOf } from '../api/dispatch.ts';
import { createApi, type ApiOptions, type MotlabApi } from '../api/impl.ts';
import { MotlabError } from '../common/errors.ts';
import { checkRequest, cookieName, isLoopbackDefault, newToken, type AuthPolicy } from './auth.ts';
import { securityHeaders, serveStatic } from './static.ts';

export interface ServerOptions extends ApiOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** When the port is busy, try the next ones (only for the default port). */
  portFallback?: boolean;
  /** Access token; generated when the host is not loopback. */
  token?: string;
  /** Built renderer folder (dist-renderer). */
  staticDir: string;
}

export interface RunningServer {
  url: string;
  /** The URL to open, with ?token= when one is required. */
  openUrl: string;
  host: string;
  port: number;
  token?: string;
  api: MotlabApi;
  notes: string[];
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8765;
const MAX_BODY = 1 << 20;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? (isLoopbackDefault(host) ? undefined : newToken());
  const { api, ready } = createApi(options);
  const notes = await ready;
  const policy: AuthPolicy = { token, port: 0, checkHost: !token };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const sockets = new Set<WebSocket>();
  const unsubscribe = api.subscribe((event) => {
    const data = JSON.stringify(event);
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(data);
  });

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: { code: 'internal', message: String(error) } });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    securityHeaders(res);
    const auth = checkRequest(req, url, policy);
    if (!auth.ok) {
      if (url.pathname.startsWith(API_PREFIX))
        return sendJson(res, auth.status, { ok: false, error: { code: 'unauthorized', message: auth.message } });
      res.writeHead(auth.status, { 'content-type': 'text/plain; charset=utf-8' });
      return void res.end(auth.message + '\n');
    }
    if (auth.tokenFromQuery && token) {
      // Trade the URL token for a cookie once, and drop it from the address bar.
      url.searchParams.delete('token');
      res.writeHead(302, {
        'set-cookie': `${cookieName(policy.port)}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        location: url.pathname + (url.search || ''),
      });
      return void res.end();
    }
    if (url.pathname.startsWith(API_PREFIX)) {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return sendJson(res, 405, { ok: false, error: { code: 'invalid_request', message: 'API methods are called with POST' } });
      }
      const method = url.pathname.slice(API_PREFIX.length);
      let input: unknown;
      try {
        input = await readJson(req);
      } catch (error) {
        return sendJson(res, 400, { ok: false, error: { code: 'invalid_request', message: (error as Error).message } });
      }
      const envelope = await dispatch(api.handlers, method, input);
      return sendJson(res, envelope.ok ? 200 : httpStatusOf(envelope.error.code), envelope);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      return void res.end();
    }
    await serveStatic(options.staticDir, url.pathname, res, req.method === 'HEAD');
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const auth = checkRequest(req, url, policy);
    if (url.pathname !== EVENTS_PATH || !auth.ok) {
      const status =
        url.pathname !== EVENTS_PATH
          ? '404 Not Found'
          : auth.ok
            ? ''
            : `${auth.status} ${auth.status === 401 ? 'Unauthorized' : 'Forbidden'}`;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('error', () => sockets.delete(ws));
    });
  });

  const port = await listen(server, host, options.port ?? DEFAULT_PORT, options.portFallback ?? false);
  policy.port = port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}/`;
  return {
    url,
    openUrl: token ? `${url}?token=${token}` : url,
    host,
    port,
    token,
    api,
    notes,
    async close() {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      await api.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function listen(server: Server, host: string, port: number, fallback: boolean): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const tryPort = port === 0 ? 0 : port + attempt;
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => {
          server.off('listening', onListening);
          reject(error);
        };
        const onListening = () => {
          server.off('error', onError);
          resolve();
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen(tryPort, host);
      });
      const address = server.address();
      return typeof address === 'object' && address ? address.port : tryPort;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' && fallback && attempt < 20) continue;
      if (code === 'EADDRINUSE') throw new MotlabError('conflict', `Port ${tryPort} on ${host} is in use; pass another with --port`);
      if (code === 'EADDRNOTAVAIL') throw new MotlabError('invalid_request', `Cannot bind ${host}: no such address on this machine`);
      throw error;
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(data);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw new Error('Send the request body as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('Request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('Request body is not valid JSON');
  }
}
