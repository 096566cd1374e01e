/**
 * Who may talk to `motlab serve`. On 127.0.0.1 (the default) only local processes can
 * connect, so no token is needed, but Host and Origin are checked so that a web page cannot
 * reach the server through DNS rebinding or a cross-site request. On any other address a
 * random access token is required on every request and WebSocket upgrade (Jupyter-style:
 * open the printed `?token=` URL once, the server then sets a cookie).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TOKEN_HEADER } from '../common/api/client.ts';

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackDefault(host: string): boolean {
  return LOOPBACK_NAMES.has(host);
}

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

export interface AuthPolicy {
  /** Required on every request when set. */
  token?: string;
  /** Port the server listens on (Host headers must name it on loopback binds). */
  port: number;
  /** Only loopback host names are accepted in Host (DNS-rebinding defence); off when a token is required. */
  checkHost: boolean;
}

export const cookieName = (port: number) => `motlab_token_${port}`;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A cookie's value; a malformed one ("%", bad UTF-8) counts as absent, never as an exception. */
function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export type AuthResult = { ok: true; tokenFromQuery: boolean } | { ok: false; status: 401 | 403; message: string };

export function checkRequest(req: IncomingMessage, url: URL, policy: AuthPolicy): AuthResult {
  const host = req.headers.host ?? '';
  if (policy.checkHost) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
    if (!m || !LOOPBACK_NAMES.has(m[1]) || (m[2] !== undefined && Number(m[2]) !== policy.port))
      return { ok: false, status: 403, message: `Host "${host}" is not allowed; open the lab at http://127.0.0.1:${policy.port}/` };
  }
  // A browser sends Origin on cross-site POSTs and WebSocket upgrades: it must be us.
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`)
    return { ok: false, status: 403, message: `Cross-origin request from "${origin}" refused` };
  if (!policy.token) return { ok: true, tokenFromQuery: false };
  const query = url.searchParams.get('token');
  if (query !== null && safeEqual(query, policy.token)) return { ok: true, tokenFromQuery: true };
  const auth = req.headers.authorization;
  const header = req.headers[TOKEN_HEADER] ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined);
  const given = (Array.isArray(header) ? header[0] : header) ?? cookieValue(req, cookieName(policy.port));
  if (given !== undefined && safeEqual(given, policy.token)) return { ok: true, tokenFromQuery: false };
  return {
    ok: false,
    status: 401,
    message: 'This lab server needs its access token: open the URL with ?token=… that `motlab serve` printed.',
  };
}
