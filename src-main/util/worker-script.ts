/**
 * The code that starts one of our modules in a worker thread (new Worker(code, { eval: true })):
 * from source, the `.ts` module through tsx's loader, as bin/motlab.mjs does; from the bundled
 * build, the built sibling `<name>.mjs` (scripts/build.ts writes one per worker module).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** `here`: the caller's import.meta.url; `name`: the worker module beside it, without extension. */
export function workerModuleCode(here: string, name: string): string {
  const fromSource = here.endsWith('.ts');
  const target = new URL(`./${name}${fromSource ? '.ts' : '.mjs'}`, here).href;
  // tsx's API resolved through require: import.meta.resolve does not exist in the Electron main's
  // CommonJS bundle (a build warning there). require finds tsx's CommonJS build of the API, whose
  // ES module twin sits beside it.
  const tsx = fromSource
    ? pathToFileURL(
        createRequire(here)
          .resolve('tsx/esm/api')
          .replace(/\.cjs$/, '.mjs'),
      ).href
    : null;
  const loader = tsx ? `await import(${JSON.stringify(tsx)}).then((m) => m.register());` : '';
  return `(async () => { ${loader} await import(${JSON.stringify(target)}); })();`;
}
