/**
 * Electron main process: one window, the API over IPC, native menus and dialogs. Training
 * runs in child processes owned by this process, so closing and reopening the window (or
 * reloading it) does not interrupt it; quitting the app stops runs with a checkpoint.
 * Bundled by scripts/build.ts to dist-main/electron-main.cjs.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeTheme, session, shell } from 'electron';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createApi, type MotlabApi } from '../api/impl.ts';
import { defaultWorkspacePath } from '../api/workspace.ts';
import { registerIpc } from './ipc.ts';
import { menuTemplate } from './menu.ts';
import { mainWindowOptions } from './security.ts';
import { isActiveJobStatus, isActiveStatus } from '../common/vocabulary.ts';
import { UI_COLOURS } from '../common/palette.ts';

const appRoot = app.getAppPath();
const rendererDir = join(appRoot, 'dist-renderer');
const rendererIndex = join(rendererDir, 'index.html');
const rendererUrlPrefix = pathToFileURL(rendererDir).href + '/';
const isTrustedUrl = (url: string) => url.startsWith(rendererUrlPrefix);

/** After a run or job ends, its process exits moments later: look again after this long. */
const QUIT_CHECK_DELAY_MS = 500;

let api: MotlabApi;
let win: BrowserWindow | null = null;

function createWindow(): void {
  const icon = join(appRoot, 'assets', 'icons', 'icon.png');
  const background = UI_COLOURS[nativeTheme.shouldUseDarkColors ? 'dark' : 'light'].bg;
  win = new BrowserWindow(mainWindowOptions(join(appRoot, 'dist-main', 'preload.cjs'), background, existsSync(icon) ? icon : undefined));
  const wc = win.webContents;
  // No navigation away from our page and no new windows; external links open in the browser.
  wc.on('will-navigate', (event, url) => {
    if (!isTrustedUrl(url)) event.preventDefault();
  });
  wc.on('will-redirect', (event) => event.preventDefault());
  wc.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.once('ready-to-show', () => win?.show());
  win.on('closed', () => (win = null));
  void win.loadFile(rendererIndex);
}

/** The run shown in the window (from its #/run/<name> route), for Export…. */
function currentRun(): string | null {
  const hash = win ? new URL(win.webContents.getURL()).hash : '';
  const m = /^#\/run\/(.+)$/.exec(hash);
  return m ? decodeURIComponent(m[1]) : null;
}

async function openWorkspace(): Promise<void> {
  const result = await dialog.showOpenDialog({
    title: 'Open Workspace',
    properties: ['openDirectory', 'createDirectory'],
    defaultPath: api.workspacePath(),
  });
  if (result.canceled || !result.filePaths[0]) return;
  try {
    await api.handlers.openWorkspace({ path: result.filePaths[0] });
  } catch (error) {
    dialog.showErrorBox('Cannot open workspace', (error as Error).message);
  }
}

/** Open Checkpoint…: the file in the system's dialog, then the import options on the Runs page. */
async function openCheckpoint(): Promise<void> {
  const result = await dialog.showOpenDialog({
    title: 'Open Checkpoint',
    properties: ['openFile'],
    filters: [{ name: 'Checkpoints (safetensors, sharded index)', extensions: ['safetensors', 'json'] }],
  });
  if (result.canceled || !result.filePaths[0] || !win) return;
  const hash = `#/?open=checkpoint&path=${encodeURIComponent(result.filePaths[0])}`;
  await win.webContents.executeJavaScript(`location.hash = ${JSON.stringify(hash)}`);
  win.focus();
}

async function exportMetrics(): Promise<void> {
  const run = currentRun();
  if (!run) {
    await dialog.showMessageBox({
      type: 'info',
      message: 'Open a run first',
      detail: 'Export writes the metrics of the run shown in the window as CSV.',
    });
    return;
  }
  const result = await dialog.showSaveDialog({
    title: 'Export Run Metrics',
    defaultPath: `${run}-metrics.csv`,
    filters: [{ name: 'CSV', extensions: ['csv'] }],
  });
  if (result.canceled || !result.filePath) return;
  try {
    const { text } = await api.handlers.exportMetrics({ run, format: 'csv' });
    await writeFile(result.filePath, text);
  } catch (error) {
    dialog.showErrorBox('Export failed', (error as Error).message);
  }
}

function installMenu(): void {
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      menuTemplate(
        {
          openWorkspace: () => void openWorkspace(),
          openCheckpoint: () => void openCheckpoint(),
          exportMetrics: () => void exportMetrics(),
          showWorkspaceFolder: () => void shell.openPath(api.workspacePath()),
          setTheme: (theme) => {
            nativeTheme.themeSource = theme; // drives prefers-color-scheme in the page
            installMenu();
          },
          currentTheme: () => nativeTheme.themeSource,
        },
        process.platform === 'darwin',
      ),
    ),
  );
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  // Launching the app again (e.g. after closing its window while training) shows the window.
  app.on('second-instance', () => {
    if (!app.isReady()) return;
    if (!win) return createWindow();
    if (win.isMinimized()) win.restore();
    win.focus();
  });

  // Belt and braces for any webContents (there should be only ours).
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });

  void app.whenReady().then(async () => {
    // The page needs no permissions (camera, notifications, …): refuse them all.
    session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
    session.defaultSession.setPermissionCheckHandler(() => false);
    // Downloads from the page (figure exports, metrics CSV) go through the system's save dialog.
    session.defaultSession.on('will-download', (_event, item) => {
      const name = item.getFilename();
      const extension = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : '';
      item.setSaveDialogOptions({
        title: 'Save',
        defaultPath: name,
        filters: extension ? [{ name: extension.toUpperCase(), extensions: [extension] }] : [],
      });
    });
    const bundledCli = join(appRoot, 'dist-main', 'cli.mjs');
    const created = createApi({
      workspace: defaultWorkspacePath(),
      cliPath: existsSync(bundledCli) ? bundledCli : join(appRoot, 'bin', 'motlab.mjs'),
      // Children run this same binary as plain Node.
      execPath: process.execPath,
      env: { ELECTRON_RUN_AS_NODE: '1' },
      builtinDatasets: join(appRoot, 'assets', 'datasets'),
    });
    api = created.api;
    await created.ready;
    registerIpc(ipcMain, api, isTrustedUrl, () => BrowserWindow.getAllWindows().map((w) => w.webContents));
    api.subscribe((event) => {
      if (event.type === 'run-status' && !isActiveStatus(event.status)) setTimeout(quitIfIdle, QUIT_CHECK_DELAY_MS);
      if (event.type === 'job-status' && !isActiveJobStatus(event.job.status)) setTimeout(quitIfIdle, QUIT_CHECK_DELAY_MS);
    });
    installMenu();
    createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow();
    });
  });

  // Closing the window does not stop training or any other job: while one is active the app
  // stays (launch it again, or click the dock icon, to get the window back) and quits when the
  // last one ends. Quitting stops every job first (training writes a checkpoint).
  const quitIfIdle = () => {
    if (process.platform !== 'darwin' && BrowserWindow.getAllWindows().length === 0 && api.activeJobCount() === 0) app.quit();
  };
  app.on('window-all-closed', quitIfIdle);
  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting || !api) return;
    event.preventDefault();
    quitting = true;
    void api.close().finally(() => app.quit());
  });
}
