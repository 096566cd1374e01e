/**
 * `npm start`: build, then open the Electron app on the default workspace. Where the Electron
 * binary is absent (e.g. installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1), say so in one line
 * and run `motlab serve` instead.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { buildMain, buildRenderer, ROOT } from './build.ts';

function electronBinary(): string | null {
  try {
    // The electron package's main export is the path of its binary; it throws when the binary was not downloaded.
    const path = createRequire(import.meta.url)('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : null;
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
  console.log('The Electron binary is absent (not downloaded at install), so MoT Lab runs as `motlab serve`: open the URL below in a browser.');
  const { runServeCommand } = await import('../src-main/cli/commands/serve.ts');
  process.exitCode = await runServeCommand(process.argv.slice(2));
}
