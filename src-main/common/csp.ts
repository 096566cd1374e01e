/**
 * The UI's Content-Security-Policy, defined once: put into the renderer's index.html by the
 * Vite build, sent as a header by `motlab serve`, and checked by the Electron tests.
 */

/** Everything from our own origin only; no inline code, no eval, no remote content. */
export const CSP_DIRECTIVES: Record<string, string> = {
  'default-src': "'self'",
  'script-src': "'self'",
  'style-src': "'self'",
  // data: for images only: the export preview inlines the exporter's SVG, whose raster layers
  // (big point clouds, big heatmaps) are embedded PNGs. Images cannot run code.
  'img-src': "'self' data:",
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
