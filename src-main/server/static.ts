/** Serving the built renderer (dist-renderer/) with strict security headers. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { contentSecurityPolicy } from '../common/csp.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
};

export function securityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy('header'));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

export async function serveStatic(root: string, pathname: string, res: ServerResponse, head: boolean): Promise<void> {
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return notFound(res); // "%" or a broken UTF-8 escape names no file
  }
  if (rel === '/' || rel === '') rel = '/index.html';
  const file = normalize(join(root, rel));
  if (!file.startsWith(normalize(root) + sep) || rel.includes('\0')) return notFound(res);
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) {
    if (rel === '/index.html') {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('The lab UI is not built: run "npm run build" (or "npm start") in the motlab folder.\n');
      return;
    }
    return notFound(res);
  }
  const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, {
    'content-type': type,
    'content-length': info.size,
    // Hashed asset names can be cached forever; the HTML must always be fresh.
    'cache-control': rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  if (head) return void res.end();
  // The file can vanish between stat and read (a rebuild): end the answer, not the server.
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
}
