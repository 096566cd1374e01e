/**
 * Compute engine selection. Everyone else does `import * as tf from '@tensorflow/tfjs-core'`
 * and relies on `initEngine` having chosen the backend, installed our tfjs fixes
 * (./tfjs-fixes/) and registered our fused kernels (./kernels/).
 *
 * Engines, fastest first: native TensorFlow with CUDA (@tensorflow/tfjs-node-gpu), native
 * TensorFlow on the CPU (@tensorflow/tfjs-node), WebAssembly (XNNPACK, SIMD, one thread in
 * Node), pure JavaScript. The two native packages are optionalDependencies whose install script
 * downloads libtensorflow; where that fails they are simply absent, so they are only ever
 * loaded at run time through `require` inside try/catch — never imported statically.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { MotlabError } from '../common/errors.ts';
import { IN_PROCESS_ENGINE_NAMES as ENGINE_NAMES, type InProcessEngineName as EngineName } from '../common/vocabulary.ts';
import { registerFusedKernels } from './kernels/index.ts';
import { installTfjsFixes } from './tfjs-fixes/index.ts';

/** The engines this module starts (the in-process ones; `torch` is a separate process: runs/torch.ts). */
export type { InProcessEngineName as EngineName } from '../common/vocabulary.ts';

export interface EngineInfo {
  name: EngineName;
  /** e.g. "tfjs-backend-wasm 4.22.0, wasm SIMD, 1 thread". */
  detail: string;
  /** One line per engine tried before `name` and why it was skipped (only for 'auto'). */
  fallbacks: string[];
}

export interface EngineStatus {
  name: EngineName;
  available: boolean;
  reason: string;
}

const GPU_PKG = '@tensorflow/tfjs-node-gpu';
const NODE_PKG = '@tensorflow/tfjs-node';
const CUDA_NEEDS = 'an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1';

const INSTALL_HINT: Record<EngineName, string> = {
  'tensorflow-gpu':
    `Install it with \`npm install ${GPU_PKG}\` (its install script downloads libtensorflow 2.9.1, ` +
    `so it needs internet access) on a machine with ${CUDA_NEEDS}; or use engine 'auto'.`,
  tensorflow:
    `Install it with \`npm install ${NODE_PKG}\` (its install script downloads libtensorflow 2.9.1, ` +
    `so it needs internet access); or use engine 'wasm' or 'auto'.`,
  wasm: `Reinstall @tensorflow/tfjs-backend-wasm (or set MOTLAB_WASM_DIR to the folder holding its .wasm files); ` + `or use engine 'cpu'.`,
  cpu: 'Reinstall @tensorflow/tfjs-backend-cpu.',
};

// ---------------------------------------------------------------------------------------------
// Locating packages and files — the only place that knows where this module lives, so a bundler
// (ESM or CJS output) needs to get just this right.

function moduleBase(): string {
  const url = (import.meta as { url?: string }).url; // empty in a CJS bundle
  if (url) return url;
  if (typeof __filename !== 'undefined') return __filename;
  return pathToFileURL(path.join(process.cwd(), 'index.js')).href;
}

const requireHere = createRequire(moduleBase());

/**
 * Folder (with trailing separator) holding tfjs-backend-wasm's .wasm binaries:
 * $MOTLAB_WASM_DIR if set (packaged apps), else node_modules/@tensorflow/tfjs-backend-wasm/dist/.
 */
export function wasmBinaryDir(): string {
  const override = process.env.MOTLAB_WASM_DIR;
  const dir = override
    ? path.resolve(override)
    : path.join(path.dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  return dir.endsWith(path.sep) ? dir : dir + path.sep;
}

function isInstalled(pkg: string): boolean {
  try {
    requireHere.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

// ---------------------------------------------------------------------------------------------
// Native TensorFlow (tfjs-node / tfjs-node-gpu). Both register a backend named 'tensorflow' and
// cannot live in one process, so whichever loads first is the one used for both engine names.

/** The parts of the native packages we touch (they are absent at type-check time). */
interface TfNodeModule {
  version?: Record<string, string | undefined>;
}
interface TfNodeBackend {
  isUsingGpuDevice?: boolean;
}

let nativeLoaded: { pkg: string; mod: TfNodeModule } | null = null;
const nativeFailures = new Map<string, string>();

function loadNative(pkg: string): { mod: TfNodeModule } | { reason: string } {
  if (nativeLoaded) {
    return nativeLoaded.pkg === pkg
      ? { mod: nativeLoaded.mod }
      : { reason: `${nativeLoaded.pkg} is already loaded in this process and ${pkg} cannot be loaded next to it` };
  }
  const failed = nativeFailures.get(pkg);
  if (failed) return { reason: failed };
  if (!isInstalled(pkg)) return { reason: `${pkg} is not installed (optional dependency)` };
  try {
    const name = pkg; // a variable, so bundlers do not try to resolve the optional package
    const mod = requireHere(name) as TfNodeModule;
    nativeLoaded = { pkg, mod };
    return { mod };
  } catch (e) {
    const reason = `${pkg} is installed but failed to load: ${errorText(e)}`;
    nativeFailures.set(pkg, reason);
    return { reason };
  }
}

const nativeVersion = (pkg: string, mod: TfNodeModule): string =>
  `${pkg.replace('@tensorflow/', '')} ${mod.version?.['tfjs-node'] ?? mod.version?.['tfjs-core'] ?? tf.version_core}`;

async function useTensorflowBackend(): Promise<TfNodeBackend | string> {
  try {
    if (!(await tf.setBackend('tensorflow'))) return "the 'tensorflow' backend failed to initialise";
  } catch (e) {
    return `the 'tensorflow' backend failed to initialise: ${errorText(e)}`;
  }
  return tf.backend() as unknown as TfNodeBackend;
}

type StartResult = { detail: string } | { reason: string };

async function startTensorflowGpu(): Promise<StartResult> {
  const loaded = loadNative(GPU_PKG);
  if ('reason' in loaded) return loaded;
  const backend = await useTensorflowBackend();
  if (typeof backend === 'string') return { reason: backend };
  if (backend.isUsingGpuDevice !== true) {
    return { reason: `${GPU_PKG} loaded but TensorFlow found no usable GPU (needs ${CUDA_NEEDS})` };
  }
  return { detail: `${nativeVersion(GPU_PKG, loaded.mod)}, CUDA GPU` };
}

async function startTensorflow(): Promise<StartResult> {
  // If the GPU package is already loaded (no GPU found), it runs TensorFlow on the CPU just as well.
  const pkg = nativeLoaded?.pkg === GPU_PKG ? GPU_PKG : NODE_PKG;
  const loaded = loadNative(pkg);
  if ('reason' in loaded) return loaded;
  const backend = await useTensorflowBackend();
  if (typeof backend === 'string') return { reason: backend };
  const device = backend.isUsingGpuDevice === true ? 'CUDA GPU' : 'CPU';
  return { detail: `${nativeVersion(pkg, loaded.mod)}, native TensorFlow on ${device}` };
}

// ---------------------------------------------------------------------------------------------
// WebAssembly and pure JS.

let wasmPathsSet = false;

function wasmFilesReason(): string | null {
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') return 'this JavaScript runtime has no WebAssembly';
  let dir: string;
  try {
    dir = wasmBinaryDir();
  } catch (e) {
    return `@tensorflow/tfjs-backend-wasm could not be located: ${errorText(e)}`;
  }
  if (!existsSync(dir + 'tfjs-backend-wasm.wasm')) return `tfjs-backend-wasm.wasm not found in ${dir}`;
  return null;
}

type ProcessEvent = 'uncaughtException' | 'unhandledRejection';
const PROCESS_EVENTS: ProcessEvent[] = ['uncaughtException', 'unhandledRejection'];
const listenersOf = (ev: ProcessEvent): unknown[] => process.listeners(ev as 'uncaughtException');
const processListeners = () => new Map(PROCESS_EVENTS.map((ev) => [ev, listenersOf(ev)] as const));

/**
 * The Emscripten module inside tfjs-backend-wasm installs process handlers that re-throw every
 * uncaught error from its own minified line, so Node prints ~30 kB of wasm glue code instead of
 * the error. Remove what it added; Node's default handling is the same minus that noise.
 */
function removeListenersAddedSince(before: Map<ProcessEvent, unknown[]>): void {
  for (const ev of PROCESS_EVENTS) {
    const old = new Set(before.get(ev));
    for (const listener of listenersOf(ev)) {
      if (!old.has(listener)) process.removeListener(ev as 'uncaughtException', listener as NodeJS.UncaughtExceptionListener);
    }
  }
}

async function startWasm(): Promise<StartResult> {
  const missing = wasmFilesReason();
  if (missing) return { reason: missing };
  if (!wasmPathsSet) {
    // Must happen before the backend first initialises; without it a bundled build looks for
    // the .wasm files next to the bundle.
    setWasmPaths(wasmBinaryDir());
    wasmPathsSet = true;
  }
  const before = processListeners();
  try {
    if (!(await tf.setBackend('wasm'))) return { reason: 'the wasm backend failed to initialise' };
  } catch (e) {
    return { reason: `the wasm backend failed to initialise: ${errorText(e)}` };
  } finally {
    removeListenersAddedSince(before);
  }
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = getThreadsCount();
  // tfjs disables wasm threads when it detects Node, so this is 1 thread here.
  return {
    detail: `tfjs-backend-wasm ${version_wasm}, wasm ${simd ? 'SIMD' : 'without SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}`,
  };
}

async function startCpu(): Promise<StartResult> {
  if (!(await tf.setBackend('cpu'))) return { reason: 'the cpu backend failed to initialise' };
  // The cpu backend prints an "install tfjs-node" banner on first use; EngineInfo already says it.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return { detail: `tfjs-backend-cpu ${version_cpu}, pure JavaScript, 1 thread` };
}

const STARTERS: Record<EngineName, () => Promise<StartResult>> = {
  'tensorflow-gpu': startTensorflowGpu,
  tensorflow: startTensorflow,
  wasm: startWasm,
  cpu: startCpu,
};

/**
 * Choose and initialise the compute engine. 'auto' tries ENGINE_NAMES and reports why each
 * faster engine was skipped; a named engine that cannot start throws MotlabError('engine_unavailable').
 * Afterwards `tf.getBackend()` is the chosen backend ('tensorflow' for both native engines), the
 * tfjs fixes are installed and our fused kernels registered. May be called again to switch engines.
 */
export async function initEngine(requested: EngineName | 'auto' = 'auto'): Promise<EngineInfo> {
  if (requested !== 'auto' && !ENGINE_NAMES.includes(requested)) {
    throw new MotlabError('invalid_config', `Unknown engine '${String(requested)}': use one of auto, ${ENGINE_NAMES.join(', ')}.`);
  }
  installTfjsFixes();
  registerFusedKernels();
  const order = requested === 'auto' ? ENGINE_NAMES : [requested];
  const fallbacks: string[] = [];
  for (const name of order) {
    const result = await STARTERS[name]();
    if ('detail' in result) return { name, detail: result.detail, fallbacks };
    if (requested !== 'auto') {
      throw new MotlabError('engine_unavailable', `The '${name}' engine cannot start: ${result.reason}. ${INSTALL_HINT[name]}`);
    }
    fallbacks.push(`${name}: ${result.reason}`);
  }
  throw new MotlabError('engine_unavailable', `No compute engine could start: ${fallbacks.join('; ')}.`);
}

/**
 * What could run here, without switching the active backend or loading native libraries
 * (a native package that is installed but not loaded yet is reported as available; whether its
 * GPU is usable is only known once `initEngine` loads it).
 */
export async function listEngines(): Promise<EngineStatus[]> {
  const loadedBackend = nativeLoaded ? (tf.findBackend('tensorflow') as unknown as TfNodeBackend | null) : null;
  const gpuStatus = (): EngineStatus => {
    const name = 'tensorflow-gpu';
    const failed = nativeFailures.get(GPU_PKG);
    if (failed) return { name, available: false, reason: failed };
    if (nativeLoaded?.pkg === GPU_PKG) {
      const gpu = loadedBackend?.isUsingGpuDevice === true;
      return {
        name,
        available: gpu,
        reason: gpu ? `${GPU_PKG} loaded, CUDA GPU in use` : `${GPU_PKG} loaded but no usable GPU (needs ${CUDA_NEEDS})`,
      };
    }
    if (nativeLoaded) return { name, available: false, reason: `${nativeLoaded.pkg} is already loaded; restart to use ${GPU_PKG}` };
    if (isInstalled(GPU_PKG))
      return { name, available: true, reason: `${GPU_PKG} installed; needs ${CUDA_NEEDS} (checked when the engine starts)` };
    return { name, available: false, reason: `${GPU_PKG} is not installed. ${INSTALL_HINT['tensorflow-gpu']}` };
  };
  const nodeStatus = (): EngineStatus => {
    const name = 'tensorflow';
    if (nativeLoaded) return { name, available: true, reason: `${nativeLoaded.pkg} loaded` };
    if (isInstalled(NODE_PKG) && !nativeFailures.has(NODE_PKG)) return { name, available: true, reason: `${NODE_PKG} installed` };
    if (isInstalled(GPU_PKG) && !nativeFailures.has(GPU_PKG))
      return { name, available: true, reason: `${GPU_PKG} installed (runs on the CPU when no GPU is usable)` };
    return { name, available: false, reason: nativeFailures.get(NODE_PKG) ?? `${NODE_PKG} is not installed. ${INSTALL_HINT.tensorflow}` };
  };
  const wasmMissing = wasmFilesReason();
  const simd = wasmMissing ? false : await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return [
    gpuStatus(),
    nodeStatus(),
    {
      name: 'wasm',
      available: wasmMissing === null,
      reason: wasmMissing ?? `tfjs-backend-wasm ${version_wasm}, ${simd ? 'SIMD' : 'no SIMD'}, single-threaded in Node`,
    },
    { name: 'cpu', available: true, reason: `tfjs-backend-cpu ${version_cpu}, pure JavaScript (slowest)` },
  ];
}
