/*
 * The register-tiled float32 matrix product of lip's wasm SIMD kernels
 * (bjorck.c, matmul.c), included by each: every function is static.
 *
 * Every element of a product is summed in inner-dimension order from zero
 * (or from the value it is added to), one rounding per product and per sum
 * (no fused multiply-add), whatever the tiling: results depend on the
 * inputs alone.
 */
#ifndef LIP_GEMM_H
#define LIP_GEMM_H

#include <wasm_simd128.h>

#pragma STDC FP_CONTRACT OFF

#define INLINE static inline __attribute__((always_inline))

/*
 * Register tile: MR rows x NV f32x4 vectors of columns; KC rows of the right
 * operand per pass over the tiles. Value + gradient of 1568 x 64, 15 steps:
 * 2x4 3.7 ms, 4x2 3.8, 3x3 3.9, 4x3 4.3, 1x8 4.8; KC 32 / 64 / 128 about
 * the same (64 x 64 floats is 16 KiB, within L1).
 */
#define MR 2
#define NV 4
#define KC 64

/* A left operand, element (i, p) at a[i * si + p * sp]: si = k, sp = 1 reads A; si = 1, sp = r reads A^T of A [k, r]. */
typedef struct {
  const float* a;
  int si, sp;
} Left;

/* c[i0 .. i0+mr, j0 .. j0+4nv] (+)= sum_{p0 <= p < p1} left(i, p) b[p, j] (mr, nv are constants after inlining). */
INLINE void tile(float* c, int ldc, Left left, const float* b, int ldb, int i0, int j0, int p0, int p1, int add,
                 const int mr, const int nv) {
  v128_t acc[MR][NV];
  const float* row[MR];
  for (int m = 0; m < mr; m++) {
    row[m] = left.a + (i0 + m) * left.si;
    for (int v = 0; v < nv; v++) acc[m][v] = add ? wasm_v128_load(c + (i0 + m) * ldc + j0 + 4 * v) : wasm_f32x4_splat(0.0f);
  }
  for (int p = p0; p < p1; p++) {
    v128_t bv[NV];
    for (int v = 0; v < nv; v++) bv[v] = wasm_v128_load(b + p * ldb + j0 + 4 * v);
    for (int m = 0; m < mr; m++) {
      const v128_t s = wasm_v128_load32_splat(row[m] + p * left.sp);
      for (int v = 0; v < nv; v++) acc[m][v] = wasm_f32x4_add(acc[m][v], wasm_f32x4_mul(s, bv[v]));
    }
  }
  for (int m = 0; m < mr; m++) {
    for (int v = 0; v < nv; v++) wasm_v128_store(c + (i0 + m) * ldc + j0 + 4 * v, acc[m][v]);
  }
}

/* One column of the rows i0 .. i0+mr past the last multiple of 4, same order as a tile. */
__attribute__((unused)) static void scalarColumn(float* c, int ldc, Left left, const float* b, int ldb, int i0, int j, int p0, int p1, int add,
                         int mr) {
  for (int m = 0; m < mr; m++) {
    const float* row = left.a + (i0 + m) * left.si;
    float sum = add ? c[(i0 + m) * ldc + j] : 0.0f;
    for (int p = p0; p < p1; p++) sum += row[p * left.sp] * b[p * ldb + j];
    c[(i0 + m) * ldc + j] = sum;
  }
}

/*
 * The rows i0 .. i0+mr of c from column vector v0 on, inner indices p0 .. p1:
 * full tiles, the last vectors, then the scalar columns.
 */
INLINE void rowBlock(float* c, Left left, const float* b, int cols, int i0, int v0, int p0, int p1, int add,
                     const int mr) {
  const int vectors = cols / 4;
  for (; v0 + NV <= vectors; v0 += NV) tile(c, cols, left, b, cols, i0, 4 * v0, p0, p1, add, mr, NV);
  switch (vectors - v0) {
    case 1: tile(c, cols, left, b, cols, i0, 4 * v0, p0, p1, add, mr, 1); break;
    case 2: tile(c, cols, left, b, cols, i0, 4 * v0, p0, p1, add, mr, 2); break;
    case 3: tile(c, cols, left, b, cols, i0, 4 * v0, p0, p1, add, mr, 3); break;
    default: break;
  }
  for (int j = 4 * vectors; j < cols; j++) scalarColumn(c, cols, left, b, cols, i0, j, p0, p1, add, mr);
}

/*
 * c [rows, cols] = left [rows, inner] b [inner, cols], or c += that when
 * `accumulate` (row-major, c distinct from both operands). With `upper`
 * (a Gram matrix: rows = cols), only the tiles that reach the diagonal or
 * above, then the strict lower triangle copied from the upper one.
 */
__attribute__((unused)) static void product(float* c, Left left, const float* b, int rows, int inner, int cols, int accumulate, int upper) {
  if (inner == 0) {
    if (!accumulate)
      for (int e = 0; e < rows * cols; e++) c[e] = 0.0f;
    return;
  }
  for (int p0 = 0; p0 < inner; p0 += KC) {
    const int p1 = inner - p0 < KC ? inner : p0 + KC;
    const int add = accumulate || p0 > 0;
    int i0 = 0;
    /* The tile holding column i0 starts at vector (i0 / (4 NV)) NV, so its rows' diagonal entries are computed. */
    for (; i0 + MR <= rows; i0 += MR) rowBlock(c, left, b, cols, i0, upper ? i0 / (4 * NV) * NV : 0, p0, p1, add, MR);
    for (; i0 < rows; i0++) rowBlock(c, left, b, cols, i0, upper ? i0 / (4 * NV) * NV : 0, p0, p1, add, 1);
  }
  if (upper)
    for (int i = 1; i < rows; i++)
      for (int j = 0; j < i; j++) c[i * cols + j] = c[j * cols + i];
}

__attribute__((unused)) static void matmul(float* c, Left left, const float* b, int rows, int inner, int cols, int accumulate) {
  product(c, left, b, rows, inner, cols, accumulate, 0);
}

INLINE Left plain(const float* a, int inner) {
  const Left left = {a, inner, 1};
  return left;
}

/* The left operand a^T of a [inner, rows]. */
INLINE Left transposed(const float* a, int rows) {
  const Left left = {a, 1, rows};
  return left;
}

#endif
