/**
 * The Electron shell cannot be launched on the build machines (no Electron binary), so its
 * security is checked from the code itself: the options builder main.ts really passes to
 * `new BrowserWindow` (found by parsing main.ts), the navigation/window-open/permission
 * handlers in main.ts, the CSP in the built page, the preload's bridge, and the packaging config.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import ts from 'typescript';
import electronConfig from '../../electron.config.ts';
import { buildMain } from '../../scripts/build.ts';
import { IPC_CALL, IPC_EVENT } from '../../src-main/app/ipc.ts';
import { mainWindowOptions } from '../../src-main/app/security.ts';
import { contentSecurityPolicy, CSP_DIRECTIVES } from '../../src-main/common/csp.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

function parse(path: string): ts.SourceFile {
  return ts.createSourceFile(path, read(path), ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  node.forEachChild((c) => walk(c, visit));
}

/** Calls `<anything>.name(...)` in a file. */
function methodCalls(file: ts.SourceFile, name: string): ts.CallExpression[] {
  const out: ts.CallExpression[] = [];
  walk(file, (n) => {
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === name) out.push(n);
  });
  return out;
}

test('the window main.ts creates uses the secure options builder', () => {
  const main = parse('src-main/app/main.ts');
  const windows: ts.NewExpression[] = [];
  walk(main, (n) => {
    if (ts.isNewExpression(n) && n.expression.getText() === 'BrowserWindow') windows.push(n);
  });
  assert.equal(windows.length, 1, 'exactly one BrowserWindow is created');
  const arg = windows[0].arguments?.[0];
  assert.ok(
    arg && ts.isCallExpression(arg) && arg.expression.getText() === 'mainWindowOptions',
    'new BrowserWindow(mainWindowOptions(...))',
  );
  // Nothing else in the app sets webPreferences by hand.
  for (const f of ['src-main/app/main.ts', 'src-main/app/ipc.ts', 'src-main/app/menu.ts', 'src-main/app/preload.ts'])
    assert.doesNotMatch(read(f), /webPreferences|nodeIntegration|contextIsolation|sandbox\s*:/, f);

  const prefs = mainWindowOptions('/app/dist-main/preload.cjs').webPreferences!;
  assert.equal(prefs.contextIsolation, true);
  assert.equal(prefs.sandbox, true);
  assert.equal(prefs.nodeIntegration, false);
  assert.equal(prefs.nodeIntegrationInWorker, false);
  assert.equal(prefs.nodeIntegrationInSubFrames, false);
  assert.equal(prefs.webviewTag, false);
  assert.equal(prefs.webSecurity, true);
  assert.equal(prefs.allowRunningInsecureContent, false);
  assert.equal(prefs.experimentalFeatures, false);
  assert.equal(prefs.preload, '/app/dist-main/preload.cjs');
});

test('main.ts denies new windows, foreign navigation, webviews and permissions, and loads only local files', () => {
  const main = parse('src-main/app/main.ts');
  const source = main.getFullText();
  const openHandlers = methodCalls(main, 'setWindowOpenHandler');
  assert.ok(openHandlers.length >= 1);
  for (const call of openHandlers) {
    const returns: string[] = [];
    walk(call.arguments[0], (n) => {
      if (ts.isReturnStatement(n) && n.expression) returns.push(n.expression.getText());
      if (ts.isArrowFunction(n) && ts.isParenthesizedExpression(n.body)) returns.push(n.body.expression.getText());
    });
    assert.ok(returns.length > 0);
    for (const r of returns) assert.equal(r.replace(/\s/g, ''), "{action:'deny'}");
  }
  const navigation = methodCalls(main, 'on').filter(
    (c) => ts.isStringLiteral(c.arguments[0]) && ['will-navigate', 'will-redirect', 'will-attach-webview'].includes(c.arguments[0].text),
  );
  assert.deepEqual(navigation.map((c) => (c.arguments[0] as ts.StringLiteral).text).sort(), [
    'will-attach-webview',
    'will-navigate',
    'will-redirect',
  ]);
  for (const c of navigation) assert.match(c.arguments[1].getText(), /preventDefault\(\)/);
  assert.match(source, /setPermissionRequestHandler\(\(_wc, _permission, callback\) => callback\(false\)\)/);
  assert.match(source, /setPermissionCheckHandler\(\(\) => false\)/);
  assert.equal(methodCalls(main, 'loadURL').length, 0, 'no remote pages');
  assert.equal(methodCalls(main, 'loadFile').length, 1);
});

test('the built page carries the strict CSP and has no inline code or styles', () => {
  const html = read('dist-renderer/index.html');
  assert.match(read('src-renderer/index.html'), /<!--CSP-->/);
  const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html);
  assert.ok(meta, 'CSP meta tag present');
  assert.equal(meta[1], contentSecurityPolicy('meta'));
  const directives = Object.fromEntries(
    meta[1]
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([k, ...v]) => [k, v]),
  );
  assert.deepEqual(directives['default-src'], ["'self'"]);
  assert.deepEqual(directives['script-src'], ["'self'"]);
  assert.deepEqual(directives['style-src'], ["'self'"]);
  assert.deepEqual(directives['object-src'], ["'none'"]);
  assert.deepEqual(directives['base-uri'], ["'none'"]);
  for (const [name, values] of Object.entries(directives))
    for (const v of values) assert.ok(["'self'", "'none'"].includes(v), `${name} allows ${v}`);
  assert.ok(!directives['script-src'].includes('data:'));
  assert.equal(contentSecurityPolicy('header'), `${contentSecurityPolicy('meta')}; frame-ancestors 'none'`);
  assert.deepEqual(
    Object.keys(CSP_DIRECTIVES).filter((k) => k === 'frame-ancestors'),
    [],
    'frame-ancestors is header-only',
  );

  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.ok(scripts.length >= 1);
  for (const [, attrs, body] of scripts) {
    assert.match(attrs, /src="\.\/assets\/[^"]+\.js"/);
    assert.equal(body.trim(), '');
  }
  assert.doesNotMatch(html, /<style\b|\sstyle="|\son[a-z]+="/i);
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no remote assets');
  // The bundled font is a local file.
  const css = [...html.matchAll(/href="\.\/(assets\/[^"]+\.css)"/g)].map((m) => read(join('dist-renderer', m[1]))).join('\n');
  assert.match(css, /url\(\.?\/?[^)]*inter-latin-wght-normal[^)]*\.woff2\)/);
  assert.doesNotMatch(css, /url\((https?:)?\/\//);
});

test('the preload exposes only window.motlab {call, subscribe} on the channels ipc.ts handles', () => {
  const preload = parse('src-main/app/preload.ts');
  const source = preload.getFullText();
  const exposed = methodCalls(preload, 'exposeInMainWorld');
  assert.equal(exposed.length, 1);
  assert.equal((exposed[0].arguments[0] as ts.StringLiteral).text, 'motlab');
  const api = exposed[0].arguments[1];
  assert.ok(ts.isObjectLiteralExpression(api));
  assert.deepEqual(
    api.properties.map((p) => p.name?.getText()),
    ['call', 'subscribe'],
  );
  assert.match(source, new RegExp(`const IPC_CALL = '${IPC_CALL}'`));
  assert.match(source, new RegExp(`const IPC_EVENT = '${IPC_EVENT}'`));
  assert.doesNotMatch(api.getText(), /ipcRenderer\s*[,}]/, 'ipcRenderer itself is not handed to the page');
});

test('electron.config.ts names the platform targets and packs tfjs natives outside the asar', () => {
  assert.equal(electronConfig.appId, 'org.motlab.lab');
  assert.equal(electronConfig.asar, true);
  const targets = (t: unknown) => (Array.isArray(t) ? t.map((x) => (typeof x === 'string' ? x : (x as { target: string }).target)) : [t]);
  assert.deepEqual(targets(electronConfig.linux?.target), ['AppImage', 'deb']);
  assert.deepEqual(targets(electronConfig.mac?.target), ['dmg']);
  assert.deepEqual(targets(electronConfig.win?.target), ['nsis']);
  const unpack = electronConfig.asarUnpack as string[];
  assert.ok(unpack.includes('node_modules/@tensorflow/tfjs-node/**/*'));
  assert.ok(unpack.includes('node_modules/@tensorflow/tfjs-node-gpu/**/*'));
  assert.ok(unpack.includes('**/*.node'));
  const files = electronConfig.files as string[];
  assert.ok(files.includes('dist-main/**/*') && files.includes('dist-renderer/**/*'));
  for (const icon of [electronConfig.linux?.icon, electronConfig.mac?.icon, electronConfig.win?.icon])
    assert.ok(icon && existsSync(join(ROOT, icon)), `${icon} exists`);
  const pkg = JSON.parse(read('package.json')) as { main: string; scripts: Record<string, string> };
  assert.equal(pkg.main, 'dist-main/electron-main.cjs');
  assert.match(pkg.scripts.dist, /electron-builder --config electron\.config\.ts/);
});

// Building the main process proves the Electron entry, preload and packaged CLI bundle.
describe('bundles', () => {
  before(async () => {
    await buildMain();
  });
  test('the main process, preload and CLI bundle build; the preload needs only electron', () => {
    const main = read('dist-main/electron-main.cjs');
    assert.match(main, /require\("electron"\)/);
    const preload = read('dist-main/preload.cjs');
    const requires = [...preload.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    assert.deepEqual([...new Set(requires)], ['electron']);
    assert.ok(existsSync(join(ROOT, 'dist-main', 'cli.mjs')));
  });
});
