/**
 * `motlab serve [--workspace DIR] [--port N] [--host H]`: the lab in a browser. Binds
 * 127.0.0.1 unless told otherwise; any other address gets a printed access token.
 */
import { existsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultWorkspacePath } from '../../api/workspace.ts';
import { DEFAULT_PORT, startServer, type RunningServer } from '../../server/server.ts';
import { MotlabError } from '../../common/errors.ts';
import { parseIntFlag } from '../flags.ts';

const HELP = `motlab serve [--workspace DIR] [--workspace-root DIR]… [--port N] [--host H]

Serves the lab UI and its API for a browser.
  --workspace DIR   workspace folder (default: $MOTLAB_WORKSPACE or ~/MoTLab; created with an example)
  --workspace-root DIR
                    a folder in which the UI may open other workspaces (repeatable; default: your
                    home folder and the parent of --workspace)
  --port N          port (default ${DEFAULT_PORT}, or the next free one; 0 = any free port)
  --host H          address to bind (default 127.0.0.1). Any other address requires the printed
                    access token (or $MOTLAB_TOKEN, at least 16 characters); prefer an SSH tunnel:
                    ssh -L ${DEFAULT_PORT}:127.0.0.1:${DEFAULT_PORT} gpu-box, then motlab serve there.`;

export const APP_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export async function serveFromArgs(argv: string[]): Promise<RunningServer | null> {
  const { values } = parseArgs({
    args: argv,
    options: {
      workspace: { type: 'string' },
      'workspace-root': { type: 'string', multiple: true },
      port: { type: 'string' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return null;
  }
  const port = parseIntFlag('--port', values.port, 0, 65535) ?? DEFAULT_PORT;
  const roots = values['workspace-root']?.map((root) => resolve(root));
  for (const root of roots ?? [])
    if (!statSync(root, { throwIfNoEntry: false })?.isDirectory())
      throw new MotlabError('invalid_request', `--workspace-root ${root} is not a folder`);
  const staticDir = join(APP_ROOT, 'dist-renderer');
  if (!existsSync(join(staticDir, 'index.html'))) {
    console.log('motlab serve: building the UI (first run)…');
    // Not a static import: the packaged app's bundled CLI has no build tools.
    const build = (await import(pathToFileURL(join(APP_ROOT, 'scripts', 'build.ts')).href)) as { buildRenderer(): Promise<void> };
    await build.buildRenderer();
  }
  const server = await startServer({
    workspace: resolve(values.workspace ?? defaultWorkspacePath()),
    host: values.host ?? '127.0.0.1',
    port,
    portFallback: values.port === undefined,
    token: process.env.MOTLAB_TOKEN || undefined,
    workspaceRoots: roots,
    staticDir,
    cliPath: join(APP_ROOT, 'bin', 'motlab.mjs'),
    builtinDatasets: join(APP_ROOT, 'assets', 'datasets'),
  });
  console.log(`MoT Lab: workspace ${server.api.workspacePath()}`);
  for (const note of server.notes) console.log(`  note: ${note}`);
  // A wildcard bind is reached through the machine's name, not 0.0.0.0.
  const shown = ['0.0.0.0', '::'].includes(server.host)
    ? server.openUrl.replace(/\/\/(0\.0\.0\.0|\[::\])/, `//${hostname()}`)
    : server.openUrl;
  console.log(`MoT Lab is serving at ${shown}`);
  if (server.token) console.log('  (the token is required from other machines; open that URL once, the browser then keeps a cookie)');
  return server;
}

export async function runServeCommand(argv: string[]): Promise<number> {
  const server = await serveFromArgs(argv);
  if (!server) return 0;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`\nmotlab serve: ${signal}, stopping training runs (each writes a checkpoint)…`);
      void server.close().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
