/*
 * 3 x 3 convolution, stride 1, by Winograd's minimal filtering F(2 x 2, 3 x 3)
 * (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks"),
 * on NHWC float32, with an optional bias:
 *
 *   y[n, oy, ox, k] = bias[k] + sum_{i, j < 3, c} x[n, oy + i - pt, ox + j - pl, c] w[i, j, c, k]
 *
 * with x = 0 outside the image (pt, pl >= 0: 'same', 'valid' and the
 * transposed convolution of a conv gradient; without a bias, has_bias = 0). Each 2 x 2 block of outputs
 * ("tile") reads a 4 x 4 input patch d; with the 4 x 4 transformed filter
 * U = G w G^T, the tile is A^T [(B^T d B) . U] A: 16 products per input and
 * output channel pair instead of 36 (2.25x fewer), at the cost of the
 * transforms (additions, and halves for U). Per block of TILES tiles:
 *
 *   V[p][t][c] = (B^T d_t B)[p]             input transform, 4 channels at a time
 *   M[p]       = V[p] U[p]                   16 products [TILES, cin] x [cin, cout] (gemm.h)
 *   y_t        = A^T M_t A + bias            output transform, 4 channels at a time
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * Channel counts must be multiples of 4 (the caller checks). Results differ
 * from a direct convolution by a few roundings (the transforms' sums); they
 * depend on the inputs alone (fixed order: bit-reproducible).
 *
 * scratch: 16 cin cout (U) + 16 TILES cin (V) + 16 TILES cout (M) floats.
 * Pointers are byte offsets into the tfjs-backend-wasm heap (see
 * src/backend/kernels/simd_kernels.ts).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#include "gemm.h"

#pragma STDC FP_CONTRACT OFF

#define TILES 64

#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub

/* U[p][c][k] = (G g G^T)[p] for the 3 x 3 filter g = w[., ., c, k] (HWIO), 4 output channels at a time. */
static void filterTransform(const float *w, float *u, uint32_t cin, uint32_t cout) {
  const v128_t half = wasm_f32x4_splat(0.5f);
  const uint32_t plane = cin * cout;
  for (uint32_t c = 0; c < cin; c++) {
    for (uint32_t k = 0; k < cout; k += 4) {
      v128_t g[3][3];
      for (uint32_t i = 0; i < 3; i++)
        for (uint32_t j = 0; j < 3; j++) g[i][j] = wasm_v128_load(w + (i * 3 + j) * plane + c * cout + k);
      v128_t a[4][3]; /* G g */
      for (uint32_t j = 0; j < 3; j++) {
        a[0][j] = g[0][j];
        a[1][j] = wasm_f32x4_mul(ADD(ADD(g[0][j], g[1][j]), g[2][j]), half);
        a[2][j] = wasm_f32x4_mul(ADD(SUB(g[0][j], g[1][j]), g[2][j]), half);
        a[3][j] = g[2][j];
      }
      for (uint32_t r = 0; r < 4; r++) { /* (G g) G^T */
        float *row = u + (r * 4) * plane + c * cout + k;
        wasm_v128_store(row, a[r][0]);
        wasm_v128_store(row + plane, wasm_f32x4_mul(ADD(ADD(a[r][0], a[r][1]), a[r][2]), half));
        wasm_v128_store(row + 2 * plane, wasm_f32x4_mul(ADD(SUB(a[r][0], a[r][1]), a[r][2]), half));
        wasm_v128_store(row + 3 * plane, a[r][2]);
      }
    }
  }
}

/* V[p][t][c] = (B^T d B)[p] for the tiles first .. first + count (4 x 4 input patches, zero outside the image). */
static void inputTransform(const float *x, float *v, uint32_t first, uint32_t count, uint32_t th, uint32_t tw,
                           uint32_t height, uint32_t width, uint32_t cin, uint32_t pad_top, uint32_t pad_left) {
  const int32_t h = (int32_t)height, wd = (int32_t)width;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (uint32_t t = 0; t < count; t++) {
    const uint32_t tile = first + t, n = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
    const int32_t y0 = (int32_t)(2 * ty) - (int32_t)pad_top, x0 = (int32_t)(2 * tx) - (int32_t)pad_left;
    const int inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= h && x0 + 4 <= wd;
    const float *image = x + n * height * width * cin;
    for (uint32_t c = 0; c < cin; c += 4) {
      v128_t d[4][4];
      for (int32_t r = 0; r < 4; r++)
        for (int32_t q = 0; q < 4; q++) {
          const int32_t iy = y0 + r, ix = x0 + q;
          d[r][q] = inside || (iy >= 0 && iy < h && ix >= 0 && ix < wd) ? wasm_v128_load(image + (iy * wd + ix) * (int32_t)cin + c)
                                                                        : zero;
        }
      v128_t e[4][4]; /* B^T d */
      for (uint32_t q = 0; q < 4; q++) {
        e[0][q] = SUB(d[0][q], d[2][q]);
        e[1][q] = ADD(d[1][q], d[2][q]);
        e[2][q] = SUB(d[2][q], d[1][q]);
        e[3][q] = SUB(d[1][q], d[3][q]);
      }
      for (uint32_t r = 0; r < 4; r++) { /* (B^T d) B */
        float *at = v + (r * 4) * TILES * cin + t * cin + c;
        wasm_v128_store(at, SUB(e[r][0], e[r][2]));
        wasm_v128_store(at + TILES * cin, ADD(e[r][1], e[r][2]));
        wasm_v128_store(at + 2 * TILES * cin, SUB(e[r][2], e[r][1]));
        wasm_v128_store(at + 3 * TILES * cin, SUB(e[r][1], e[r][3]));
      }
    }
  }
}

__attribute__((export_name("conv3x3_winograd")))
void conv3x3_winograd(const float *x, const float *w, const float *bias, uint32_t has_bias, float *y, float *scratch, uint32_t batch,
                      uint32_t height, uint32_t width, uint32_t cin, uint32_t cout, uint32_t pad_top, uint32_t pad_left,
                      uint32_t oh, uint32_t ow) {
  float *u = scratch;
  float *v = u + 16 * cin * cout;
  float *m = v + 16 * TILES * cin;
  filterTransform(w, u, cin, cout);
  const uint32_t th = (oh + 1) / 2, tw = (ow + 1) / 2, total = batch * th * tw;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (uint32_t first = 0; first < total; first += TILES) {
    const uint32_t count = total - first < TILES ? total - first : TILES;
    inputTransform(x, v, first, count, th, tw, height, width, cin, pad_top, pad_left);
    /* 16 products */
    for (uint32_t p = 0; p < 16; p++)
      matmul(m + p * TILES * cout, plain(v + p * TILES * cin, (int)cin), u + p * cin * cout, (int)count, (int)cin, (int)cout, 0);
    /* output transform */
    for (uint32_t t = 0; t < count; t++) {
      const uint32_t tile = first + t, n = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
      const uint32_t oy = 2 * ty, ox = 2 * tx;
      float *out = y + ((n * oh + oy) * ow + ox) * cout;
      const int right = ox + 1 < ow, below = oy + 1 < oh;
      for (uint32_t k = 0; k < cout; k += 4) {
        v128_t s[2][4]; /* A^T M */
        for (uint32_t q = 0; q < 4; q++) {
          const v128_t m0 = wasm_v128_load(m + (0 * 4 + q) * TILES * cout + t * cout + k);
          const v128_t m1 = wasm_v128_load(m + (1 * 4 + q) * TILES * cout + t * cout + k);
          const v128_t m2 = wasm_v128_load(m + (2 * 4 + q) * TILES * cout + t * cout + k);
          const v128_t m3 = wasm_v128_load(m + (3 * 4 + q) * TILES * cout + t * cout + k);
          s[0][q] = ADD(ADD(m0, m1), m2);
          s[1][q] = SUB(SUB(m1, m2), m3);
        }
        const v128_t b = has_bias ? wasm_v128_load(bias + k) : zero;
        for (uint32_t r = 0; r < 2; r++) { /* (A^T M) A + bias */
          if (r == 1 && !below) break;
          float *row = out + r * ow * cout + k;
          wasm_v128_store(row, ADD(ADD(ADD(s[r][0], s[r][1]), s[r][2]), b));
          if (right) wasm_v128_store(row + cout, ADD(SUB(SUB(s[r][1], s[r][2]), s[r][3]), b));
        }
      }
    }
  }
}

/*
 * The filter gradient of conv3x3_winograd's convolution (no bias), by the
 * same transforms: with dM_t = A dY_t A^T (the 2 x 2 output gradient of
 * tile t, zero past the output's edge),
 *
 *   dU[p] = sum_t V[p][t]^T dM[p][t]   (16 products [cin, TILES] x [TILES, cout], accumulated over the blocks)
 *   dw    = G^T dU G                   per (c, k)
 *
 * dw [3, 3, cin, cout] (HWIO). scratch: as conv3x3_winograd's (dU in place of U).
 */
__attribute__((export_name("conv3x3_winograd_filter_grad")))
void conv3x3_winograd_filter_grad(const float *x, const float *dy, float *dw, float *scratch, uint32_t batch,
                                  uint32_t height, uint32_t width, uint32_t cin, uint32_t cout, uint32_t pad_top,
                                  uint32_t pad_left, uint32_t oh, uint32_t ow) {
  float *du = scratch;
  float *v = du + 16 * cin * cout;
  float *dm = v + 16 * TILES * cin;
  const uint32_t th = (oh + 1) / 2, tw = (ow + 1) / 2, total = batch * th * tw;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (uint32_t first = 0; first < total; first += TILES) {
    const uint32_t count = total - first < TILES ? total - first : TILES;
    inputTransform(x, v, first, count, th, tw, height, width, cin, pad_top, pad_left);
    /* output-gradient transform: dM = A dY A^T, A = [1 0; 1 1; 1 -1; 0 -1] */
    for (uint32_t t = 0; t < count; t++) {
      const uint32_t tile = first + t, n = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
      const uint32_t oy = 2 * ty, ox = 2 * tx;
      const float *g = dy + ((n * oh + oy) * ow + ox) * cout;
      const int right = ox + 1 < ow, below = oy + 1 < oh;
      for (uint32_t k = 0; k < cout; k += 4) {
        const v128_t g00 = wasm_v128_load(g + k);
        const v128_t g01 = right ? wasm_v128_load(g + cout + k) : zero;
        const v128_t g10 = below ? wasm_v128_load(g + ow * cout + k) : zero;
        const v128_t g11 = right && below ? wasm_v128_load(g + (ow + 1) * cout + k) : zero;
        v128_t r[4][2]; /* A dY */
        r[0][0] = g00;
        r[0][1] = g01;
        r[1][0] = ADD(g00, g10);
        r[1][1] = ADD(g01, g11);
        r[2][0] = SUB(g00, g10);
        r[2][1] = SUB(g01, g11);
        r[3][0] = wasm_f32x4_neg(g10);
        r[3][1] = wasm_f32x4_neg(g11);
        for (uint32_t q = 0; q < 4; q++) { /* (A dY) A^T */
          float *at = dm + (q * 4) * TILES * cout + t * cout + k;
          wasm_v128_store(at, r[q][0]);
          wasm_v128_store(at + TILES * cout, ADD(r[q][0], r[q][1]));
          wasm_v128_store(at + 2 * TILES * cout, SUB(r[q][0], r[q][1]));
          wasm_v128_store(at + 3 * TILES * cout, wasm_f32x4_neg(r[q][1]));
        }
      }
    }
    for (uint32_t p = 0; p < 16; p++)
      matmul(du + p * cin * cout, transposed(v + p * TILES * cin, (int)cin), dm + p * TILES * cout, (int)cin, (int)count,
             (int)cout, first > 0);
  }
  /* dw = G^T dU G, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1] */
  const v128_t half = wasm_f32x4_splat(0.5f);
  const uint32_t plane = cin * cout;
  for (uint32_t c = 0; c < cin; c++) {
    for (uint32_t k = 0; k < cout; k += 4) {
      v128_t u[4][4];
      for (uint32_t r = 0; r < 4; r++)
        for (uint32_t q = 0; q < 4; q++) u[r][q] = wasm_v128_load(du + (r * 4 + q) * plane + c * cout + k);
      v128_t a[3][4]; /* G^T dU */
      for (uint32_t q = 0; q < 4; q++) {
        a[0][q] = ADD(u[0][q], wasm_f32x4_mul(ADD(u[1][q], u[2][q]), half));
        a[1][q] = wasm_f32x4_mul(SUB(u[1][q], u[2][q]), half);
        a[2][q] = ADD(wasm_f32x4_mul(ADD(u[1][q], u[2][q]), half), u[3][q]);
      }
      for (uint32_t i = 0; i < 3; i++) { /* (G^T dU) G */
        float *row = dw + (i * 3) * plane + c * cout + k;
        wasm_v128_store(row, ADD(a[i][0], wasm_f32x4_mul(ADD(a[i][1], a[i][2]), half)));
        wasm_v128_store(row + plane, wasm_f32x4_mul(SUB(a[i][1], a[i][2]), half));
        wasm_v128_store(row + 2 * plane, ADD(wasm_f32x4_mul(ADD(a[i][1], a[i][2]), half), a[i][3]));
      }
    }
  }
}
