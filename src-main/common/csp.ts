/**
 * The UI's Content-Security-Policy, defined once: put into the renderer's index.html by the
 * Vite build, sent as a header by `motlab serve`, and checked by the Electron tests.
 */

/** Everything from our own origin only; no inline code, no eval, no remote content. */
export const CSP_DIRECTIVES: Record<string, string> = {
  'default-src': "'self'",
  'script-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self'",
  'font-src': "'self'",
  // 'self' covers ws:// to the same host (CSP 3) for the server's event socket.
  'connect-src': "'self'",
  'object-src': "'none'",
  'base-uri': "'none'",
  'form-action': "'none'",
  'worker-src': "'none'",
  'frame-src': "'none'",
};

/** `frame-ancestors` only works as a header (browsers ignore it, with a warning, in a meta tag). */
export function contentSecurityPolicy(kind: 'meta' | 'header'): string {
  const d = kind === 'header' ? { ...CSP_DIRECTIVES, 'frame-ancestors': "'none'" } : CSP_DIRECTIVES;
  return Object.entries(d)
    .map(([k, v]) => `${k} ${v}`)
    .join('; ');
}
