/**
 * Security settings of the UI, in one place: the Content-Security-Policy (put into the
 * renderer's index.html by the Vite build, and sent as a header by `motlab serve`) and the
 * Electron window options. No Electron import at runtime, so tests and the server can use it.
 */
import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

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

export function secureWebPreferences(preloadPath: string): WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webviewTag: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    spellcheck: false,
  };
}

export function mainWindowOptions(preloadPath: string, iconPath?: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 820,
    minWidth: 860,
    minHeight: 560,
    title: 'MoT Lab',
    show: false, // shown on 'ready-to-show' to avoid a white flash
    backgroundColor: '#16181d',
    icon: iconPath,
    webPreferences: secureWebPreferences(preloadPath),
  };
}
