/**
 * GroupSort activations (Anil et al. 2019, "Sorting out Lipschitz function
 * approximation"): sort groups of `n` consecutive channels in ascending
 * order. Norm-preserving (a permutation of the input per sample), hence
 * 1-Lipschitz and gradient-norm preserving.
 *
 * Channels are the last axis (tfjs NHWC, or `[batch, features]` for dense
 * layers): group `g` is channels `g*n .. g*n + n - 1`, as deel-torchlip's
 * `group_sort` on the channel axis (checked against its v0.1.1 outputs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { GROUP_SORT2, groupSort2Simd } from '../backend/kernels/group_sort2_kernel';
import { useSimdKernel } from '../backend/kernels/kernel_choice';

function channelCount(x: tf.Tensor, where: string): number {
  assertArg(x.rank >= 1, () => `${where}: 'x' must have at least one axis (channels last), got a scalar`);
  return x.shape[x.rank - 1];
}

/**
 * `P [C, C/2]` (+1/-1 on each channel pair), `Q [C/2, C]` (-1/+1) and their
 * transposes (matMul with a transposed operand is slow on wasm), cached per C.
 */
interface PairMatrices {
  p: tf.Tensor2D;
  q: tf.Tensor2D;
  pT: tf.Tensor2D;
  qT: tf.Tensor2D;
}
const pairMatrices = new Map<number, PairMatrices>();

function pairDifferenceMatrices(channels: number): PairMatrices {
  const cached = pairMatrices.get(channels);
  if (cached !== undefined && Object.values(cached).every((t) => !t.isDisposed)) return cached;
  const half = channels / 2;
  const p = new Float32Array(channels * half);
  const q = new Float32Array(half * channels);
  const pT = new Float32Array(half * channels);
  const qT = new Float32Array(channels * half);
  for (let i = 0; i < half; i++) {
    p[2 * i * half + i] = 1;
    p[(2 * i + 1) * half + i] = -1;
    q[i * channels + 2 * i] = -1;
    q[i * channels + 2 * i + 1] = 1;
    pT[i * channels + 2 * i] = 1;
    pT[i * channels + 2 * i + 1] = -1;
    qT[2 * i * half + i] = -1;
    qT[(2 * i + 1) * half + i] = 1;
  }
  const made = {
    p: tf.keep(tf.tensor2d(p, [channels, half])),
    q: tf.keep(tf.tensor2d(q, [half, channels])),
    pT: tf.keep(tf.tensor2d(pT, [half, channels])),
    qT: tf.keep(tf.tensor2d(qT, [channels, half])),
  };
  pairMatrices.set(channels, made);
  return made;
}

/**
 * GroupSort with groups of 2: each channel pair `(a, b)` becomes
 * `(min(a, b), max(a, b))`; swapped iff `a > b`, so at ties the gradient
 * goes straight through (`da = dy0`, `db = dy1`).
 *
 * On tfjs-backend-wasm with lip's kernels installed (installWasmKernels,
 * `LIP_KERNELS` not `composed`), one SIMD pass each way
 * (backend/kernels/group_sort2_kernel.ts). Elsewhere, the composed form on
 * the `[-1, C]` view:
 *
 *     x + relu(x P) Q,   d = x P = a - b per pair,
 *     min = a - relu(a - b),  max = b + relu(a - b)
 *
 * two small matMuls and a relu instead of slicing size-2 axes, which is
 * about 50x faster on tfjs-backend-wasm (/work/shared/PERF-NOTES.md). The
 * result differs from `min`/`max` by at most one rounding of `a - b`
 * (~1e-7 relative) and is always ordered (`out[2i] <= out[2i+1]`).
 *
 * Its gradient is given explicitly, `dx = dy + ((dy Q^T) * [d > 0]) P^T`
 * with the transposes precomputed and the mask saved by the forward pass:
 * 4 ops instead of tfjs's 7 (two of them transposed matMuls).
 *
 * @param x any shape with an even number of channels on the last axis.
 */
export function groupSort2(x: tf.Tensor): tf.Tensor {
  const where = 'groupSort2';
  const channels = channelCount(x, where);
  assertArg(channels % 2 === 0, () => `${where}: the channel count (last axis) must be even, got ${channels}`);
  if (x.dtype === 'float32' && useSimdKernel(GROUP_SORT2)) return groupSort2Simd(x);
  return groupSort2Composed(x, channels);
}

/** The composed GroupSort2 (see groupSort2). */
function groupSort2Composed(x: tf.Tensor, channels: number): tf.Tensor {
  const { p, q, pT, qT } = pairDifferenceMatrices(channels);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const flat = tf.reshape(input, [-1, channels]) as tf.Tensor2D;
    const d = tf.matMul(flat, p);
    save([tf.step(d)]);
    const value = tf.reshape(tf.add(flat, tf.matMul(tf.relu(d), q)), input.shape);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dyFlat = tf.reshape(dy, [-1, channels]) as tf.Tensor2D;
        const dd = tf.mul(tf.matMul(dyFlat, qT), saved[0]) as tf.Tensor2D;
        return tf.reshape(tf.add(dyFlat, tf.matMul(dd, pT)), dy.shape);
      },
    };
  });
  return op(x);
}

/** Ascending sort of each row of `[M, n]`; gradient routed back by the inverse permutation. */
function sortRows(rows: tf.Tensor2D): tf.Tensor2D {
  const [m, n] = rows.shape;
  const sort = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    // topk sorts descending: sort -x descending = x ascending.
    const { values, indices } = tf.topk(tf.neg(input), n, true);
    // inverse[r, j] = position of input[r, j] in the sorted row (argsort of indices),
    // as flat indices into [M * n]. (tfjs-backend-wasm 4.22 gathers wrongly with
    // batchDims = 1, so the gradient uses a flat 1-D gather.)
    const inverse = tf.topk(tf.neg(tf.cast(indices, 'float32')), n, true).indices;
    const rowStart = tf.reshape(tf.range(0, m * n, n, 'int32'), [m, 1]);
    save([tf.reshape(tf.add(inverse, rowStart), [-1])]);
    return {
      value: tf.neg(values) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => tf.reshape(tf.gather(tf.reshape(dy, [-1]), saved[0]), [m, n]),
    };
  });
  return sort(rows);
}

/**
 * GroupSort: sorts each group of `n` consecutive channels (last axis) in
 * ascending order. `n = 2` uses the fast form of `groupSort2`; `n = C` is
 * `fullSort`; `n = 1` is the identity. Other sizes use `tf.topk` with a
 * gradient that scatters `dy` back through the inverse permutation (tfjs has
 * no TopK gradient).
 *
 * @param x any shape; the channel count must be a multiple of `n`.
 * @param n group size, an integer >= 1 dividing the channel count.
 */
export function groupSort(x: tf.Tensor, n: number): tf.Tensor {
  const where = 'groupSort';
  const channels = channelCount(x, where);
  assertArg(typeof n === 'number' && Number.isInteger(n) && n >= 1, () => `${where}: 'n' must be an integer >= 1, got ${String(n)}`);
  assertArg(channels % n === 0, () => `${where}: 'n' must divide the channel count ${channels}, got ${n}`);
  if (n === 1) return tf.clone(x);
  if (n === 2) return groupSort2(x);
  return tf.tidy(() => tf.reshape(sortRows(tf.reshape(x, [-1, n]) as tf.Tensor2D), x.shape));
}

/** FullSort: sorts all channels (last axis) in ascending order, `groupSort(x, C)`. */
export function fullSort(x: tf.Tensor): tf.Tensor {
  return groupSort(x, channelCount(x, 'fullSort'));
}
