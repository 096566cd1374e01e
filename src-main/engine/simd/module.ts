/**
 * A WebAssembly module from a table of functions (name → signature and body), instantiated
 * against tfjs-wasm's own WebAssembly.Memory, so that its functions read and write tensors in
 * place by their heap offsets. Each kernel file declares its own small table.
 */
import { F32, I32, str, uleb, vec } from './assembler.ts';

export type WasmType = 'i32' | 'f32';

/** One exported function: its parameter types, its result (if any) and its body. */
export interface SimdFunction {
  params: readonly WasmType[];
  result?: WasmType;
  /** Local declarations, code and the final `end`, built with ./assembler.ts. */
  body: () => number[];
}

/** The parts of the WebAssembly JS API used here (the project's TypeScript lib has no DOM types). */
export interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

type Exports = Record<string, (...args: number[]) => number | void>;

export interface SimdModule<T extends Exports> {
  /** The functions bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
  on(memory: WasmMemory | undefined): T | null;
}

const TYPE: Record<WasmType, number> = { i32: I32, f32: F32 };
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

function moduleBytes(table: Record<string, SimdFunction>): Uint8Array {
  const fns = Object.entries(table);
  const funcType = (f: SimdFunction) => [0x60, ...vec(f.params.map((t) => [TYPE[t]])), ...vec(f.result ? [[TYPE[f.result]]] : [])];
  const sized = (b: number[]) => [...uleb(b.length), ...b];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec(fns.map(([, f]) => funcType(f)))), // types: one per function
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x00]])), // imported memory, no limits
    ...section(3, vec(fns.map((_, i) => uleb(i)))), // function i has type i
    ...section(7, vec(fns.map(([name], i) => [...str(name), 0x00, ...uleb(i)]))), // exports
    ...section(10, vec(fns.map(([, f]) => sized(f.body())))), // code
  ]);
}

/** A module of `table`'s functions, compiled on first use; the declared type T is what they take and return. */
export function simdModule<T extends Exports>(table: Record<keyof T & string, SimdFunction>): SimdModule<T> {
  let compiled: object | null | undefined;
  const instances = new WeakMap<WasmMemory, T>();
  return {
    on(memory) {
      if (compiled === undefined) {
        const bytes = moduleBytes(table);
        compiled = wasmApi && wasmApi.validate(bytes) ? new wasmApi.Module(bytes) : null;
      }
      if (!compiled || !wasmApi || !memory) return null;
      if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) return null;
      let fns = instances.get(memory);
      if (!fns) {
        fns = new wasmApi.Instance(compiled, { env: { memory } }).exports as T;
        instances.set(memory, fns);
      }
      return fns;
    },
  };
}
