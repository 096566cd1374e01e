/**
 * A stand-in for the Electron runtime (not for any of our code), so the built main-process
 * bundle can run in plain Node: `require('electron')` from dist-main/electron-main.cjs gets the
 * main-process half (app, BrowserWindow, ipcMain, Menu, dialog, shell, session, nativeTheme),
 * and the preload bundle, run once per page load, gets the renderer half (contextBridge,
 * ipcRenderer) wired to that window. It behaves as Electron documents: `app.quit()` emits a
 * preventable 'before-quit', then closes the windows (without 'window-all-closed') and emits
 * 'will-quit' and 'quit'; closing the last window emits 'window-all-closed' (and quits when
 * nobody listens); every new webContents is announced by 'web-contents-created'; IPC payloads
 * are structured-cloned; `ipcMain.handle` refuses a second handler for a channel.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface ElectronEvent {
  defaultPrevented: boolean;
  preventDefault(): void;
}

function event<T extends object>(extra: T = {} as T): ElectronEvent & T {
  const e = {
    defaultPrevented: false,
    preventDefault() {
      e.defaultPrevented = true;
    },
    ...extra,
  };
  return e;
}

/** A frame as `event.senderFrame` shows it: its URL, and its parent (null for a top frame). */
export interface Frame {
  readonly url: string;
  readonly parent: Frame | null;
}

type IpcListener = (event: { sender: StandInWebContents }, ...args: unknown[]) => void;
type WindowOpenHandler = (details: { url: string; frameName: string; disposition: string }) => { action: 'allow' | 'deny' };

export class StandInWebContents extends EventEmitter {
  private static nextId = 1;
  readonly id = StandInWebContents.nextId++;
  url = '';
  destroyed = false;
  windowOpenHandler: WindowOpenHandler | null = null;
  /** What the page's preload exposed with contextBridge.exposeInMainWorld. */
  readonly exposed: Record<string, unknown> = {};
  /** ipcRenderer.on listeners of the current page. */
  readonly rendererListeners = new Map<string, Set<IpcListener>>();
  readonly mainFrame: Frame;

  constructor() {
    super();
    const currentUrl = () => this.url;
    this.mainFrame = {
      get url() {
        return currentUrl();
      },
      parent: null,
    };
  }

  getURL(): string {
    return this.url;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  setWindowOpenHandler(handler: WindowOpenHandler): void {
    this.windowOpenHandler = handler;
  }
  send(channel: string, ...args: unknown[]): void {
    if (this.destroyed) throw new Error('Object has been destroyed');
    for (const listener of this.rendererListeners.get(channel) ?? []) listener({ sender: this }, ...structuredClone(args));
  }
  /** A link or `window.open` in the page: what Electron asks the window-open handler. */
  requestWindowOpen(url: string): { action: 'allow' | 'deny' } {
    return this.windowOpenHandler ? this.windowOpenHandler({ url, frameName: '', disposition: 'new-window' }) : { action: 'allow' };
  }
  /** The page tries to navigate: returns whether the app let it. */
  attemptNavigation(url: string): boolean {
    const e = event({ url });
    this.emit('will-navigate', e, url);
    if (!e.defaultPrevented) this.url = url;
    return !e.defaultPrevented;
  }
  /** A server redirect during a navigation: returns whether the app let it. */
  attemptRedirect(url: string): boolean {
    const e = event({ url });
    this.emit('will-redirect', e, url);
    return !e.defaultPrevented;
  }
  /** The page asks to attach a <webview>: returns whether the app let it. */
  attemptAttachWebview(src: string): boolean {
    const e = event();
    this.emit('will-attach-webview', e, {}, { src });
    return !e.defaultPrevented;
  }
  /** A hash change inside the page (no will-navigate, as in Electron). */
  navigateInPage(hash: string): void {
    this.url = this.url.replace(/#.*$/, '') + hash;
    this.emit('did-navigate-in-page', event(), this.url, true);
  }
}

interface Recorded {
  options: Record<string, unknown> & { webPreferences?: Record<string, unknown>; show?: boolean };
  loadedFiles: string[];
  loadedUrls: string[];
}

export function createElectronStandIn(appPath: string) {
  const windows: StandInBrowserWindow[] = [];
  const created: StandInBrowserWindow[] = [];
  const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  const openedExternally: string[] = [];
  const openedPaths: string[] = [];
  const dialogAnswers: { save: { canceled: boolean; filePath?: string }[]; open: { canceled: boolean; filePaths: string[] }[] } = {
    save: [],
    open: [],
  };
  const errorBoxes: [string, string][] = [];
  const menus: { template: unknown[] }[] = [];
  const quitCalls: string[] = [];
  const permissions: {
    request?: (wc: unknown, permission: string, callback: (granted: boolean) => void, details: unknown) => void;
    check?: (wc: unknown, permission: string, origin: string, details: unknown) => boolean;
  } = {};
  let ready = false;
  let quitted = false;
  let markReady!: () => void;
  const readyPromise = new Promise<void>((r) => (markReady = r));
  let markQuit!: () => void;
  const quitPromise = new Promise<void>((r) => (markQuit = r));
  /** The page whose preload is being run (its require('electron') gets the renderer half). */
  let loadingPreloadFor: StandInWebContents | null = null;
  const nodeRequire = createRequire(import.meta.url);

  class StandInApp extends EventEmitter {
    getAppPath() {
      return appPath;
    }
    getName() {
      return 'MoT Lab';
    }
    requestSingleInstanceLock() {
      return true;
    }
    isReady() {
      return ready;
    }
    whenReady() {
      return readyPromise;
    }
    quit() {
      quitCalls.push(quitted ? 'after quit' : 'quit');
      if (quitted) return;
      const beforeQuit = event();
      this.emit('before-quit', beforeQuit);
      if (beforeQuit.defaultPrevented) return;
      for (const w of [...windows]) if (!w.close(true)) return;
      const willQuit = event();
      this.emit('will-quit', willQuit);
      if (willQuit.defaultPrevented) return;
      quitted = true;
      this.emit('quit', event(), 0);
      markQuit();
    }
    exit() {
      quitted = true;
      markQuit();
    }
  }
  const app = new StandInApp();

  class StandInBrowserWindow extends EventEmitter {
    static getAllWindows() {
      return [...windows];
    }
    readonly webContents = new StandInWebContents();
    readonly recorded: Recorded;
    visible = false;
    destroyed = false;

    constructor(options: Recorded['options'] = {}) {
      super();
      this.recorded = { options: structuredClone(options), loadedFiles: [], loadedUrls: [] };
      this.visible = options.show !== false;
      windows.push(this);
      created.push(this);
      app.emit('web-contents-created', event(), this.webContents);
    }
    loadFile(file: string, options: { hash?: string } = {}): Promise<void> {
      this.recorded.loadedFiles.push(file);
      return this.load(pathToFileURL(file).href + (options.hash ? `#${options.hash}` : ''));
    }
    loadURL(url: string): Promise<void> {
      this.recorded.loadedUrls.push(url);
      return this.load(url);
    }
    private load(url: string): Promise<void> {
      this.webContents.url = url;
      this.runPreload();
      setImmediate(() => !this.destroyed && this.emit('ready-to-show', event()));
      return Promise.resolve();
    }
    /** Electron runs the preload afresh in every page load, before the page's scripts. */
    private runPreload() {
      const preload = this.recorded.options.webPreferences?.preload;
      if (typeof preload !== 'string') return;
      this.webContents.rendererListeners.clear();
      for (const k of Object.keys(this.webContents.exposed)) delete this.webContents.exposed[k];
      delete nodeRequire.cache[preload];
      loadingPreloadFor = this.webContents;
      try {
        nodeRequire(preload);
      } finally {
        loadingPreloadFor = null;
      }
    }
    show() {
      this.visible = true;
    }
    isVisible() {
      return this.visible;
    }
    isMinimized() {
      return false;
    }
    restore() {}
    focus() {
      this.visible = true;
    }
    isDestroyed() {
      return this.destroyed;
    }
    /** Closes the window; `quitting` (from app.quit) skips 'window-all-closed'. Returns false if prevented. */
    close(quitting = false): boolean {
      if (this.destroyed) return true;
      const e = event();
      this.emit('close', e);
      if (e.defaultPrevented) return false;
      this.destroyed = true;
      this.webContents.destroyed = true;
      windows.splice(windows.indexOf(this), 1);
      this.emit('closed');
      if (!quitting && windows.length === 0) {
        if (app.listenerCount('window-all-closed') > 0) app.emit('window-all-closed');
        else app.quit();
      }
      return true;
    }
  }

  const ipcMain = {
    handle(channel: string, handler: (event: unknown, ...args: unknown[]) => unknown) {
      if (handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
      handlers.set(channel, handler);
    },
    removeHandler(channel: string) {
      handlers.delete(channel);
    },
  };

  /** What Electron does for ipcRenderer.invoke: clone the arguments in, the result (or error) out. */
  async function invoke(channel: string, senderEvent: { sender?: StandInWebContents; senderFrame: Frame | null }, args: unknown[]) {
    const handler = handlers.get(channel);
    if (!handler) throw new Error(`Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`);
    try {
      return structuredClone(await handler({ ...senderEvent, processId: 1, frameId: 1 }, ...structuredClone(args)));
    } catch (error) {
      throw new Error(`Error invoking remote method '${channel}': ${String(error)}`, { cause: error });
    }
  }

  function rendererHalf(wc: StandInWebContents) {
    return {
      contextBridge: {
        exposeInMainWorld(key: string, api: unknown) {
          wc.exposed[key] = api;
        },
      },
      ipcRenderer: {
        invoke: (channel: string, ...args: unknown[]) => invoke(channel, { sender: wc, senderFrame: wc.mainFrame }, args),
        on(channel: string, listener: IpcListener) {
          if (!wc.rendererListeners.has(channel)) wc.rendererListeners.set(channel, new Set());
          wc.rendererListeners.get(channel)!.add(listener);
        },
        removeListener(channel: string, listener: IpcListener) {
          wc.rendererListeners.get(channel)?.delete(listener);
        },
      },
    };
  }

  const nativeTheme = Object.assign(new EventEmitter(), {
    themeSource: 'system' as 'system' | 'light' | 'dark',
    shouldUseDarkColors: false,
  });

  const mainHalf = {
    app,
    BrowserWindow: StandInBrowserWindow,
    ipcMain,
    Menu: {
      buildFromTemplate: (template: unknown[]) => ({ template }),
      setApplicationMenu: (menu: { template: unknown[] }) => menus.push(menu),
    },
    dialog: {
      showOpenDialog: async () => dialogAnswers.open.shift() ?? { canceled: true, filePaths: [] },
      showSaveDialog: async () => dialogAnswers.save.shift() ?? { canceled: true },
      showMessageBox: async () => ({ response: 0, checkboxChecked: false }),
      showErrorBox: (title: string, content: string) => errorBoxes.push([title, content]),
    },
    shell: {
      openExternal: async (url: string) => void openedExternally.push(url),
      openPath: async (path: string) => {
        openedPaths.push(path);
        return '';
      },
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (h: typeof permissions.request) => (permissions.request = h),
        setPermissionCheckHandler: (h: typeof permissions.check) => (permissions.check = h),
        // will-download (the save dialog of downloads): no downloads happen in these tests.
        on: () => undefined,
      },
    },
    nativeTheme,
  };

  return {
    /** `require('electron')` for a module: the renderer half while a preload runs, else the main half. */
    moduleFor(): unknown {
      return loadingPreloadFor ? rendererHalf(loadingPreloadFor) : mainHalf;
    },
    app,
    windows,
    created,
    handlers,
    openedExternally,
    openedPaths,
    dialogAnswers,
    errorBoxes,
    menus,
    quitCalls,
    permissions,
    nativeTheme,
    /** Electron finished initialising: 'ready', then whenReady() resolves. */
    becomeReady() {
      ready = true;
      app.emit('ready', event(), {});
      markReady();
    },
    /** Resolves when the app has really quit ('quit' emitted). */
    quitted: quitPromise,
    hasQuit: () => quitted,
    /** The OS launches the app again while it runs (single-instance lock). */
    launchAgain() {
      app.emit('second-instance', event(), ['motlab'], appPath, {});
    },
    /** An IPC call from an arbitrary frame (a forged or foreign sender). */
    invokeFrom(frame: Frame | null, channel: string, ...args: unknown[]) {
      return invoke(channel, { senderFrame: frame }, args);
    },
    /** A webContents not belonging to our window (a devtools or stray one), announced to the app. */
    foreignWebContents(): StandInWebContents {
      const wc = new StandInWebContents();
      app.emit('web-contents-created', event(), wc);
      return wc;
    },
  };
}

export type ElectronStandIn = ReturnType<typeof createElectronStandIn>;
export type StandInWindow = ElectronStandIn['created'][number];

/**
 * Loads a CommonJS bundle with `require('electron')` answered by the stand-in (hooking Node's
 * module loader for exactly that request).
 */
export function loadWithElectron(bundle: string, standIn: ElectronStandIn): unknown {
  const require = createRequire(import.meta.url);
  const Module = require('node:module') as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const original = Module._load;
  Module._load = function (request: string, parent: unknown, isMain: boolean) {
    if (request === 'electron') return standIn.moduleFor();
    return original.call(this, request, parent, isMain);
  };
  return require(bundle);
}
