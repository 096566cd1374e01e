/**
 * What the shell ships, read statically: the CSP in the built page, the preload's bridge, and
 * the packaging config. The shell's behaviour (window options, navigation, IPC, quitting) is
 * exercised by running its bundle with a stand-in Electron runtime: shell.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import electronConfig from '../../electron.config.ts';
import { IPC_CALL, IPC_EVENT } from '../../src-main/app/ipc.ts';
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
  // Our origin or nothing, except data: images (the export preview's raster layers).
  assert.deepEqual(directives['img-src'], ["'self'", 'data:']);
  for (const [name, values] of Object.entries(directives))
    for (const v of values) assert.ok(["'self'", "'none'"].includes(v) || (name === 'img-src' && v === 'data:'), `${name} allows ${v}`);
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
