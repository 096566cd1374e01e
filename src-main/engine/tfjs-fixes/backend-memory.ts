/**
 * Minimal views of tfjs backend internals (present in tfjs-backend-wasm / -cpu 4.22) and the
 * wasm heap helpers built on them: tensors by heap offset, zero-copy views (a tensor id
 * registered at an offset inside an existing buffer), and one XNNPACK matMul call on such views.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmMemory } from '../simd/module.ts';

export type TypedArray = Float32Array | Int32Array | Uint8Array;
export type KernelArgs = Parameters<tf.KernelFunc>[0];

export interface WasmModule {
  asm?: { memory?: WasmMemory };
  cwrap(name: string, returnType: null, argTypes: string[]): (...args: unknown[]) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}
export interface WasmBackend {
  wasm: WasmModule;
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: tf.DataId): { id: number; memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  typedArrayFromHeap(info: tf.TensorInfo): TypedArray;
}
export interface CpuBackend {
  readSync(dataId: tf.DataId): unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: TypedArray): tf.TensorInfo;
}

/** The wasm backend's heap (what our SIMD modules are instantiated against). */
export const heapOf = (backend: WasmBackend): WasmMemory | undefined => backend.wasm.asm?.memory;

/** Byte offset of a tensor's data in the wasm heap. */
export const offsetOf = (backend: WasmBackend, t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId).memoryOffset;

/** A float32 view of a tensor's data in the wasm heap (take it after any makeOutput: a malloc may grow the heap). */
export const heapF32 = (backend: WasmBackend, t: tf.TensorInfo): Float32Array => backend.typedArrayFromHeap(t) as Float32Array;

/**
 * Copy a float32 tensor's values into `into` at `offset`: on wasm straight from the heap, without
 * the intermediate array dataSync makes (weights and gradients through shared memory, every step).
 */
export function copyTensorInto(t: tf.Tensor, into: Float32Array, offset: number): void {
  if (t.dtype !== 'float32') throw new Error(`copyTensorInto: ${t.dtype} tensor, float32 expected`);
  into.set(tf.getBackend() === 'wasm' ? heapF32(tf.backend() as unknown as WasmBackend, t) : (t.dataSync() as Float32Array), offset);
}

type CBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;
const cBatchMatMulByModule = new WeakMap<WasmModule, CBatchMatMul>();

/** tfjs-wasm's C entry point `BatchMatMul` (XNNPACK when neither operand is transposed and both have batch 1). */
export function cBatchMatMul(wasm: WasmModule): CBatchMatMul {
  let fn = cBatchMatMulByModule.get(wasm);
  if (!fn) {
    fn = wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as CBatchMatMul;
    cBatchMatMulByModule.set(wasm, fn);
  }
  return fn;
}

export function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/**
 * Per backend: buffer (dataId) → "K,N" (or "T:K,N" for a transposed copy) → a long-lived view id
 * whose XNNPACK operator holds the packed weights, and the copy it views, if any.
 */
const weightViews = new WeakMap<WasmBackend, Map<tf.DataId, Map<string, { view: number; copy?: tf.DataId }>>>();

/** The views of one buffer, with a hook that drops them when the buffer is freed. */
function viewsOf(backend: WasmBackend, dataId: tf.DataId): Map<string, { view: number; copy?: tf.DataId }> {
  let byBuffer = weightViews.get(backend);
  if (!byBuffer) {
    const views = (byBuffer = new Map());
    weightViews.set(backend, views);
    // When a buffer is freed, drop its views so the C++ side deletes their operators (the packed
    // copies), and free the transposed copies. Correctness does not depend on this: a new tensor
    // has a new dataId, hence new views (weights are never written in place: assign swaps buffers).
    const disposeData = backend.disposeData.bind(backend);
    backend.disposeData = (id: tf.DataId, force?: boolean): boolean => {
      const freed = disposeData(id, force);
      const entries = views.get(id);
      if (freed && entries) {
        views.delete(id);
        for (const { view, copy } of entries.values()) {
          backend.wasm.tfjs.disposeData(view);
          if (copy) disposeData(copy);
        }
      }
      return freed;
    };
  }
  let byShape = byBuffer.get(dataId);
  if (!byShape) byBuffer.set(dataId, (byShape = new Map()));
  return byShape;
}

/**
 * A view id for a weight operand b [K, N] at `offset` of buffer `dataId`, one per (buffer, K, N)
 * and kept until the buffer is freed, so that XNNPACK packs the weights once (the C++ side caches
 * its operator per tensor id; keyed on the tensor's own id it would go stale when the same
 * buffer is used under another [K, N], as reshape shares the id).
 */
export function weightView(backend: WasmBackend, dataId: tf.DataId, offset: number, k: number, n: number): number {
  const views = viewsOf(backend, dataId);
  const key = `${k},${n}`;
  let entry = views.get(key);
  if (!entry) {
    entry = { view: backend.dataIdNextNumber++ };
    backend.wasm.tfjs.registerTensor(entry.view, k * n, offset);
    views.set(key, entry);
  }
  return entry.view;
}

/**
 * A view id for wᵀ [K, N] of a weight w [N, K] (PyTorch's layout, y = x wᵀ): a transposed copy,
 * made once per weight buffer and kept with its packed XNNPACK operator until w is freed. A
 * capture runs the same weights over many passes; each pass used to transpose and pack them anew.
 */
export function transposedWeightView(backend: WasmBackend, w: tf.TensorInfo, transpose: (w: tf.TensorInfo) => tf.TensorInfo): number {
  const [n, k] = w.shape;
  const views = viewsOf(backend, w.dataId);
  const key = `T:${k},${n}`;
  let entry = views.get(key);
  if (!entry) {
    const copy = transpose(w);
    entry = { view: backend.dataIdNextNumber++, copy: copy.dataId };
    backend.wasm.tfjs.registerTensor(entry.view, k * n, offsetOf(backend, copy));
    views.set(key, entry);
  }
  return entry.view;
}

/** A short-lived tensor id over `size` floats at byte `offset` of the heap (a zero-copy view); free it with disposeView. */
export function tempView(backend: WasmBackend, offset: number, size: number): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, offset);
  return id;
}

/** Drop a view's registry entry (and any XNNPACK operator cached on it); the memory is not freed. */
export function disposeView(backend: WasmBackend, id: number): void {
  backend.wasm.tfjs.disposeData(id);
}

/**
 * out[m, n] (at byte offset outOff) = a[m, k] (at aOff) · B[k, n], B a registered view id, all
 * row-major float32: one XNNPACK call, exactly as the matMul fast path makes it.
 */
export function xnnMatMulRows(backend: WasmBackend, aOff: number, m: number, k: number, bId: number, n: number, outOff: number): void {
  const aId = tempView(backend, aOff, m * k);
  const outId = tempView(backend, outOff, m * n);
  try {
    cBatchMatMul(backend.wasm)(aId, shapeBytes([1, m, k]), 3, bId, shapeBytes([1, k, n]), 3, false, false, outId);
  } finally {
    disposeView(backend, aId);
    disposeView(backend, outId);
  }
}
