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

/** Per backend: buffer (dataId) → "K,N" → long-lived view id whose XNNPACK operator holds the packed weights. */
const weightViews = new WeakMap<WasmBackend, Map<tf.DataId, Map<string, number>>>();

/**
 * A view id for a weight operand b [K, N] at `offset` of buffer `dataId`, one per (buffer, K, N)
 * and kept until the buffer is freed, so that XNNPACK packs the weights once (the C++ side caches
 * its operator per tensor id; keyed on the tensor's own id it would go stale when the same
 * buffer is used under another [K, N], as reshape shares the id).
 */
export function weightView(backend: WasmBackend, dataId: tf.DataId, offset: number, k: number, n: number): number {
  let byBuffer = weightViews.get(backend);
  if (!byBuffer) {
    const views = (byBuffer = new Map());
    weightViews.set(backend, views);
    // When a buffer is freed, drop its views so the C++ side deletes their operators (the packed
    // copies). Correctness does not depend on this: a new tensor has a new dataId, hence new views.
    const disposeData = backend.disposeData.bind(backend);
    backend.disposeData = (id: tf.DataId, force?: boolean): boolean => {
      const freed = disposeData(id, force);
      const ids = views.get(id);
      if (freed && ids) {
        for (const viewId of ids.values()) backend.wasm.tfjs.disposeData(viewId);
        views.delete(id);
      }
      return freed;
    };
  }
  let byShape = byBuffer.get(dataId);
  if (!byShape) byBuffer.set(dataId, (byShape = new Map()));
  const key = `${k},${n}`;
  let viewId = byShape.get(key);
  if (viewId === undefined) {
    viewId = backend.dataIdNextNumber++;
    backend.wasm.tfjs.registerTensor(viewId, k * n, offset);
    byShape.set(key, viewId);
  }
  return viewId;
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
