/**
 * A faster `BatchMatMul` for tfjs-backend-wasm when an operand is transposed.
 *
 * The stock kernel runs XNNPACK only for `transposeA = transposeB = false`;
 * a transposed operand takes a plain loop that is 10-40x slower. Every
 * matMul gradient has one transposed operand (`dA = dy B^T`, `dB = A^T dy`),
 * so training and attacks hit it constantly. Transposing the operand
 * explicitly (the `Transpose` kernel, one pass over memory) and then calling
 * the stock kernel untransposed gives the same products. Medians on wasm,
 * 1 thread, Node 20 (`m x k x n`, stock transposed -> explicit transpose):
 *
 *     1568 x 64 x 64   (Björck Gram, dense 1):  tA 24 -> 1.8 ms,  tB 22 -> 1.1 ms
 *     256 x 1568 x 64  (dense 1 gradients):     tA 112 -> 2.8 ms, tB 52 -> 8.3 ms
 *     200704 x 16 x 8  (GroupSort2 gradient):   tA 133 -> 34 ms,  tB 69 -> 13 ms
 *
 * Rank > 2 operands are transposed on their last two axes.
 *
 * XNNPACK packs the right operand anew for every new tensor, so a row vector
 * times a transposed matrix (power iteration: `u w^T`) computes
 * `(w u^T)^T` instead, packing the vector rather than the matrix:
 * `[1, 64] x [1568, 64]^T` 1.0 -> 0.18 ms.
 */
import { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { disposeAll, runWasmKernel, view } from './wasm_kernel_utils';
import { kernelChoice } from './kernels/kernel_choice';
import { withF32 } from './kernels/simd_kernels';

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** `x` with its last two axes swapped (a new buffer). */
function swapLastAxes(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return runWasmKernel(backend, 'Transpose', { x }, { perm });
}

/** `[rows, inner, cols]` of a product lip's SIMD kernel takes (float32, one matrix each: every batch axis 1), else null. */
export function simdMatMulShape(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): [number, number, number] | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length !== b.shape.length || a.shape.length < 2) return null;
  const rank = a.shape.length;
  for (let i = 0; i < rank - 2; i++) if (a.shape[i] !== 1 || b.shape[i] !== 1) return null;
  const [ar, ac] = [a.shape[rank - 2], a.shape[rank - 1]];
  const [br, bc] = [b.shape[rank - 2], b.shape[rank - 1]];
  const [rows, inner] = transposeA ? [ac, ar] : [ar, ac];
  const [innerB, cols] = transposeB ? [bc, br] : [br, bc];
  if (inner !== innerB || rows * inner * cols === 0) return null;
  return [rows, inner, cols];
}

/**
 * `BatchMatMul` for wasm. Under the `simd` kernel choice, one matrix times
 * one matrix runs lip's register-tiled SIMD product (kernels/matmul.c: a
 * transposed left operand read in place, a transposed right one copied
 * once). It sums in XNNPACK's order and gives its bits (tests compare
 * them); medians, one thread, with a new right operand each call (as in
 * training), dense 1 of the seed network at batch 256 (`x w`, `dy w^T`,
 * `x^T dy`): 3.3 -> 2.3, 4.7 -> 2.9, 2.6 -> 1.6 ms; `[1, 1568] x [1568, 64]`
 * 0.53 -> 0.08 ms. Otherwise (composed, batched products, other dtypes):
 * explicit transposes, then `stock` without transposes. A matrix times its
 * own transpose (`w^T w` of SLL, `p p^T` of AOL) computes the upper triangle
 * and mirrors it (the same bits, half the products).
 */
export function makeBatchMatMulWasm(stock: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as unknown as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
    const simd = kernelChoice() === 'simd' ? simdMatMulShape(a, b, transposeA, transposeB) : null;
    if (simd !== null) {
      const [rows, inner, cols] = simd;
      const outShape = [...a.shape.slice(0, -2), rows, cols];
      if (a.dataId === b.dataId && transposeA !== transposeB) {
        // a^T a or a a^T: the Gram matrix, half the products, the same bits.
        const [ar, ac] = a.shape.slice(-2);
        const [g] = withF32(args.backend as BackendWasm, { inputs: [a], outputs: [outShape], scratch: transposeA ? 0 : ar * ac }, (k, p) =>
          k.gram_f32(p.outputs[0], p.inputs[0], p.scratch, ar, ac, transposeA ? 1 : 0),
        );
        return g;
      }
      const scratch = transposeB && !(rows === 1 && !transposeA) ? inner * cols : 0;
      const [c] = withF32(args.backend as BackendWasm, { inputs: [a, b], outputs: [outShape], scratch }, (k, p) =>
        k.matmul_f32(p.outputs[0], p.inputs[0], p.inputs[1], p.scratch, rows, inner, cols, transposeA ? 1 : 0, transposeB ? 1 : 0),
      );
      return c;
    }
    if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    const backend = args.backend as BackendWasm;
    if (!transposeA && transposeB && a.shape.length === 2 && b.shape.length === 2 && a.shape[0] === 1) {
      // a [1, K] times b [N, K]^T = (b a^T)^T: a^T and the result are views (one row).
      const product = stock({
        ...args,
        inputs: { a: b, b: view(a, [a.shape[1], 1]) },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      }) as TensorInfo;
      return view(product, [1, b.shape[0]]);
    }
    const temps: TensorInfo[] = [];
    const aN = transposeA ? swapLastAxes(backend, a) : a;
    if (transposeA) temps.push(aN);
    const bN = transposeB ? swapLastAxes(backend, b) : b;
    if (transposeB) temps.push(bN);
    const out = stock({ ...args, inputs: { a: aN, b: bN }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    disposeAll(backend, temps);
    return out;
  };
}
