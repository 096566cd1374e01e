/**
 * The desktop shell, run: the built dist-main/electron-main.cjs (and, per page load,
 * dist-main/preload.cjs) in plain Node with a stand-in for the Electron runtime
 * (./electron-standin.ts), driven as Electron would. Everything of ours is real: the API, the
 * IPC handler, the bundled CLI creating the example dataset, a tiny MoT training process,
 * and the checkpoint written when the app quits.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildMain } from '../../scripts/build.ts';
import { IPC_CALL } from '../../src-main/app/ipc.ts';
import { bridgeTransport, createApiClient, type MotlabBridge, type MotlabClient } from '../../src-main/common/api/client.ts';
import type { ApiEvent, Envelope } from '../../src-main/common/api/types.ts';
import { contentSecurityPolicy } from '../../src-main/common/csp.ts';
import { UI_COLOURS } from '../../src-main/common/palette.ts';
import { createElectronStandIn, loadWithElectron, type ElectronStandIn, type StandInWindow } from './electron-standin.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const RENDERER_INDEX = join(ROOT, 'dist-renderer', 'index.html');
const PAGE_URL = pathToFileURL(RENDERER_INDEX).href;
const RUN = 'shell-tiny';
/** Far from its end and from its first periodic checkpoint: the only checkpoint is the one quitting writes. */
const TINY_MOT_RUN = { name: RUN, preset: 'mot', size: 'tiny', dataset: 'example-synth', steps: 5000, checkpointEvery: 1000 } as const;

let electron: ElectronStandIn;
let home: string;
let workspace: string;
let buildWarnings: string[];

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The API as the page sees it: window.motlab from the preload, through our own client. */
function pageClient(win: StandInWindow): { client: MotlabClient; events: ApiEvent[]; bridge: MotlabBridge } {
  const bridge = win.webContents.exposed.motlab as MotlabBridge;
  const client = createApiClient(bridgeTransport(bridge));
  const events: ApiEvent[] = [];
  client.transport.subscribe((e) => events.push(e));
  return { client, events, bridge };
}

interface MenuItem {
  label?: string;
  type?: string;
  checked?: boolean;
  click?: () => void;
  submenu?: MenuItem[];
}
function menuItem(items: MenuItem[], ...path: string[]): MenuItem {
  const [first, ...rest] = path;
  const found = items.find((i) => i.label === first);
  assert.ok(found, `menu item ${first}`);
  return rest.length ? menuItem(found.submenu ?? [], ...rest) : found;
}
const currentMenu = () => electron.menus.at(-1)!.template as MenuItem[];

before(async () => {
  assert.ok(existsSync(RENDERER_INDEX), 'build the renderer first: npx tsx scripts/build.ts renderer');
  buildWarnings = await buildMain();
  home = mkdtempSync(join(tmpdir(), 'motlab-shell-'));
  workspace = join(home, 'MoTLab');
  process.env.MOTLAB_WORKSPACE = workspace;
  electron = createElectronStandIn(ROOT);
  loadWithElectron(join(ROOT, 'dist-main', 'electron-main.cjs'), electron);
});

after(async () => {
  // A failed test may leave the app running: quit it so training children stop.
  if (electron && !electron.hasQuit()) {
    electron.app.quit();
    await Promise.race([electron.quitted, new Promise((r) => setTimeout(r, 60_000).unref())]);
  }
  if (home) rmSync(home, { recursive: true, force: true });
});

test('the bundles build without warnings; the CommonJS ones hold no import.meta; the preload needs only electron', () => {
  assert.deepEqual(buildWarnings, []);
  for (const bundle of ['electron-main.cjs', 'preload.cjs']) {
    const code = readFileSync(join(ROOT, 'dist-main', bundle), 'utf8');
    assert.doesNotMatch(code, /import\.meta|import_meta\s*=\s*\{\}/, bundle);
  }
  const preload = readFileSync(join(ROOT, 'dist-main', 'preload.cjs'), 'utf8');
  assert.deepEqual([...new Set([...preload.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))], ['electron']);
  assert.ok(existsSync(join(ROOT, 'dist-main', 'cli.mjs')));
});

test(
  'the shell, driven as Electron would: window, navigation, IPC, closing, quitting with a checkpoint',
  { timeout: 300_000 },
  async (t) => {
    assert.equal(electron.created.length, 0, 'no window before the app is ready');
    electron.becomeReady();
    const win = await until('the window', () => electron.created[0]);

    await t.test('one window with the secure options, showing our page once ready', async () => {
      const { options, loadedFiles, loadedUrls } = win.recorded;
      const prefs = options.webPreferences!;
      assert.equal(prefs.contextIsolation, true);
      assert.equal(prefs.sandbox, true);
      assert.equal(prefs.nodeIntegration, false);
      assert.equal(prefs.nodeIntegrationInWorker, false);
      assert.equal(prefs.nodeIntegrationInSubFrames, false);
      assert.equal(prefs.webviewTag, false);
      assert.equal(prefs.webSecurity, true);
      assert.equal(prefs.allowRunningInsecureContent, false);
      assert.equal(prefs.preload, join(ROOT, 'dist-main', 'preload.cjs'));
      assert.equal(options.show, false, 'hidden until ready-to-show (no white flash)');
      assert.equal(options.backgroundColor, UI_COLOURS.light.bg, "the theme's background (the OS is in light mode)");
      assert.deepEqual(loadedFiles, [RENDERER_INDEX]);
      assert.deepEqual(loadedUrls, [], 'no remote page is ever loaded');
      // file:// has no response headers: the page's own meta tag carries the policy.
      const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(readFileSync(RENDERER_INDEX, 'utf8'));
      assert.equal(meta?.[1], contentSecurityPolicy('meta'));
      await until('the window is shown', () => win.isVisible());
      assert.deepEqual(Object.keys(win.webContents.exposed), ['motlab'], 'the preload exposes window.motlab only');
      assert.deepEqual(Object.keys(win.webContents.exposed.motlab as object).sort(), ['call', 'subscribe']);
      assert.equal(electron.created.length, 1);
    });

    await t.test('no navigation away, no new windows, no webviews, no permissions', async () => {
      const wc = win.webContents;
      assert.equal(wc.attemptNavigation('https://evil.example/'), false);
      assert.equal(wc.attemptNavigation('file:///etc/passwd'), false);
      assert.equal(wc.attemptNavigation(pathToFileURL(join(ROOT, 'dist-renderer-evil', 'index.html')).href), false, 'a look-alike folder');
      assert.equal(wc.attemptNavigation(`${PAGE_URL}#/new`), true, 'our own page');
      assert.equal(wc.attemptRedirect('https://evil.example/'), false);
      assert.equal(wc.attemptAttachWebview('https://evil.example/'), false);

      assert.deepEqual(wc.requestWindowOpen('https://arxiv.org/abs/2411.04996'), { action: 'deny' });
      assert.deepEqual(wc.requestWindowOpen('http://plain.example/'), { action: 'deny' });
      assert.deepEqual(wc.requestWindowOpen('file:///etc/passwd'), { action: 'deny' });
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(electron.openedExternally, ['https://arxiv.org/abs/2411.04996'], 'only https links go to the browser');
      assert.equal(electron.created.length, 1, 'no window was opened');

      // Any other webContents (devtools, a stray one) gets the same refusals.
      const other = electron.foreignWebContents();
      assert.deepEqual(other.requestWindowOpen('https://example.org/'), { action: 'deny' });
      assert.equal(other.attemptAttachWebview('file:///tmp/x.html'), false);

      for (const permission of ['media', 'notifications', 'geolocation', 'clipboard-read']) {
        const granted = await new Promise<boolean>((r) => electron.permissions.request!(wc, permission, r, {}));
        assert.equal(granted, false, permission);
        assert.equal(electron.permissions.check!(wc, permission, PAGE_URL, {}), false, permission);
      }
    });

    await t.test('the IPC handler answers our page and refuses every other sender', async () => {
      const { client, bridge } = pageClient(win);
      const info = await client.getWorkspace({});
      assert.equal(info.path, workspace);
      assert.ok(existsSync(join(workspace, 'datasets', 'example-synth', 'dataset.json')), 'the bundled CLI made the example dataset');
      const datasets = (await client.listDatasets({})).map((d) => `${d.name}${d.builtin ? ' (built in)' : ''}`);
      assert.deepEqual(datasets, ['fashion-tri (built in)', 'example-synth']);
      assert.deepEqual(await bridge.call('startRun', { preset: 'mot', size: 'enormous', dataset: 'example-synth' }), {
        ok: false,
        error: {
          code: 'invalid_request',
          message: 'Invalid startRun request: size: Invalid option: expected one of "tiny"|"small"|"base"',
        },
      } satisfies Envelope);

      const forged = { preset: 'mot', size: 'tiny', dataset: 'example-synth', name: 'forged' };
      const page = win.webContents.mainFrame;
      const senders = [
        { url: 'https://evil.example/', parent: null },
        { url: `${PAGE_URL}#/`, parent: page }, // a sub-frame inside our page
        { url: pathToFileURL(join(ROOT, 'dist-renderer-evil', 'index.html')).href, parent: null },
        { url: 'file:///tmp/index.html', parent: null },
        { url: '', parent: null },
        null, // the frame is gone
      ];
      for (const frame of senders) {
        const reply = (await electron.invokeFrom(frame, IPC_CALL, 'startRun', forged)) as Envelope;
        assert.equal(reply.ok, false, JSON.stringify(frame?.url));
        assert.equal(!reply.ok && reply.error.code, 'unauthorized');
      }
      assert.ok(!existsSync(join(workspace, 'runs', 'forged')), 'a refused call does nothing');
      // Our page's top frame, asked the same way, is served.
      const ok = (await electron.invokeFrom({ url: `${PAGE_URL}#/`, parent: null }, IPC_CALL, 'listRuns', {})) as Envelope;
      assert.deepEqual(ok, { ok: true, result: [] });
    });

    await t.test('training survives closing the window; launching again brings the window back', async () => {
      const { client, events } = pageClient(win);
      const started = await client.startRun(TINY_MOT_RUN);
      assert.equal(started.name, RUN);
      // Progress is pushed to the page over the event channel.
      await until('step 2 pushed to the page', () =>
        events.some((e) => e.type === 'run-metrics' && e.run === RUN && e.record.type === 'train' && e.record.step >= 2),
      );
      assert.ok(events.some((e) => e.type === 'run-status' && e.run === RUN && e.status === 'running'));

      win.close();
      assert.equal(electron.windows.length, 0);
      await new Promise((r) => setTimeout(r, 700));
      assert.deepEqual(electron.quitCalls, [], 'closing the window while training does not quit');
      assert.equal(JSON.parse(readFileSync(join(workspace, 'runs', RUN, 'run.json'), 'utf8')).status, 'running');

      electron.launchAgain();
      const again = await until('a new window', () => electron.windows[0]);
      assert.notEqual(again, win);
      const page2 = pageClient(again);
      assert.equal((await page2.client.getRun({ run: RUN })).status, 'running');
      await until('metrics pushed to the new window', () => page2.events.some((e) => e.type === 'run-metrics' && e.run === RUN));
    });

    await t.test('menu: Export Run Metrics… writes the shown run as CSV; View → Theme sets the native theme', async () => {
      const shown = electron.windows[0];
      shown.webContents.navigateInPage(`#/run/${RUN}`);
      const csvPath = join(home, 'exported.csv');
      electron.dialogAnswers.save.push({ canceled: false, filePath: csvPath });
      menuItem(currentMenu(), 'File', 'Export Run Metrics…').click!();
      await until('the CSV file', () => existsSync(csvPath) && readFileSync(csvPath, 'utf8').includes('\n'));
      assert.match(readFileSync(csvPath, 'utf8').split('\r\n')[0], /loss_all,loss_text,loss_image,loss_speech$/);

      menuItem(currentMenu(), 'View', 'Theme', 'Dark').click!();
      assert.equal(electron.nativeTheme.themeSource, 'dark');
      assert.equal(menuItem(currentMenu(), 'View', 'Theme', 'Dark').checked, true, 'the rebuilt menu shows the choice');
      assert.equal(menuItem(currentMenu(), 'View', 'Theme', 'Follow System').checked, false);
      assert.deepEqual(electron.errorBoxes, []);
    });

    await t.test('quitting stops the run with a checkpoint, then the app quits', async () => {
      const runDir = join(workspace, 'runs', RUN);
      electron.app.quit();
      assert.equal(electron.hasQuit(), false, 'quit waits for the runs to stop');
      await electron.quitted;
      assert.equal(electron.windows.length, 0);

      const runJson = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { status: string };
      assert.equal(runJson.status, 'stopped');
      const trainSteps = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; step: number })
        .filter((r) => r.type === 'train')
        .map((r) => r.step);
      const lastStep = Math.max(...trainSteps);
      assert.ok(lastStep >= 2);
      const checkpoints = readdirSync(join(runDir, 'checkpoints')).filter((d) => d.startsWith('step-'));
      assert.deepEqual(checkpoints, [`step-${String(lastStep).padStart(6, '0')}`], 'one checkpoint, at the last step');
      const dir = join(runDir, 'checkpoints', checkpoints[0]);
      for (const f of ['model.safetensors', 'optimizer.safetensors', 'state.json']) assert.ok(existsSync(join(dir, f)), f);
      assert.equal((JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { step: number }).step, lastStep);
    });
  },
);
