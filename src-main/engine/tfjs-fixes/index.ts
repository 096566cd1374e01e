/**
 * TensorFlow.js 4.22 gap fixes — every patch to tfjs lives in this folder, by kind:
 *  - ./gradients.ts: gradients tfjs lacks or gets wrong (global, so tfjs-node gets them too);
 *  - ./kernel-replacements.ts: kernels replaced on `wasm` and `cpu` (a linear-time
 *    UnsortedSegmentSum, the wasm matMul through XNNPACK for every layout, a SIMD transpose,
 *    row gathers, zero-copy slices, splits, identity and casts);
 *  - ./backend-memory.ts: views of the backends' internals and the wasm heap those use, as do
 *    our own fused kernels (../kernels/).
 * `initEngine` calls `installTfjsFixes()`; it is idempotent and safe to call before or after a
 * backend initialises.
 *
 * Not fixed — model code must avoid these:
 *  - `tf.fused.matMul` (`_FusedMatMul`) on wasm still has the slow path for transposed or
 *    batched operands: use `tf.matMul` plus a separate bias add.
 *  - The cpu backend's `BatchMatMul` maps batch indices modulo the flattened batch size, so
 *    broadcasting is only right when one operand's batch dims are all 1 or both match exactly.
 *    (The wasm replacement here broadcasts correctly.) Do not rely on [2,1]×[1,3]-style batches.
 *  - `tf.pow(x, 3)` is ~25× slower than `tf.mul(tf.mul(x, x), x)`; 5-D transposes are ~70×
 *    slower than 4-D ones. Write cubes as products and keep transposes at rank ≤ 4.
 *  - For activations × weights, reshape to 2-D ([B·T, D]·[D, F]) rather than [B,T,D]·[D,F]:
 *    the weight gradient is then one matMul instead of B of them plus a sum over B.
 *  - Chained tensor methods (`x.mul(y)`) are not registered by tfjs-core's Node bundle; use the
 *    `tf.*` functions.
 *  - wasm runs single-threaded in Node (tfjs turns threads off when it detects Node).
 */
// The backends register their kernels when their modules load: ours must be registered after
// theirs. Named imports, used below: a bundler drops a bare `import 'pkg'` whose package.json
// "sideEffects" list leaves out the file it resolves to (tfjs-backend-cpu's Node entry).
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { installGradients } from './gradients.ts';
import { installKernelReplacements } from './kernel-replacements.ts';

/** The TensorFlow.js version whose gaps these fix (package.json pins it). */
const FIXED_VERSION = '4.22.0';
let installed = false;

/** Install every fix (idempotent). Kernels apply to `wasm` and `cpu`; gradients to all backends. */
export function installTfjsFixes(): void {
  if (installed) return;
  if (version_cpu !== FIXED_VERSION || version_wasm !== FIXED_VERSION)
    throw new Error(
      `the TensorFlow.js fixes are written for version ${FIXED_VERSION}, but tfjs-backend-cpu is ${version_cpu} and ` +
        `tfjs-backend-wasm is ${version_wasm}: reinstall (npm install) to get the versions package.json pins`,
    );
  installed = true;
  installGradients();
  installKernelReplacements();
}
