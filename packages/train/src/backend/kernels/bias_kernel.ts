/**
 * The bias of the linear layers as wasm SIMD kernels (kernels/bias.c), in
 * place of `tf.add(y, bias)` and its tfjs gradient:
 *
 *     LipBiasAdd        (x, bias) -> x + bias, bias [C] broadcast over the rows of x viewed as [rows, C]
 *     LipBiasColumnSum  dy -> the column sums of dy viewed as [rows, C]
 *
 * The gradient of LipBiasAdd is `dx = dy` (a reshape: no copy) and
 * `dbias = LipBiasColumnSum(dy)`. It saves no tensor, where tfjs's Add
 * gradient saves (clones, through the engine's Identity) both inputs only
 * to read their shapes. tfjs-backend-wasm's broadcast Add and its Sum over
 * the leading axes (a transpose first) are slower: on [256, 28, 28, 16],
 * one thread, 6.4 -> 2.9 ms forward and 11.3 -> 1.7 ms for dbias.
 *
 * The column sum's order is fixed by the shape (blocks of 64 rows, then
 * pairwise; see bias.c): reproducible, and more accurate than the stock Sum.
 * Its own gradient (second order) is registered too.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { withF32 } from './simd_kernels';
import { useSimdKernel } from './kernel_choice';

export const BIAS_ADD = 'LipBiasAdd';
export const BIAS_COLUMN_SUM = 'LipBiasColumnSum';

/** Levels of pairwise partial sums bias_column_sum keeps in its scratch (bias.c). */
const BIAS_SUM_LEVELS = 26;

/** [rows, columns] of a tensor seen as a matrix over its last axis. */
function rowsAndColumns(x: TensorInfo): [number, number] {
  const columns = x.shape[x.shape.length - 1];
  return [tf.util.sizeFromShape(x.shape) / columns, columns];
}

export const biasAddKernelConfig: KernelConfig = {
  kernelName: BIAS_ADD,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { x, bias } = inputs as { x: TensorInfo; bias: TensorInfo };
    const [rows, columns] = rowsAndColumns(x);
    const [y] = withF32(backend as BackendWasm, { inputs: [x, bias], outputs: [x.shape] }, (k, p) =>
      k.bias_add(p.inputs[0], p.inputs[1], p.outputs[0], rows, columns),
    );
    return y;
  },
};

export const biasColumnSumKernelConfig: KernelConfig = {
  kernelName: BIAS_COLUMN_SUM,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { dy } = inputs as { dy: TensorInfo };
    const [rows, columns] = rowsAndColumns(dy);
    const [db] = withF32(backend as BackendWasm, { inputs: [dy], outputs: [[columns]], scratch: BIAS_SUM_LEVELS * columns }, (k, p) =>
      k.bias_column_sum(p.inputs[0], p.outputs[0], p.scratch, rows, columns),
    );
    return db;
  },
};

export const biasAddGradConfig: GradConfig = {
  kernelName: BIAS_ADD,
  gradFunc: (dy) => {
    const g = dy as tf.Tensor;
    return {
      x: () => tf.reshape(g, g.shape),
      bias: () => tf.engine().runKernel(BIAS_COLUMN_SUM, { dy: g }) as tf.Tensor,
    };
  },
};

/** Second order (a gradient of the bias gradient): the column sum's gradient spreads g [C] over the rows. */
export const biasColumnSumGradConfig: GradConfig = {
  kernelName: BIAS_COLUMN_SUM,
  inputsToSave: ['dy'],
  gradFunc: (g, saved) => {
    const [dy] = saved;
    const row = [...new Array<number>(dy.rank - 1).fill(1), dy.shape[dy.rank - 1]];
    return { dy: () => tf.broadcastTo(tf.reshape(g as tf.Tensor, row), dy.shape) };
  },
};

/**
 * `y + bias`, bias [C] added along the last axis of `y`: lip's SIMD kernel
 * on wasm when chosen (kernel_choice.ts) and the tensors fit it (float32,
 * not empty), else `tf.add` as before.
 */
export function addBias(y: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const fits = y.dtype === 'float32' && bias.dtype === 'float32' && y.rank >= 1 && bias.rank === 1 && bias.shape[0] === y.shape[y.rank - 1] && y.size > 0;
  if (fits && useSimdKernel(BIAS_ADD)) return tf.engine().runKernel(BIAS_ADD, { x: y, bias }) as tf.Tensor;
  return tf.add(y, bias);
}
