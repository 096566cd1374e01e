import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { build } from 'esbuild';
import { initEngine, listEngines, wasmBinaryDir } from '../../src-main/engine/engine.ts';
import { MotlabError } from '../../src-main/common/errors.ts';

const require = createRequire(import.meta.url);
const installed = (pkg: string) => {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
};
const nativeAbsent = !installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu');

describe('initEngine', () => {
  it("'auto' picks the fastest engine that loads and says why faster ones were skipped", async (t) => {
    if (!nativeAbsent) return t.skip('a native tfjs package is installed here');
    const info = await initEngine('auto');
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(info.detail, /wasm SIMD, 1 thread/);
    assert.equal(info.fallbacks.length, 2);
    assert.match(info.fallbacks[0], /^tensorflow-gpu: @tensorflow\/tfjs-node-gpu is not installed/);
    assert.match(info.fallbacks[1], /^tensorflow: @tensorflow\/tfjs-node is not installed/);
    // The fixes are installed with the engine.
    assert.ok(tf.getKernel('UnsortedSegmentSum', 'wasm'));
    assert.ok(tf.getGradient('TopK'));
  });

  it('a named engine is used as asked', async () => {
    const cpu = await initEngine('cpu');
    assert.deepEqual([cpu.name, tf.getBackend(), cpu.fallbacks], ['cpu', 'cpu', []]);
    const wasm = await initEngine('wasm');
    assert.deepEqual([wasm.name, tf.getBackend()], ['wasm', 'wasm']);
    // Gradients work on the chosen backend (tfjs-core's Node bundle registers none by itself).
    const g = await tf
      .grad((x: tf.Tensor) => tf.sum(tf.mul(x, x)))(tf.tensor1d([1, -2, 3]))
      .data();
    assert.deepEqual(Array.from(g), [2, -4, 6]);
  });

  it('forcing a native engine that cannot load throws engine_unavailable with what to install', async (t) => {
    if (!nativeAbsent) return t.skip('a native tfjs package is installed here');
    await assert.rejects(initEngine('tensorflow-gpu'), (e: unknown) => {
      assert.ok(e instanceof MotlabError);
      assert.equal(e.code, 'engine_unavailable');
      assert.match(e.message, /npm install @tensorflow\/tfjs-node-gpu/);
      assert.match(e.message, /CUDA 11\.2 and cuDNN 8\.1/);
      return true;
    });
    await assert.rejects(
      initEngine('tensorflow'),
      (e: unknown) => e instanceof MotlabError && e.code === 'engine_unavailable' && /npm install @tensorflow\/tfjs-node\b/.test(e.message),
    );
    assert.equal(tf.getBackend(), 'wasm', 'a failed attempt leaves the active backend alone');
  });

  it('rejects an unknown engine name', async () => {
    await assert.rejects(initEngine('gpu' as never), (e: unknown) => e instanceof MotlabError && e.code === 'invalid_config');
  });
});

describe('listEngines', () => {
  it('lists all four engines in preference order with a reason each', async () => {
    const engines = await listEngines();
    assert.deepEqual(
      engines.map((e) => e.name),
      ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'],
    );
    assert.ok(engines.every((e) => e.reason.length > 0));
    assert.equal(engines[2].available, true);
    assert.equal(engines[3].available, true);
    if (nativeAbsent) {
      assert.equal(engines[0].available, false);
      assert.equal(engines[1].available, false);
      assert.match(engines[0].reason, /CUDA 11\.2/);
    }
  });
});

describe('wasm binaries', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'motlab-engine-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('wasmBinaryDir() points at the installed .wasm files, or at $MOTLAB_WASM_DIR', () => {
    const dir = wasmBinaryDir();
    assert.ok(dir.endsWith(path.sep));
    for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) assert.ok(existsSync(dir + f), f);
    const saved = process.env.MOTLAB_WASM_DIR;
    process.env.MOTLAB_WASM_DIR = tmp;
    try {
      assert.equal(wasmBinaryDir(), tmp + path.sep);
    } finally {
      if (saved === undefined) delete process.env.MOTLAB_WASM_DIR;
      else process.env.MOTLAB_WASM_DIR = saved;
    }
  });

  it('a CJS bundle outside the project starts wasm when MOTLAB_WASM_DIR points at the binaries', async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const entry = path.join(tmp, 'entry.ts');
    writeFileSync(
      entry,
      `import { initEngine } from ${JSON.stringify(path.resolve(here, '../../src-main/engine/engine.ts'))};\n` +
        `initEngine('auto').then((info) => console.log(JSON.stringify(info)));\n`,
    );
    const outfile = path.join(tmp, 'bundle.cjs');
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile,
      logLevel: 'silent',
      nodePaths: [path.resolve(here, '../../node_modules')],
    });
    const run = (env: NodeJS.ProcessEnv) =>
      JSON.parse(execFileSync(process.execPath, [outfile], { cwd: tmp, env, encoding: 'utf8' }).trim().split('\n').pop()!);
    const withDir = run({ ...process.env, MOTLAB_WASM_DIR: wasmBinaryDir() });
    assert.equal(withDir.name, 'wasm');
    // Without it, a bundle away from node_modules cannot find the binaries and says so.
    const env = { ...process.env };
    delete env.MOTLAB_WASM_DIR;
    const without = run(env);
    assert.equal(without.name, 'cpu');
    assert.match(without.fallbacks.join('\n'), /^wasm: @tensorflow\/tfjs-backend-wasm could not be located/m);
  });
});
