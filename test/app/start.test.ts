/**
 * `npm start` on a machine without the Electron binary (as here and in CI): one line says so,
 * then the lab is served on loopback with a new default workspace holding the example.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
const electronPresent = existsSync(join(ROOT, 'node_modules', 'electron', 'path.txt'));

test(
  'npm start without Electron falls back to motlab serve with a fresh workspace',
  { skip: electronPresent && 'the Electron binary is installed (npm start would open a window)', timeout: 180_000 },
  async () => {
    const home = mkdtempSync(join(tmpdir(), 'motlab-start-'));
    const workspace = join(home, 'MoTLab');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'start.ts'), '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, MOTLAB_WORKSPACE: workspace },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          const m = /serving at (http:\/\/\S+)/.exec(output);
          if (m) resolveUrl(m[1]);
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.on('exit', (code) => reject(new Error(`start exited (${code}):\n${output}`)));
      });
      const lines = output.trim().split('\n');
      assert.equal(lines.filter((l) => /Electron binary is absent/.test(l)).length, 1, output);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.ok(existsSync(join(workspace, 'datasets', 'example-synth', 'dataset.json')), 'example dataset created');
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>MoT Lab<\/title>/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(home, { recursive: true, force: true });
    }
  },
);
