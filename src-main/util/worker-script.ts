/**
 * The code that starts one of our modules in a worker thread (new Worker(code, { eval: true })):
 * the worker module bundled into one `.mjs` file with the packages it uses. The built app has
 * that file beside its own bundle (scripts/build.ts writes one per worker module). From source,
 * the module is bundled here on first use, with the esbuild that tsx runs our TypeScript with,
 * into node_modules/.cache/motlab-workers/: a gradient worker that loaded its `.ts` modules through
 * tsx's loader, and tfjs's CommonJS files one by one, took 1.15 s to be ready, against 0.35 s
 * bundled; analyses start workers every time they run.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * How a worker module is bundled, here and by scripts/build.ts: with the npm packages it uses,
 * but for the native TensorFlow packages, which workers never load (they run the in-process
 * engines). The bundled CommonJS packages `require` Node's built-in modules, and an ES module has
 * no `require` of its own.
 */
export const WORKER_BUNDLE_OPTIONS = {
  bundle: true as const,
  platform: 'node' as const,
  format: 'esm' as const,
  target: 'node20',
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  banner: {
    js:
      'const require = (id) => process.getBuiltinModule(id) ?? ' +
      '(() => { throw new Error(`a bundled worker can require only Node built-in modules, not ${id}`); })();',
  },
};

/** `here`: the caller's import.meta.url; `name`: the worker module beside it, without extension. */
export function workerModuleCode(here: string, name: string): string {
  const target = here.endsWith('.ts') ? bundledFromSource(new URL(`./${name}.ts`, here)) : new URL(`./${name}.mjs`, here).href;
  return `import(${JSON.stringify(target)});`;
}

/** Bundles known to this process (the sources may change between runs, never during one). */
const bundled = new Map<string, string>();

interface EsbuildApi {
  buildSync(options: object): { outputFiles: { text: string }[]; metafile: { inputs: Record<string, unknown> } };
}

/** What a bundle was built from: each input file's size and modification time, by absolute path. */
interface Manifest {
  bundle: string;
  inputs: Record<string, string>;
}

const fileStamp = (file: string): string | null => {
  try {
    const s = statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return null;
  }
};

function readManifest(file: string): Manifest | null {
  try {
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
    const fresh = existsSync(manifest.bundle) && Object.entries(manifest.inputs).every(([input, stamp]) => fileStamp(input) === stamp);
    return fresh ? manifest : null;
  } catch {
    return null;
  }
}

/** Written whole, then renamed: another process may be starting the same worker. */
function writeAtomically(file: string, text: string): void {
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, text);
  renameSync(partial, file);
}

/** Bundles of `name` older than a day, but `keep`: each edit of a worker's sources makes a new one. */
function removeStaleBundles(dir: string, name: string, keep: string): void {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const file of readdirSync(dir)) {
    const full = path.join(dir, file);
    if (full === keep || !file.startsWith(`${name}-`)) continue;
    try {
      if (statSync(full).mtimeMs < dayAgo) rmSync(full, { force: true });
    } catch {
      // Another process removed it first.
    }
  }
}

/**
 * The URL of `entry` (a worker module's `.ts`) bundled into one ES module file with the npm
 * packages it uses. Rebuilt only when one of its input files changed: bundling takes 0.7 s,
 * checking the inputs a millisecond.
 */
function bundledFromSource(entry: URL): string {
  const known = bundled.get(entry.href);
  if (known && existsSync(fileURLToPath(known))) return known;
  // tsx (a dependency) resolves through require: import.meta.resolve does not exist in the
  // Electron main's CommonJS bundle. Its esbuild is the one that runs our sources.
  const tsxApi = createRequire(entry).resolve('tsx/esm/api');
  const marker = `${path.sep}node_modules${path.sep}`;
  const nodeModules = tsxApi.slice(0, tsxApi.lastIndexOf(marker) + marker.length - 1);
  // Inside node_modules, so that what the bundle leaves out resolves to the project's packages.
  const dir = path.join(nodeModules, '.cache', 'motlab-workers');
  const entryPath = fileURLToPath(entry);
  const name = path.basename(entryPath, '.ts');
  // One manifest per entry file: checkouts sharing node_modules (git worktrees) bundle their own.
  const manifestFile = path.join(dir, `${name}-${createHash('sha256').update(entryPath).digest('hex').slice(0, 16)}.json`);
  let manifest = readManifest(manifestFile);
  if (!manifest) {
    const esbuild = createRequire(tsxApi)('esbuild') as EsbuildApi;
    const root = path.dirname(nodeModules);
    const { outputFiles, metafile } = esbuild.buildSync({
      ...WORKER_BUNDLE_OPTIONS,
      entryPoints: [entryPath],
      absWorkingDir: root,
      write: false,
      metafile: true,
      outdir: dir,
      logLevel: 'silent',
    });
    const code = outputFiles[0].text;
    const bundle = path.join(dir, `${name}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
    const inputs = Object.fromEntries(
      Object.keys(metafile.inputs).map((input) => {
        const file = path.resolve(root, input);
        return [file, fileStamp(file) ?? ''];
      }),
    );
    mkdirSync(dir, { recursive: true });
    if (!existsSync(bundle)) {
      writeAtomically(bundle, code);
      removeStaleBundles(dir, name, bundle);
    }
    manifest = { bundle, inputs };
    writeAtomically(manifestFile, JSON.stringify(manifest));
  }
  const url = pathToFileURL(manifest.bundle).href;
  bundled.set(entry.href, url);
  return url;
}
