/**
 * Expected values computed at test time by Debian's Python (/usr/bin/python3 with numpy,
 * scikit-learn, scipy, torch), never by the code under test. Arrays go over as raw
 * little-endian files in a temporary folder; the script prints one JSON value.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PYTHON = '/usr/bin/python3';

/** A node:test `skip` value: false when /usr/bin/python3 imports `modules`, else the reason. */
export function skipUnlessPython(modules: string, debianPackages: string): string | false {
  const r = spawnSync(PYTHON, ['-c', `import ${modules}`], { encoding: 'utf8' });
  return r.status === 0 ? false : `/usr/bin/python3 cannot import ${modules} (apt-get install ${debianPackages})`;
}

type NumericArray = Float32Array | Float64Array | Int32Array;

const PRELUDE = `
import json, os, sys
import numpy as np
_dir = sys.argv[1]
params = json.load(open(os.path.join(_dir, 'params.json')))
_dtypes = json.load(open(os.path.join(_dir, 'dtypes.json')))
def load(name):
    return np.fromfile(os.path.join(_dir, name + '.bin'), dtype=_dtypes[name])
def emit(value):
    def plain(v):
        if isinstance(v, np.ndarray): return v.tolist()
        if isinstance(v, (np.floating, np.integer)): return v.item()
        raise TypeError(type(v))
    print(json.dumps(value, default=plain))
`;

/** Run `script` (after a prelude defining `params`, `load(name)` → 1-D numpy array, `emit(value)`). */
export function runPython<T = unknown>(script: string, arrays: Record<string, NumericArray> = {}, params: unknown = {}): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'motlab-py-'));
  try {
    const dtypes: Record<string, string> = {};
    for (const [name, a] of Object.entries(arrays)) {
      dtypes[name] = a instanceof Float32Array ? '<f4' : a instanceof Float64Array ? '<f8' : '<i4';
      writeFileSync(path.join(dir, `${name}.bin`), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    writeFileSync(path.join(dir, 'dtypes.json'), JSON.stringify(dtypes));
    writeFileSync(path.join(dir, 'params.json'), JSON.stringify(params));
    const r = spawnSync(PYTHON, ['-c', PRELUDE + script, dir], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      // One thread: the build machines are shared.
      env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    });
    if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
