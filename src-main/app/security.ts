/**
 * The Electron window's security options (the Content-Security-Policy is common/csp.ts).
 * No Electron import at runtime, so tests can read them.
 */
import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

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

/** `backgroundColor`: the theme's page background (common/palette.ts), shown before the page paints. */
export function mainWindowOptions(preloadPath: string, backgroundColor: string, iconPath?: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 820,
    minWidth: 860,
    minHeight: 560,
    title: 'MoT Lab',
    show: false, // shown on 'ready-to-show' to avoid a white flash
    backgroundColor,
    icon: iconPath,
    webPreferences: secureWebPreferences(preloadPath),
  };
}
