/**
 * `motlab serve`: the built renderer plus the API over HTTP (POST /api/<method>, JSON in,
 * Envelope out) and a WebSocket (/api/events) that pushes ApiEvents. A thin adapter: the
 * API itself is src-main/api/impl.ts, validated by src-main/api/dispatch.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { API_PREFIX, EVENTS_PATH } from '../common/api/client.ts';
import { dispatch, httpStatusOf, toErrorShape } from '../api/dispatch.ts';
import { createApi, type ApiOptions, type MotlabApi } from '../api/impl.ts';
import type { Envelope } from '../common/api/types.ts';
import { MotlabError } from '../common/errors.ts';
import { bounded } from '../common/text.ts';
import { checkRequest, cookieName, isLoopbackDefault, newToken, type AuthPolicy } from './auth.ts';
import { securityHeaders, serveStatic } from './static.ts';

/** How long an idle keep-alive connection stays open. */
const KEEP_ALIVE_MS = 65_000;

export interface ServerOptions extends ApiOptions {
  host?: string;
  /**
   * Folders openWorkspace may open workspaces in. Default: the home folder and the parent of
   * the starting workspace. (ApiOptions.workspaceRoots, made mandatory for a server.)
   */
  workspaceRoots?: readonly string[];
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
/** Largest request body (API inputs are a few hundred bytes). */
export const MAX_BODY = 1 << 20;
/** Open event sockets at once (one per browser tab; a script opening thousands gets 503s). */
export const MAX_EVENT_SOCKETS = 64;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.token !== undefined) checkToken(options.token);
  const token = options.token ?? (isLoopbackDefault(host) ? undefined : newToken());
  const workspaceRoots = options.workspaceRoots ?? [homedir(), dirname(resolve(options.workspace))];
  const { api, ready } = createApi({ ...options, workspaceRoots });
  const notes = await ready;
  const policy: AuthPolicy = { token, port: 0, checkHost: !token };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const sockets = new Set<WebSocket>();
  const unsubscribe = api.subscribe((event) => {
    const data = JSON.stringify(event);
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(data);
  });

  const server = createServer((req, res) => {
    // Every path answers: an unexpected error becomes a 500 (or a closed connection when the
    // answer had already begun); nothing a request does may end the process.
    handle(req, res).catch((error: unknown) => {
      try {
        if (!res.headersSent) sendJson(res, 500, { ok: false, error: toErrorShape(error) });
        else res.destroy();
      } catch {
        res.destroy();
      }
    });
  });
  // Keep idle connections well past the client's own keep-alive window: with Node's 5 s default a
  // client can reuse a socket in the instant the server closes it, and the request fails.
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 5_000;
  // Malformed requests and resets before a request is parsed: Node's own 'clientError'
  // handling answers 400/408/431 and closes the socket (no listener of ours needed).

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.on('error', () => res.destroy());
    securityHeaders(res);
    const url = requestUrl(req);
    if (!url) return sendJson(res, 400, { ok: false, error: { code: 'invalid_request', message: 'Malformed request URL' } });
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
        const status = error instanceof BodyTooLarge ? 413 : 400;
        // The rest of an oversized body is not read: close the connection after answering.
        if (status === 413) res.setHeader('connection', 'close');
        return sendJson(res, status, { ok: false, error: { code: 'invalid_request', message: (error as Error).message } });
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
    // After 'upgrade' the socket is ours: without a listener, a reset would be an uncaught error.
    socket.on('error', () => socket.destroy());
    const refuse = (status: string) => {
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    try {
      const url = requestUrl(req);
      if (!url) return refuse('400 Bad Request');
      if (url.pathname !== EVENTS_PATH) return refuse('404 Not Found');
      const auth = checkRequest(req, url, policy);
      if (!auth.ok) return refuse(`${auth.status} ${auth.status === 401 ? 'Unauthorized' : 'Forbidden'}`);
      if (sockets.size >= MAX_EVENT_SOCKETS) return refuse('503 Service Unavailable');
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        ws.on('close', () => sockets.delete(ws));
        ws.on('error', () => sockets.delete(ws));
      });
    } catch {
      refuse('500 Internal Server Error');
    }
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

/** The request's URL, or null when it cannot be parsed ("//a:99999/…" is not a path). */
function requestUrl(req: IncomingMessage): URL | null {
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    return url.host === 'localhost' ? url : null;
  } catch {
    return null;
  }
}

/** The shortest token `motlab serve` accepts (ours are 48 hex digits). */
export const MIN_TOKEN_LENGTH = 16;

/** A token must be long enough to guess at no useful rate, and safe in a URL, a header and a cookie. */
export function checkToken(token: string): void {
  if (token.length < MIN_TOKEN_LENGTH)
    throw new MotlabError('invalid_config', `The access token must have at least ${MIN_TOKEN_LENGTH} characters (it has ${token.length})`);
  if (!/^[A-Za-z0-9._~+/=-]+$/.test(token))
    throw new MotlabError('invalid_config', 'The access token may only use letters, digits and . _ ~ + / = -');
}

function sendJson(res: ServerResponse, status: number, body: Envelope): void {
  // An error message may quote a file: bounded, so a hostile file cannot make a huge answer.
  const shaped = body.ok ? body : { ok: false, error: { code: body.error.code, message: bounded(body.error.message) } };
  const data = JSON.stringify(shaped);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(data);
}

class BodyTooLarge extends Error {}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/json')) throw new Error('Send the request body as application/json');
  const tooLarge = `Request body too large (at most ${MAX_BODY} bytes)`;
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) throw new BodyTooLarge(tooLarge);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new BodyTooLarge(tooLarge);
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
