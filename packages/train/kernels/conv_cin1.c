/*
 * Forward convolution of a one-channel image, with its bias, on NHWC
 * float32 (the first conv layer on grayscale images: LipConv2DBias, see
 * src/backend/kernels/conv2d_bias_kernel.ts):
 *
 *   y[b, oy, ox, k] = bias[k] + sum_{i < kh, j < kw} x[b, oy sh + i - pt, ox sw + j - pl] w[i, j, 0, k]
 *
 * with x = 0 outside the image. XNNPACK's convolution spends most of its
 * time on one input channel packing and indexing (seed conv 1, 256 x 28 x
 * 28 x 1 -> 16, one thread: 6.4 ms); here each output pixel takes one
 * splat of each input pixel of its window and the filter's rows of output
 * channels, 4 at a time. Sums run from the bias, taps in the order i, then
 * j, one rounding per product and per sum, padding taps included as
 * 0 * w (the order and the operations of XNNPACK's kernel: the same bits).
 *
 * Pointers are byte offsets into the tfjs-backend-wasm heap (see
 * src/backend/kernels/simd_kernels.ts).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#pragma STDC FP_CONTRACT OFF

/* Output pixel at window corner (y0, x0) with the whole 3 x 3 window inside the image: 9 splats, then 4 channels at a time. */
static inline __attribute__((always_inline)) void pixel3x3(const float *p, int32_t wd, const float *w, const float *bias,
                                                             float *out, uint32_t cout) {
  const v128_t s0 = wasm_v128_load32_splat(p), s1 = wasm_v128_load32_splat(p + 1), s2 = wasm_v128_load32_splat(p + 2);
  const v128_t s3 = wasm_v128_load32_splat(p + wd), s4 = wasm_v128_load32_splat(p + wd + 1);
  const v128_t s5 = wasm_v128_load32_splat(p + wd + 2), s6 = wasm_v128_load32_splat(p + 2 * wd);
  const v128_t s7 = wasm_v128_load32_splat(p + 2 * wd + 1), s8 = wasm_v128_load32_splat(p + 2 * wd + 2);
  for (uint32_t k = 0; k < cout; k += 4) {
    const float *t = w + k;
    v128_t acc = wasm_v128_load(bias + k);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s0, wasm_v128_load(t)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s1, wasm_v128_load(t + cout)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s2, wasm_v128_load(t + 2 * cout)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s3, wasm_v128_load(t + 3 * cout)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s4, wasm_v128_load(t + 4 * cout)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s5, wasm_v128_load(t + 5 * cout)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s6, wasm_v128_load(t + 6 * cout)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s7, wasm_v128_load(t + 7 * cout)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(s8, wasm_v128_load(t + 8 * cout)));
    wasm_v128_store(out + k, acc);
  }
}

/* Pixel (iy, ix) of a one-channel image, 0 outside it (a padding tap). */
static inline __attribute__((always_inline)) float pixelOrZero(const float *image, int32_t h, int32_t wd, int32_t iy,
                                                                 int32_t ix) {
  return iy >= 0 && iy < h && ix >= 0 && ix < wd ? image[iy * wd + ix] : 0.0f;
}

/* Any window (padding taps as x = 0): output channels 4 at a time, then one by one. */
static void pixelGeneral(const float *image, int32_t h, int32_t wd, int32_t y0, int32_t x0, uint32_t kh, uint32_t kw,
                         const float *w, const float *bias, float *out, uint32_t cout) {
  const uint32_t c4 = cout & ~3u;
  uint32_t k = 0;
  for (; k < c4; k += 4) {
    v128_t acc = wasm_v128_load(bias + k);
    const float *tap = w + k;
    for (uint32_t i = 0; i < kh; i++) {
      const int32_t iy = y0 + (int32_t)i;
      for (uint32_t j = 0; j < kw; j++, tap += cout) {
        const float v = pixelOrZero(image, h, wd, iy, x0 + (int32_t)j);
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(v), wasm_v128_load(tap)));
      }
    }
    wasm_v128_store(out + k, acc);
  }
  for (; k < cout; k++) {
    float acc = bias[k];
    const float *tap = w + k;
    for (uint32_t i = 0; i < kh; i++) {
      const int32_t iy = y0 + (int32_t)i;
      for (uint32_t j = 0; j < kw; j++, tap += cout) {
        acc += pixelOrZero(image, h, wd, iy, x0 + (int32_t)j) * *tap;
      }
    }
    out[k] = acc;
  }
}

__attribute__((export_name("conv2d_cin1_forward")))
void conv2d_cin1_forward(const float *x, const float *w, const float *bias, float *y, uint32_t batch, uint32_t height,
                         uint32_t width, uint32_t kh, uint32_t kw, uint32_t cout, uint32_t sh, uint32_t sw,
                         uint32_t pad_top, uint32_t pad_left, uint32_t oh, uint32_t ow) {
  const int32_t h = (int32_t)height, wd = (int32_t)width;
  /* The 3 x 3 path's filter rows are cout floats apart: it takes whole vectors of channels only (cout % 4 == 0). */
  const int fast = kh == 3 && kw == 3 && (cout & 3u) == 0;
  for (uint32_t b = 0; b < batch; b++) {
    const float *image = x + b * height * width;
    for (uint32_t oy = 0; oy < oh; oy++) {
      const int32_t y0 = (int32_t)(oy * sh) - (int32_t)pad_top;
      const int rowInside = y0 >= 0 && y0 + (int32_t)kh <= h;
      float *out = y + (b * oh + oy) * ow * cout;
      for (uint32_t ox = 0; ox < ow; ox++, out += cout) {
        const int32_t x0 = (int32_t)(ox * sw) - (int32_t)pad_left;
        if (fast && rowInside && x0 >= 0 && x0 + 3 <= wd) {
          pixel3x3(image + y0 * wd + x0, wd, w, bias, out, cout);
        } else {
          pixelGeneral(image, h, wd, y0, x0, kh, kw, w, bias, out, cout);
        }
      }
    }
  }
}
