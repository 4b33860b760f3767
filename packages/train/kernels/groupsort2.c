/*
 * GroupSort2 on channel pairs (x[2i], x[2i+1]) = (a, b) of a contiguous
 * float32 array, forward and gradient, with the tie and NaN rules of the
 * composed form x + relu(x P) Q (packages/train/src/functional/group_sort.ts):
 *
 *   swap = a > b                       (ties, -0 vs +0: no swap)
 *   y    = swap ? (b, a) : (a, b)
 *   dx   = swap ? (dy1, dy0) : (dy0, dy1)
 *   a pair holding a NaN gives (NaN, NaN) in y and dx.
 *
 * One vector holds two pairs (a0 b0 a1 b1); `swapped` is (b0 a0 b1 a1).
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define SWAP_PAIRS(v) wasm_i32x4_shuffle((v), (v), 1, 0, 3, 2)

/* All ones in both lanes of a pair when its first element is larger. */
static inline v128_t swap_mask(v128_t v, v128_t swapped) {
  v128_t first_larger = wasm_f32x4_gt(v, swapped);
  return wasm_i32x4_shuffle(first_larger, first_larger, 0, 0, 2, 2);
}

/* All ones (a NaN) in both lanes of a pair holding a NaN. */
static inline v128_t nan_mask(v128_t v) {
  v128_t nan = wasm_f32x4_ne(v, v);
  return wasm_v128_or(nan, SWAP_PAIRS(nan));
}

static inline float nan_or(float a, float b, float value) {
  return (a != a || b != b) ? __builtin_nanf("") : value;
}

/* y = GroupSort2(x) over `pairs` pairs. */
__attribute__((export_name("groupsort2_forward")))
void groupsort2_forward(const float *x, float *y, uint32_t pairs) {
  uint32_t i = 0;
  for (; i + 2 <= pairs; i += 2) {
    v128_t v = wasm_v128_load(x + 2 * i);
    v128_t swapped = SWAP_PAIRS(v);
    v128_t sorted = wasm_v128_bitselect(swapped, v, swap_mask(v, swapped));
    wasm_v128_store(y + 2 * i, wasm_v128_or(sorted, nan_mask(v)));
  }
  for (; i < pairs; i++) {
    float a = x[2 * i], b = x[2 * i + 1];
    int swap = a > b;
    y[2 * i] = nan_or(a, b, swap ? b : a);
    y[2 * i + 1] = nan_or(a, b, swap ? a : b);
  }
}

/* dx = the gradient of GroupSort2 at x applied to dy (dy routed by the comparison of x). */
__attribute__((export_name("groupsort2_backward")))
void groupsort2_backward(const float *x, const float *dy, float *dx, uint32_t pairs) {
  uint32_t i = 0;
  for (; i + 2 <= pairs; i += 2) {
    v128_t v = wasm_v128_load(x + 2 * i);
    v128_t g = wasm_v128_load(dy + 2 * i);
    v128_t routed = wasm_v128_bitselect(SWAP_PAIRS(g), g, swap_mask(v, SWAP_PAIRS(v)));
    wasm_v128_store(dx + 2 * i, wasm_v128_or(routed, nan_mask(v)));
  }
  for (; i < pairs; i++) {
    float a = x[2 * i], b = x[2 * i + 1];
    float g0 = dy[2 * i], g1 = dy[2 * i + 1];
    int swap = a > b;
    dx[2 * i] = nan_or(a, b, swap ? g1 : g0);
    dx[2 * i + 1] = nan_or(a, b, swap ? g0 : g1);
  }
}
