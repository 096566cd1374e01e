/**
 * The architecture, enforced: which folder of src-main may import which (docs/README.md has the
 * same table), the renderer imports only the browser-safe contract (src-main/common), common
 * imports nothing Node-only, and no two modules import each other, directly or in a ring.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** folder → the folders it may import (besides itself). `renderer` is src-renderer/. */
export const ALLOWED: Record<string, readonly string[]> = {
  common: [],
  util: ['common'],
  engine: ['common', 'util'],
  model: ['common', 'util', 'engine'],
  data: ['common', 'util'],
  checkpoints: ['common', 'util', 'model', 'data'],
  training: ['common', 'util', 'engine', 'model', 'data', 'checkpoints'],
  runs: ['common', 'util', 'engine', 'model', 'data', 'checkpoints', 'training'],
  analysis: ['common', 'util', 'engine', 'model', 'data', 'checkpoints', 'training', 'runs'],
  importers: ['common', 'util', 'model', 'data', 'checkpoints'],
  figures: ['common', 'util', 'analysis'],
  api: ['common', 'util', 'engine', 'model', 'data', 'checkpoints', 'training', 'runs', 'analysis', 'importers', 'figures'],
  server: ['common', 'util', 'api'],
  app: ['common', 'util', 'api'],
  cli: [
    'common',
    'util',
    'engine',
    'model',
    'data',
    'checkpoints',
    'training',
    'runs',
    'analysis',
    'importers',
    'figures',
    'api',
    'server',
  ],
  renderer: ['common'],
};

/** Packages the browser-safe contract may use (it is bundled into the page). */
const COMMON_PACKAGES = /^(zod|d3(-[a-z-]+)?)$/;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|svelte)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Import and re-export specifiers of a file (static and dynamic), comments stripped. */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const specs: string[] = [];
  for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]/g)) specs.push(m[1]);
  for (const m of code.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) specs.push(m[1]);
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]);
  return specs;
}

/** The layer a file belongs to: a folder of src-main, or `renderer`. */
export function layerOf(file: string): string | null {
  const rel = relative(ROOT, file).split('\\').join('/');
  if (rel.startsWith('src-renderer/')) return 'renderer';
  const m = /^src-main\/([^/]+)\//.exec(rel);
  return m ? m[1] : null;
}

interface Graph {
  edges: Map<string, string[]>;
  packages: Map<string, string[]>;
}

function buildGraph(): Graph {
  const files = [...sourceFiles(join(ROOT, 'src-main')), ...sourceFiles(join(ROOT, 'src-renderer'))];
  const edges = new Map<string, string[]>();
  const packages = new Map<string, string[]>();
  for (const file of files) {
    const specs = importsOf(readFileSync(file, 'utf8'));
    edges.set(
      file,
      specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s)),
    );
    packages.set(
      file,
      specs.filter((s) => !s.startsWith('.')),
    );
  }
  return { edges, packages };
}

const show = (f: string) => relative(ROOT, f);

export function forbiddenEdges(graph: Graph): string[] {
  const problems: string[] = [];
  for (const [file, targets] of graph.edges) {
    const from = layerOf(file);
    if (from === null) continue;
    const allowed = ALLOWED[from];
    if (!allowed) {
      problems.push(`${show(file)}: folder "${from}" is not in the layer table`);
      continue;
    }
    for (const target of targets) {
      const to = layerOf(target);
      if (to === null) problems.push(`${show(file)} imports ${show(target)}, outside src-main and src-renderer`);
      else if (to !== from && !allowed.includes(to)) problems.push(`${show(file)} (${from}) imports ${show(target)} (${to})`);
    }
  }
  for (const [file, specs] of graph.packages) {
    const layer = layerOf(file);
    if (layer !== 'common') continue;
    for (const spec of specs) {
      if (!COMMON_PACKAGES.test(spec)) problems.push(`${show(file)} (common, browser-safe) imports the package "${spec}"`);
    }
  }
  return problems;
}

/** Every import ring between modules (strongly connected components with more than one file, or a self-import). */
export function importCycles(graph: Graph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.edges.get(v) ?? []) {
      if (!graph.edges.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.edges.get(v) ?? []).includes(v)) cycles.push(component.map(show).sort());
    }
  };
  for (const v of graph.edges.keys()) if (!indices.has(v)) visit(v);
  return cycles;
}

test('every import follows the layer table', () => {
  const problems = forbiddenEdges(buildGraph());
  assert.deepEqual(problems, [], `forbidden imports:\n  ${problems.join('\n  ')}`);
});

test('no import cycles between modules', () => {
  const cycles = importCycles(buildGraph());
  assert.deepEqual(cycles, [], `import cycles:\n  ${cycles.map((c) => c.join(' ↔ ')).join('\n  ')}`);
});

test('the checker sees a forbidden edge and a cycle when there is one', () => {
  const a = join(ROOT, 'src-main/common/a.ts');
  const b = join(ROOT, 'src-main/common/b.ts');
  const r = join(ROOT, 'src-renderer/lib/x.ts');
  const m = join(ROOT, 'src-main/model/mot.ts');
  const graph: Graph = {
    edges: new Map([
      [a, [b]],
      [b, [a]],
      [r, [m]],
      [m, []],
    ]),
    packages: new Map([[a, ['node:fs']]]),
  };
  assert.deepEqual(forbiddenEdges(graph), [
    'src-renderer/lib/x.ts (renderer) imports src-main/model/mot.ts (model)',
    'src-main/common/a.ts (common, browser-safe) imports the package "node:fs"',
  ]);
  assert.deepEqual(importCycles(graph), [['src-main/common/a.ts', 'src-main/common/b.ts']]);
  assert.deepEqual(
    importsOf("import x from './a.ts';\nexport { y } from \"../b.ts\";\n// import z from './c.ts'\nawait import('./d.ts');"),
    ['./a.ts', '../b.ts', './d.ts'],
  );
});
