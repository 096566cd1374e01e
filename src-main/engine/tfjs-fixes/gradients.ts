/**
 * Gradient fixes for TensorFlow.js 4.22 (global: they apply to every backend, tfjs-node too).
 *
 *  - No gradients at all in Node: tfjs-core's Node bundle (its package `main`) registers none,
 *    and the official `@tensorflow/tfjs-core/dist/register_all_gradients` is ESM with
 *    extensionless imports that Node cannot load. tfjs-layers' Node bundle inlines exactly that
 *    file and registers every core gradient in the shared global registry, so we import it.
 *  - Gradients that tfjs does not register: `TopK` (values' gradient goes back to the chosen
 *    input positions; indices get none), `ScatterNd` (d updates = gatherND(dy, indices)), and
 *    zero gradients for comparisons / logical ops (`Greater`, `Less`, `LessEqual`, `Equal`,
 *    `NotEqual`, `Logical*`) so a `tf.where` whose mask is computed inside the differentiated
 *    function no longer fails with "gradient function not found for Greater".
 *  - Gradients that tfjs registers wrongly:
 *    - `BatchMatMul` with broadcast batch dimensions (e.g. [B,H,T,D]·[D,F] or ·[1,1,D,F])
 *      returned a gradient with the broadcast shape; it is now summed back to the input shape.
 *    - `Cumsum` along any axis but the last transposed its gradient (shape error on a
 *      non-square 2-D input, silently wrong values on a square one). Now correct on every axis.
 *    - `GatherV2` returned the int32 indices as their own "gradient", which throws when the
 *      indices depend on the differentiated input (e.g. indices from `tf.topk`). Now zeros. Along
 *      axis 0 the gradient is now one scatter-add (tfjs's adds two identity transposes, copies).
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers tfjs-core's gradients (see above); must run before our overrides below.
import '@tensorflow/tfjs-layers';

/** Sum a broadcast gradient back to the shape of the input it belongs to. */
function sumToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? tf.sum(g, axes) : g;
  return tf.reshape(summed, shape);
}

const floatZeros = (t: tf.Tensor) => () => tf.zeros(t.shape, 'float32');

function topKGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): ReturnType<tf.GradFunc> {
  const [x, indices] = saved;
  const dValues = Array.isArray(dy) ? dy[0] : dy;
  return {
    x: () => {
      const n = x.shape[x.rank - 1];
      const k = indices.shape[indices.rank - 1];
      if (k === 0 || x.size === 0) return tf.zeros(x.shape, 'float32');
      const rows = indices.size / k;
      // Flat position of each chosen element: row * n + index; scatter-add the values' gradient there.
      const rowStart = tf.reshape(tf.range(0, rows * n, n, 'int32'), [rows, 1]);
      const flat = tf.reshape(tf.add(tf.reshape(indices, [rows, k]), rowStart), [rows * k]) as tf.Tensor1D;
      const summed = tf.unsortedSegmentSum(tf.reshape(tf.cast(dValues, 'float32'), [rows * k]), flat, rows * n);
      return tf.reshape(summed, x.shape);
    },
  };
}

/** Register the gradients above (call once). */
export function installGradients(): void {
  tf.registerGradient({ kernelName: 'TopK', inputsToSave: ['x'], outputsToSave: [false, true], gradFunc: topKGrad });

  tf.registerGradient({
    kernelName: 'ScatterNd',
    inputsToSave: ['indices'],
    gradFunc: (dy, saved) => {
      const [indices] = saved;
      return { updates: () => tf.gatherND(dy as tf.Tensor, indices), indices: floatZeros(indices) };
    },
  });

  tf.registerGradient({
    kernelName: 'Cumsum',
    gradFunc: (dy, _saved, attrs) => {
      const { axis, exclusive, reverse } = attrs as unknown as tf.CumsumAttrs;
      // y = cumsum(x) along axis  ⇒  dx = reverse-direction cumsum of dy along the same axis.
      return { x: () => tf.cumsum(dy as tf.Tensor, axis, exclusive, !reverse) };
    },
  });

  const matMulGrad = tf.getGradient('BatchMatMul');
  if (matMulGrad) {
    tf.registerGradient({
      ...matMulGrad,
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved;
        const g = matMulGrad.gradFunc(dy, saved, attrs);
        return { a: () => sumToShape(g.a(), a.shape), b: () => sumToShape(g.b(), b.shape) };
      },
    });
  }

  const gatherGrad = tf.getGradient('GatherV2');
  if (gatherGrad) {
    tf.registerGradient({
      ...gatherGrad,
      gradFunc: (dy, saved, attrs) => {
        const [x, indices] = saved;
        const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
        const zeros = { indices: floatZeros(indices) };
        if (tf.util.parseAxisParam(axis, x.shape)[0] === 0 && !batchDims && x.rank > 0) {
          // Axis 0: a plain scatter-add of dy's rows (tfjs's generic gradient adds two transposes).
          const rows = tf.reshape(dy as tf.Tensor, [indices.size, ...x.shape.slice(1)]);
          return { x: () => tf.unsortedSegmentSum(rows, tf.reshape(indices, [-1]) as tf.Tensor1D, x.shape[0]), ...zeros };
        }
        return { x: gatherGrad.gradFunc(dy, saved, attrs).x, ...zeros };
      },
    });
  }

  // Masks are not differentiable; give their inputs zero gradients (only where tfjs has none).
  for (const name of ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'LogicalXor']) {
    if (tf.getGradient(name)) continue;
    tf.registerGradient({
      kernelName: name,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, [a, b]) => ({ a: floatZeros(a), b: floatZeros(b) }),
    });
  }
  if (!tf.getGradient('LogicalNot')) {
    tf.registerGradient({ kernelName: 'LogicalNot', inputsToSave: ['x'], gradFunc: (_dy, [x]) => ({ x: floatZeros(x) }) });
  }
}
