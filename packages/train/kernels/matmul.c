/*
 * Float32 matrix product for tfjs-backend-wasm's BatchMatMul (rank 2, or a
 * batch of one) under the `simd` kernel choice
 * (src/backend/matmul_wasm.ts), with the register tiles of gemm.h:
 *
 *   c [rows, cols] = op(a) op(b),  op(a) [rows, inner],  op(b) [inner, cols]
 *
 * op(a) = a^T reads a [inner, rows] in place (strided). op(b) = b^T
 * ([cols, inner] in memory) is first transposed into `scratch`
 * (inner x cols floats): the tiles read rows of the right operand.
 *
 * Against XNNPACK (which packs the right operand anew for every new
 * tensor, and after the explicit transposes matmul_wasm.ts does for a
 * transposed operand), one thread, dense 1 of the seed network at batch
 * 256 (256 x 1568 x 64): see matmul_wasm.ts.
 *
 * Pointers are byte offsets into the tfjs-backend-wasm heap (see
 * src/backend/kernels/simd_kernels.ts).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#include "gemm.h"

#pragma STDC FP_CONTRACT OFF

__attribute__((export_name("matmul_f32")))
void matmul_f32(float *c, const float *a, const float *b, float *scratch, uint32_t rows, uint32_t inner, uint32_t cols,
                uint32_t transpose_a, uint32_t transpose_b) {
  if (transpose_b && !transpose_a && rows == 1) {
    /* a row vector times b^T: c^T [cols, 1] = b [cols, inner] a^T [inner, 1], no transposed copy of b (same sums). */
    matmul(c, plain(b, (int)inner), a, (int)cols, (int)inner, 1, 0);
    return;
  }
  const Left left = transpose_a ? transposed(a, (int)rows) : plain(a, (int)inner);
  const float *right = b;
  if (transpose_b) {
    /* b [cols, inner] -> scratch [inner, cols] */
    for (uint32_t j = 0; j < cols; j++)
      for (uint32_t p = 0; p < inner; p++) scratch[p * cols + j] = b[j * inner + p];
    right = scratch;
  }
  matmul(c, left, right, (int)rows, (int)inner, (int)cols, 0);
}

/*
 * The Gram matrix of a [rows, cols]: c = a^T a [cols, cols] (a_first = 1) or
 * c = a a^T [rows, rows] (a_first = 0; a^T is copied into scratch, rows x
 * cols floats). Only the tiles on and above the diagonal are computed, the
 * rest mirrored: the same bits as matmul_f32 (entry (j, i) sums the same
 * products, a_pi a_pj = a_pj a_pi, in the same order), in about half the
 * time.
 */
__attribute__((export_name("gram_f32")))
void gram_f32(float *c, const float *a, float *scratch, uint32_t rows, uint32_t cols, uint32_t a_first) {
  if (a_first) {
    product(c, transposed(a, (int)cols), a, (int)cols, (int)rows, (int)cols, 0, 1);
    return;
  }
  for (uint32_t i = 0; i < rows; i++)
    for (uint32_t p = 0; p < cols; p++) scratch[p * rows + i] = a[i * cols + p];
  product(c, plain(a, (int)cols), scratch, (int)rows, (int)cols, (int)rows, 0, 1);
}
