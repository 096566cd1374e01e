/**
 * Expected values from Debian's Python (/usr/bin/python3 with numpy and torch), computed at test
 * time, never by the code under test. Arrays go over as raw little-endian files; the script
 * prints one JSON value.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PYTHON = '/usr/bin/python3';

/** A node:test `skip` value: false when /usr/bin/python3 imports `modules`, else the reason. */
export function skipUnlessPython(modules: string): string | false {
  const r = spawnSync(PYTHON, ['-c', `import ${modules}`], { encoding: 'utf8' });
  return r.status === 0 ? false : `/usr/bin/python3 cannot import ${modules}`;
}

const PRELUDE = `
import json, os, sys
import numpy as np
_dir = sys.argv[1]
params = json.load(open(os.path.join(_dir, 'params.json')))
def load(name):
    return np.fromfile(os.path.join(_dir, name + '.bin'), dtype='<f4')
def emit(value):
    def plain(v):
        if isinstance(v, np.ndarray): return v.tolist()
        if isinstance(v, (np.floating, np.integer)): return v.item()
        raise TypeError(type(v))
    print(json.dumps(value, default=plain))
`;

/** Run `script` after a prelude defining `params`, `load(name)` (float32 1-D array) and `emit(value)`. */
export function runPython<T = unknown>(script: string, arrays: Record<string, Float32Array> = {}, params: unknown = {}): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'motlab-py-'));
  try {
    for (const [name, a] of Object.entries(arrays))
      writeFileSync(path.join(dir, `${name}.bin`), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    writeFileSync(path.join(dir, 'params.json'), JSON.stringify(params));
    const r = spawnSync(PYTHON, ['-c', PRELUDE + script, dir], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    });
    if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
