/*
 * Scaled L2-norm pooling on NHWC float32 (packages/train/src/functional/pooling.ts
 * scaledL2NormPool2d): 'valid' windows of ph x pw pixels every sh x sw
 * pixels (sh >= ph, sw >= pw: no overlap), output oh x ow:
 *
 *   y[b, oy, ox, c] = sqrt(sum_{i < ph, j < pw} x[b, oy sh + i, ox sw + j, c]^2)
 *
 * summed in the order i, then j. Gradient, with the composed form's rule
 * for zero windows (dy / (norm + 1 - sign(norm))):
 *
 *   dx = x * (dy[window] / (y[window] == 0 ? 1 : y[window]))   on window pixels,
 *   dx = x * 0                                               on pixels in no window.
 *
 * Channels go 4 at a time (the tail one by one); one division per window
 * and channel. 2 x 2 windows every 2 pixels (every pooling layer of the
 * architectures) take a path of their own that reads the four pixels of a
 * window through two row pointers, with the same operations in the same
 * order (same bits): the general loops spend most of their time on index
 * arithmetic (seed network, 256 x 28 x 28 x 16, one thread: forward 3.6 ms
 * and gradient 4.7 ms before).
 */
#include <stdint.h>
#include <wasm_simd128.h>

typedef struct {
  uint32_t batch, height, width, channels;
  uint32_t ph, pw, sh, sw, oh, ow;
} Geometry;

static inline uint32_t pixel(const Geometry *g, uint32_t b, uint32_t row, uint32_t col) {
  return ((b * g->height + row) * g->width + col) * g->channels;
}

static inline uint32_t window(const Geometry *g, uint32_t b, uint32_t oy, uint32_t ox) {
  return ((b * g->oh + oy) * g->ow + ox) * g->channels;
}

/* 2 x 2 windows every 2 pixels: l2pool_forward's sums, in its order (0, then (0,0), (0,1), (1,0), (1,1)). */
static void forward_2x2(const Geometry *g, const float *x, float *y) {
  const uint32_t c4 = g->channels & ~3u;
  const uint32_t row = g->width * g->channels;
  const uint32_t step = 2 * g->channels;
  for (uint32_t b = 0; b < g->batch; b++) {
    for (uint32_t oy = 0; oy < g->oh; oy++) {
      const float *p0 = x + pixel(g, b, 2 * oy, 0);
      const float *p1 = p0 + row;
      float *out = y + window(g, b, oy, 0);
      for (uint32_t ox = 0; ox < g->ow; ox++, p0 += step, p1 += step, out += g->channels) {
        const float *q0 = p0 + g->channels;
        const float *q1 = p1 + g->channels;
        uint32_t c = 0;
        for (; c < c4; c += 4) {
          v128_t a = wasm_v128_load(p0 + c), bb = wasm_v128_load(q0 + c);
          v128_t cc = wasm_v128_load(p1 + c), d = wasm_v128_load(q1 + c);
          v128_t sum = wasm_f32x4_add(wasm_f32x4_splat(0.0f), wasm_f32x4_mul(a, a));
          sum = wasm_f32x4_add(sum, wasm_f32x4_mul(bb, bb));
          sum = wasm_f32x4_add(sum, wasm_f32x4_mul(cc, cc));
          sum = wasm_f32x4_add(sum, wasm_f32x4_mul(d, d));
          wasm_v128_store(out + c, wasm_f32x4_sqrt(sum));
        }
        for (; c < g->channels; c++) {
          float sum = 0.0f;
          sum += p0[c] * p0[c];
          sum += q0[c] * q0[c];
          sum += p1[c] * p1[c];
          sum += q1[c] * q1[c];
          out[c] = __builtin_sqrtf(sum);
        }
      }
    }
  }
}

/* 2 x 2 windows every 2 pixels: l2pool_backward's products on window pixels. */
static void backward_2x2(const Geometry *g, const float *x, const float *y, const float *dy, float *dx) {
  const uint32_t c4 = g->channels & ~3u;
  const uint32_t row = g->width * g->channels;
  const uint32_t step = 2 * g->channels;
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (uint32_t b = 0; b < g->batch; b++) {
    for (uint32_t oy = 0; oy < g->oh; oy++) {
      const uint32_t at0 = pixel(g, b, 2 * oy, 0);
      const float *x0 = x + at0, *x1 = x0 + row;
      float *d0 = dx + at0, *d1 = d0 + row;
      const uint32_t w0 = window(g, b, oy, 0);
      const float *norms = y + w0, *grads = dy + w0;
      for (uint32_t ox = 0; ox < g->ow; ox++) {
        const uint32_t o = ox * step, n = ox * g->channels;
        uint32_t c = 0;
        for (; c < c4; c += 4) {
          v128_t norm = wasm_v128_load(norms + n + c);
          v128_t denominator = wasm_v128_bitselect(one, norm, wasm_f32x4_eq(norm, zero));
          v128_t per_window = wasm_f32x4_div(wasm_v128_load(grads + n + c), denominator);
          uint32_t p = o + c, q = o + g->channels + c;
          wasm_v128_store(d0 + p, wasm_f32x4_mul(wasm_v128_load(x0 + p), per_window));
          wasm_v128_store(d0 + q, wasm_f32x4_mul(wasm_v128_load(x0 + q), per_window));
          wasm_v128_store(d1 + p, wasm_f32x4_mul(wasm_v128_load(x1 + p), per_window));
          wasm_v128_store(d1 + q, wasm_f32x4_mul(wasm_v128_load(x1 + q), per_window));
        }
        for (; c < g->channels; c++) {
          float norm = norms[n + c];
          float per_window = grads[n + c] / (norm == 0.0f ? 1.0f : norm);
          uint32_t p = o + c, q = o + g->channels + c;
          d0[p] = x0[p] * per_window;
          d0[q] = x0[q] * per_window;
          d1[p] = x1[p] * per_window;
          d1[q] = x1[q] * per_window;
        }
      }
    }
  }
}

__attribute__((export_name("l2pool_forward")))
void l2pool_forward(const float *x, float *y, uint32_t batch, uint32_t height, uint32_t width, uint32_t channels,
                    uint32_t ph, uint32_t pw, uint32_t sh, uint32_t sw, uint32_t oh, uint32_t ow) {
  const Geometry g = {batch, height, width, channels, ph, pw, sh, sw, oh, ow};
  if (ph == 2 && pw == 2 && sh == 2 && sw == 2) {
    forward_2x2(&g, x, y);
    return;
  }
  for (uint32_t b = 0; b < batch; b++) {
    for (uint32_t oy = 0; oy < oh; oy++) {
      for (uint32_t ox = 0; ox < ow; ox++) {
        const float *corner = x + pixel(&g, b, oy * sh, ox * sw);
        float *out = y + window(&g, b, oy, ox);
        uint32_t c = 0;
        for (; c + 4 <= channels; c += 4) {
          v128_t sum = wasm_f32x4_splat(0.0f);
          for (uint32_t i = 0; i < ph; i++) {
            for (uint32_t j = 0; j < pw; j++) {
              v128_t v = wasm_v128_load(corner + (i * width + j) * channels + c);
              sum = wasm_f32x4_add(sum, wasm_f32x4_mul(v, v));
            }
          }
          wasm_v128_store(out + c, wasm_f32x4_sqrt(sum));
        }
        for (; c < channels; c++) {
          float sum = 0.0f;
          for (uint32_t i = 0; i < ph; i++) {
            for (uint32_t j = 0; j < pw; j++) {
              float v = corner[(i * width + j) * channels + c];
              sum += v * v;
            }
          }
          out[c] = __builtin_sqrtf(sum);
        }
      }
    }
  }
}

/* dx = x * 0 on the pixels of no window (only when the windows do not tile x). */
static void zero_times_uncovered(const Geometry *g, const float *x, float *dx) {
  for (uint32_t b = 0; b < g->batch; b++) {
    for (uint32_t row = 0; row < g->height; row++) {
      int row_covered = row / g->sh < g->oh && row % g->sh < g->ph;
      for (uint32_t col = 0; col < g->width; col++) {
        if (row_covered && col / g->sw < g->ow && col % g->sw < g->pw) continue;
        uint32_t at = pixel(g, b, row, col);
        for (uint32_t c = 0; c < g->channels; c++) dx[at + c] = x[at + c] * 0.0f;
      }
    }
  }
}

__attribute__((export_name("l2pool_backward")))
void l2pool_backward(const float *x, const float *y, const float *dy, float *dx, uint32_t batch, uint32_t height,
                     uint32_t width, uint32_t channels, uint32_t ph, uint32_t pw, uint32_t sh, uint32_t sw, uint32_t oh,
                     uint32_t ow) {
  const Geometry g = {batch, height, width, channels, ph, pw, sh, sw, oh, ow};
  if (!(sh == ph && sw == pw && oh * ph == height && ow * pw == width)) zero_times_uncovered(&g, x, dx);
  if (ph == 2 && pw == 2 && sh == 2 && sw == 2) {
    backward_2x2(&g, x, y, dy, dx);
    return;
  }
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (uint32_t b = 0; b < batch; b++) {
    for (uint32_t oy = 0; oy < oh; oy++) {
      for (uint32_t ox = 0; ox < ow; ox++) {
        uint32_t at = pixel(&g, b, oy * sh, ox * sw);
        uint32_t w = window(&g, b, oy, ox);
        uint32_t c = 0;
        for (; c + 4 <= channels; c += 4) {
          v128_t norm = wasm_v128_load(y + w + c);
          v128_t denominator = wasm_v128_bitselect(one, norm, wasm_f32x4_eq(norm, zero));
          v128_t per_window = wasm_f32x4_div(wasm_v128_load(dy + w + c), denominator);
          for (uint32_t i = 0; i < ph; i++) {
            for (uint32_t j = 0; j < pw; j++) {
              uint32_t p = at + (i * width + j) * channels + c;
              wasm_v128_store(dx + p, wasm_f32x4_mul(wasm_v128_load(x + p), per_window));
            }
          }
        }
        for (; c < channels; c++) {
          float norm = y[w + c];
          float per_window = dy[w + c] / (norm == 0.0f ? 1.0f : norm);
          for (uint32_t i = 0; i < ph; i++) {
            for (uint32_t j = 0; j < pw; j++) {
              uint32_t p = at + (i * width + j) * channels + c;
              dx[p] = x[p] * per_window;
            }
          }
        }
      }
    }
  }
}
