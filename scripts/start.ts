/**
 * `npm start`: build, then open the Electron app on the default workspace. Where the Electron
 * binary is absent (e.g. installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1), say so in one line
 * and run `motlab serve` instead.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { buildMain, buildRenderer, ROOT } from './build.ts';

/**
 * The Electron binary, found the way the electron package does (path.txt names it inside
 * dist/), but without require('electron'), which would try to download a missing binary.
 */
function electronBinary(): string | null {
  try {
    const pkgDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
    const pathFile = join(pkgDir, 'path.txt');
    if (!existsSync(pathFile)) return null;
    const relative = readFileSync(pathFile, 'utf8').trim();
    const full = process.env.ELECTRON_OVERRIDE_DIST_PATH
      ? join(process.env.ELECTRON_OVERRIDE_DIST_PATH, relative)
      : join(pkgDir, 'dist', relative);
    return existsSync(full) ? full : null;
  } catch {
    return null;
  }
}

await buildRenderer();
await buildMain();
const electron = electronBinary();
if (electron) {
  const child = spawn(electron, [ROOT, ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  console.log(
    'The Electron binary is absent (not downloaded at install), so MoT Lab runs as `motlab serve`: open the URL below in a browser.',
  );
  const { runServeCommand } = await import('../src-main/cli/commands/serve.ts');
  process.exitCode = await runServeCommand(process.argv.slice(2));
}
