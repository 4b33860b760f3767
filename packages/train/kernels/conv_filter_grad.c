/*
 * Conv2DBackpropFilter as a wasm SIMD kernel (NHWC, dilation 1):
 *
 *     dW[i, j, c, o] = sum_{b, p, q} xpad[b, p sh + i, q sw + j, c] dy[b, p, q, o]
 *
 * This is the product P^T dy of the im2col patches P [N, K] (N = B OH OW,
 * K = kh kw Ci) and dy [N, Co], without building P: in the zero-padded
 * input, patch entry k = (i, j, c) of position (b, p, q) sits at a fixed
 * offset (i Wp + j) Ci + c from the position's corner, so a register tile of
 * MR patch entries x 4 NV output channels is one splat-load per entry and NV
 * vector loads of dy per position (8 f32x4 accumulators + 4 dy vectors +
 * 1 splat fit V8's 15 usable xmm registers; 2x4 was the fastest of
 * 2x4, 3x3, 3x4, 4x2, 4x3, 4x4, 5x2, 6x2, 8x1 on the architectures' shapes).
 *
 * Reduction order, fixed by the shapes alone (so results are reproducible):
 * each tile sums the positions of one group of `group` images in order
 * (b, p, q) from zero, then adds that sum to dW; groups go in batch order.
 * Summing per group keeps the rounding error near (positions per group +
 * groups) eps instead of B OH OW eps. Products and sums are separate
 * roundings (wasm SIMD has no fused multiply-add).
 *
 * Pointers are byte offsets into the tfjs-backend-wasm heap (see
 * src/backend/kernels/simd_kernels.ts).
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))

/* Register tile: MR patch entries x NV f32x4 vectors of output channels. */
#define MR 2
#define NV 4

typedef struct {
  int images, oh, ow, co, sh, sw, ci, hp, wp;
} Geometry;

/* dW[k0 .. k0+mr, o0 .. o0+4nv] += sum over the group's positions (mr, nv are constants after inlining). */
INLINE void tile(const float* xpad, const float* dy, float* dw, const int* offsets, int k0, int o0, const Geometry* g,
                 const int mr, const int nv) {
  v128_t acc[MR][NV];
  int offset[MR];
  for (int m = 0; m < mr; m++) {
    offset[m] = offsets[k0 + m];
    for (int v = 0; v < nv; v++) acc[m][v] = wasm_f32x4_splat(0.0f);
  }
  const int co = g->co, xStep = g->sw * g->ci, xRowStep = g->sh * g->wp * g->ci;
  for (int b = 0; b < g->images; b++) {
    const float* xImage = xpad + b * g->hp * g->wp * g->ci;
    const float* dyImage = dy + b * g->oh * g->ow * co + o0;
    for (int p = 0; p < g->oh; p++) {
      const float* xq = xImage + p * xRowStep;
      const float* dq = dyImage + p * g->ow * co;
      for (int q = 0; q < g->ow; q++, xq += xStep, dq += co) {
        v128_t d[NV];
        for (int v = 0; v < nv; v++) d[v] = wasm_v128_load(dq + 4 * v);
        for (int m = 0; m < mr; m++) {
          const v128_t a = wasm_v128_load32_splat(xq + offset[m]);
          for (int v = 0; v < nv; v++) acc[m][v] = wasm_f32x4_add(acc[m][v], wasm_f32x4_mul(a, d[v]));
        }
      }
    }
  }
  for (int m = 0; m < mr; m++) {
    float* w = dw + (k0 + m) * co + o0;
    for (int v = 0; v < nv; v++) wasm_v128_store(w + 4 * v, wasm_f32x4_add(wasm_v128_load(w + 4 * v), acc[m][v]));
  }
}

/* The output channels past the last multiple of 4, one scalar sum per (k, o), same order. */
static void scalarTail(const float* xpad, const float* dy, float* dw, const int* offsets, int k, int o0,
                       const Geometry* g) {
  const int co = g->co, xStep = g->sw * g->ci, xRowStep = g->sh * g->wp * g->ci;
  for (int kk = 0; kk < k; kk++) {
    for (int o = o0; o < co; o++) {
      float sum = 0.0f;
      for (int b = 0; b < g->images; b++) {
        const float* xImage = xpad + b * g->hp * g->wp * g->ci + offsets[kk];
        const float* dyImage = dy + b * g->oh * g->ow * co + o;
        for (int p = 0; p < g->oh; p++) {
          const float* xq = xImage + p * xRowStep;
          const float* dq = dyImage + p * g->ow * co;
          for (int q = 0; q < g->ow; q++, xq += xStep, dq += co) sum += *xq * *dq;
        }
      }
      dw[kk * co + o] += sum;
    }
  }
}

#define TILE_ANY_NV(mr)                                   \
  switch (nv) {                                           \
    case 1: tile(xpad, dy, dw, offsets, k0, o0, g, mr, 1); break; \
    case 2: tile(xpad, dy, dw, offsets, k0, o0, g, mr, 2); break; \
    case 3: tile(xpad, dy, dw, offsets, k0, o0, g, mr, 3); break; \
    default: tile(xpad, dy, dw, offsets, k0, o0, g, mr, 4); break; \
  }

/* One group of images: every tile of dW, then the scalar channel tail. */
static void accumulateGroup(const float* xpad, const float* dy, float* dw, const int* offsets, int k,
                            const Geometry* g) {
  const int vectors = g->co / 4;
  for (int k0 = 0; k0 < k; k0 += MR) {
    for (int v0 = 0; v0 < vectors; v0 += NV) {
      const int nv = vectors - v0 < NV ? vectors - v0 : NV;
      const int o0 = 4 * v0;
      if (k - k0 >= 2) {
        TILE_ANY_NV(2);
      } else {
        TILE_ANY_NV(1);
      }
    }
  }
  if (4 * vectors < g->co) scalarTail(xpad, dy, dw, offsets, k, 4 * vectors, g);
}

/*
 * Copies `images` NHWC images x [images, h, w, ci] into the interior of xpad
 * [images, hp, wp, ci] at row pt, column pl (hp >= pt + h, wp >= pl + w).
 * The border stays as the caller left it (zeros).
 */
static void padImages(const float* x, float* xpad, int images, int h, int w, int ci, int hp, int wp, int pt, int pl) {
  const int rowLength = w * ci;
  for (int b = 0; b < images; b++) {
    for (int y = 0; y < h; y++) {
      const float* src = x + (b * h + y) * rowLength;
      float* dst = xpad + ((b * hp + y + pt) * wp + pl) * ci;
      for (int e = 0; e < rowLength; e++) dst[e] = src[e];
    }
  }
}

/*
 * dw [kh kw ci, co] = the filter gradient of x [batch, h, w, ci] and
 * dy [batch, oh, ow, co], with strides (sh, sw) and x padded by pt rows on
 * top and pl columns on the left into [hp, wp] (zeros elsewhere).
 *
 * Padded (xpad != 0): `chunk` images at a time (a multiple of `group`, or
 * at least `batch`) are
 * copied into xpad, scratch for [chunk, hp, wp, ci] floats whose border the
 * caller has zeroed. Not padded (xpad == 0, hp == h, wp == w): x is read in
 * place. offsets: scratch for kh kw ci ints. dw need not be cleared.
 */
EXPORT(conv2d_filter_grad)
void conv2d_filter_grad(const float* x, const float* dy, float* dw, float* xpad, int* offsets, int batch, int chunk,
                        int group, int h, int w, int ci, int hp, int wp, int pt, int pl, int oh, int ow, int co,
                        int kh, int kw, int sh, int sw) {
  int k = 0;
  for (int i = 0; i < kh; i++)
    for (int j = 0; j < kw; j++)
      for (int c = 0; c < ci; c++) offsets[k++] = (i * wp + j) * ci + c;
  for (int e = 0; e < k * co; e++) dw[e] = 0.0f;
  for (int c0 = 0; c0 < batch; c0 += chunk) {
    const int images = batch - c0 < chunk ? batch - c0 : chunk;
    const float* source = x + c0 * h * w * ci;
    if (xpad != 0) {
      padImages(source, xpad, images, h, w, ci, hp, wp, pt, pl);
      source = xpad;
    }
    const float* dyChunk = dy + c0 * oh * ow * co;
    for (int b0 = 0; b0 < images; b0 += group) {
      const Geometry g = {images - b0 < group ? images - b0 : group, oh, ow, co, sh, sw, ci, hp, wp};
      accumulateGroup(source + b0 * hp * wp * ci, dyChunk + b0 * oh * ow * co, dw, offsets, k, &g);
    }
  }
}
