/*
 * Björck orthonormalization, value and gradient, float32 (the maths of
 * packages/train/src/normalizers/bjorck.ts; bjorck_small.ts has the Gram
 * form in float64). On a tall X [m, n] (m >= n; a wide w is handled as
 * X = w^T), a = 1 + beta, b = beta, T = niter >= 1, in one of two forms:
 *
 * Gram form (bjorck.ts uses it when m >= 2 n: its steps cost n^3, not m n^2):
 *   forward:  H_0 = X^T X, P_0 = I;  A_k = a I - b H_k,  P_{k+1} = P_k A_k,
 *             M_k = H_k A_k,  H_{k+1} = A_k M_k;  out = X P_T
 *   backward: dX = dOut P_T^T,  dP = X^T dOut,  dH = 0;  for k = T-1 .. 0:
 *             dA = P_k^T dP,  dP <- dP A_k^T,
 *             (k < T-1)  dA += dH M_k^T,  dM = A_k^T dH,  dH <- dM A_k^T,  dA += H_k^T dM
 *             (k = T-1)  dH <- 0,
 *             dH <- dH - b dA;
 *             dX += X (dH + dH^T)
 *   trace: H_0 .. H_{T-1}, P_1 .. P_T, M_0 .. M_{T-2}: (3T - 1) n^2 floats
 *   (P_1 = A_0 and P_0 = I are not multiplied out).
 *
 * Direct form (square-ish X, where the Gram form would square the condition
 * number: a random 64 x 64 loses 1e-3 of relative accuracy in float32):
 *   forward:  X_0 = X,  G_k = X_k^T X_k,  X_{k+1} = a X_k - b (X_k G_k);  out = X_T
 *   backward: D = dOut;  for k = T-1 .. 0:  D <- a D - b (D G_k^T + X_k (X_k^T D + D^T X_k));  dX = D
 *   trace: X_1 .. X_{T-1}, G_0 .. G_{T-1}: (T - 1) m n + T n^2 floats.
 *
 * The forward pass writes the trace, which the backward pass reads.
 *
 * Products: register tiles of MR rows x NV f32x4 vectors (8 accumulators,
 * as in conv_filter_grad.c), the inner dimension in chunks of KC so that
 * the chunk of the right operand stays in L1. Every element of a product
 * is summed in inner-dimension order from zero (or from the value it is
 * added to), one rounding per product and per sum (no fused multiply-add),
 * whatever the tiling: results depend on the inputs alone. A Gram matrix
 * X^T X is computed on and above the diagonal and mirrored, which gives the
 * same bits (entry (j, i) has the same products in the same order).
 *
 * Pointers are byte offsets into the tfjs-backend-wasm heap (see
 * src/backend/kernels/simd_kernels.ts).
 */
#include <wasm_simd128.h>

#include "gemm.h"

#pragma STDC FP_CONTRACT OFF

#define EXPORT(name) __attribute__((export_name(#name)))

/* g [n, n] = x^T x for x [m, n]. */
static void gram(float* g, const float* x, int m, int n) {
  const Left left = {x, 1, n};
  product(g, left, x, n, m, n, 0, 1);
}

/* dst [cols, rows] = src [rows, cols]^T. */
static void transpose(float* dst, const float* src, int rows, int cols) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j];
}

static void copy(float* dst, const float* src, int count) {
  for (int e = 0; e < count; e++) dst[e] = src[e];
}

/*
 * Sets the entries of magnitude below 2^-60 to zero. Björck drives the
 * off-diagonal entries of X_k^T X_k (H_k and M_k, or G_k) to zero
 * quadratically, so after a few steps they would reach the subnormal range,
 * where x86 multiplies ~100x slower (wasm cannot flush subnormals to zero:
 * 1568 x 64, 15 steps, 9 -> 1.4 ms forward). With every entry of these
 * matrices either 0 or >= 2^-61 in magnitude, their products stay normal
 * (>= 2^-122). The change, < 2^-60 in matrices with entries near 1
 * (spectral norm near 1: the regime Björck needs), is far below float32
 * rounding.
 */
static void flushTiny(float* a, int count) {
  const v128_t tiny = wasm_f32x4_splat(0x1p-60f);
  int e = 0;
  for (; e + 4 <= count; e += 4) {
    const v128_t v = wasm_v128_load(a + e);
    wasm_v128_store(a + e, wasm_v128_andnot(v, wasm_f32x4_lt(wasm_f32x4_abs(v), tiny)));
  }
  for (; e < count; e++)
    if (__builtin_fabsf(a[e]) < 0x1p-60f) a[e] = 0.0f;
}

/* The tall view of a [rows, cols]: X [m, n], transposed when wide. */
typedef struct {
  int wide, m, n;
} Tall;

INLINE Tall tallOf(int rows, int cols) {
  const Tall t = {rows < cols, rows < cols ? cols : rows, rows < cols ? rows : cols};
  return t;
}

/* Floats of trace that the forward pass writes. */
EXPORT(bjorck_trace_size)
int bjorck_trace_size(int rows, int cols, int niter, int direct) {
  const Tall t = tallOf(rows, cols);
  return direct ? (niter - 1) * t.m * t.n + niter * t.n * t.n : (3 * niter - 1) * t.n * t.n;
}

/* Floats of scratch of the forward pass: Gram A_k, or direct X_k G_k; plus X and out when wide. */
EXPORT(bjorck_forward_scratch)
int bjorck_forward_scratch(int rows, int cols, int direct) {
  const Tall t = tallOf(rows, cols);
  return (direct ? t.m * t.n : t.n * t.n) + (t.wide ? 2 * t.m * t.n : 0);
}

/* Floats of scratch of the backward pass: Gram 9 n^2, direct m n + 3 n^2; plus X, dOut and dX when wide. */
EXPORT(bjorck_backward_scratch)
int bjorck_backward_scratch(int rows, int cols, int direct) {
  const Tall t = tallOf(rows, cols);
  return (direct ? t.m * t.n + 3 * t.n * t.n : 9 * t.n * t.n) + (t.wide ? 3 * t.m * t.n : 0);
}

/* ------------------------------------------------------------------ Gram form */

/* a_k = a I - b h_k. */
static void stepMatrix(float* out, const float* h, int n, float a, float b) {
  for (int e = 0; e < n * n; e++) out[e] = -(b * h[e]);
  for (int i = 0; i < n; i++) out[i * n + i] = a + out[i * n + i];
}

INLINE float* traceH(float* trace, int n, int k) { return trace + k * n * n; }
INLINE float* traceP(float* trace, int n, int niter, int k) { return trace + (niter + k - 1) * n * n; }
INLINE float* traceM(float* trace, int n, int niter, int k) { return trace + (2 * niter + k) * n * n; }

/* out = X P_T of x [m, n]; scratch: n^2. */
static void gramForward(const float* x, float* out, float* trace, float* scratch, int m, int n, int niter, float a,
                        float b) {
  float* step = scratch;
  gram(traceH(trace, n, 0), x, m, n);
  flushTiny(traceH(trace, n, 0), n * n);
  for (int k = 0; k < niter; k++) {
    const float* h = traceH(trace, n, k);
    stepMatrix(step, h, n, a, b);
    if (k == 0) {
      copy(traceP(trace, n, niter, 1), step, n * n);
    } else {
      matmul(traceP(trace, n, niter, k + 1), plain(traceP(trace, n, niter, k), n), step, n, n, n, 0);
    }
    if (k < niter - 1) {
      float* mk = traceM(trace, n, niter, k);
      matmul(mk, plain(h, n), step, n, n, n, 0);
      flushTiny(mk, n * n);
      matmul(traceH(trace, n, k + 1), plain(step, n), mk, n, n, n, 0);
      flushTiny(traceH(trace, n, k + 1), n * n);
    }
  }
  matmul(out, plain(x, n), traceP(trace, n, niter, niter), m, n, n, 0);
}

/* dx of x [m, n] and dOut [m, n]; scratch: 9 n^2. */
static void gramBackward(const float* x, float* trace, const float* dOut, float* dx, float* scratch, int m, int n,
                         int niter, float a, float b) {
  const int nn = n * n;
  float* step = scratch;
  float* stepT = step + nn;
  float* temp = stepT + nn;
  float* dA = temp + nn;
  float* dM = dA + nn;
  float* dP = dM + nn;
  float* dPNext = dP + nn;
  float* dH = dPNext + nn;
  float* dHNext = dH + nn;
  transpose(temp, traceP(trace, n, niter, niter), n, n);
  matmul(dx, plain(dOut, n), temp, m, n, n, 0);
  matmul(dP, transposed(x, n), dOut, n, m, n, 0);
  for (int k = niter - 1; k >= 0; k--) {
    const float* h = traceH(trace, n, k);
    stepMatrix(step, h, n, a, b);
    transpose(stepT, step, n, n);
    if (k == 0) {
      copy(dA, dP, nn);
    } else {
      matmul(dA, transposed(traceP(trace, n, niter, k), n), dP, n, n, n, 0);
      matmul(dPNext, plain(dP, n), stepT, n, n, n, 0);
      float* swap = dP;
      dP = dPNext;
      dPNext = swap;
    }
    if (k < niter - 1) {
      transpose(temp, traceM(trace, n, niter, k), n, n);
      matmul(dA, plain(dH, n), temp, n, n, n, 1);
      matmul(dM, transposed(step, n), dH, n, n, n, 0);
      matmul(dHNext, plain(dM, n), stepT, n, n, n, 0);
      matmul(dA, transposed(h, n), dM, n, n, n, 1);
    } else {
      for (int e = 0; e < nn; e++) dHNext[e] = 0.0f;
    }
    for (int e = 0; e < nn; e++) dHNext[e] = dHNext[e] - b * dA[e];
    float* swap = dH;
    dH = dHNext;
    dHNext = swap;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) temp[i * n + j] = dH[i * n + j] + dH[j * n + i];
  matmul(dx, plain(x, n), temp, m, n, n, 1);
}

/* ---------------------------------------------------------------- direct form */

INLINE float* traceX(float* trace, int m, int n, int k) { return trace + (k - 1) * m * n; }
INLINE float* traceG(float* trace, int m, int n, int niter, int k) { return trace + (niter - 1) * m * n + k * n * n; }

/* out = X_T of x [m, n]; scratch: m n. */
static void directForward(const float* x, float* out, float* trace, float* scratch, int m, int n, int niter, float a,
                          float b) {
  float* cubic = scratch;
  const float* xk = x;
  for (int k = 0; k < niter; k++) {
    float* g = traceG(trace, m, n, niter, k);
    float* next = k < niter - 1 ? traceX(trace, m, n, k + 1) : out;
    gram(g, xk, m, n);
    flushTiny(g, n * n);
    matmul(cubic, plain(xk, n), g, m, n, n, 0);
    for (int e = 0; e < m * n; e++) next[e] = a * xk[e] - b * cubic[e];
    xk = next;
  }
}

/* dx of x [m, n] and dOut [m, n] (dx may be dOut); scratch: m n + 3 n^2. */
static void directBackward(const float* x, float* trace, const float* dOut, float* dx, float* scratch, int m, int n,
                           int niter, float a, float b) {
  const int nn = n * n;
  float* sum = scratch;
  float* gT = sum + m * n;
  float* e = gT + nn;
  float* sym = e + nn;
  float* d = dx;
  if (d != dOut) copy(d, dOut, m * n);
  for (int k = niter - 1; k >= 0; k--) {
    const float* xk = k == 0 ? x : traceX(trace, m, n, k);
    transpose(gT, traceG(trace, m, n, niter, k), n, n);
    matmul(e, transposed(xk, n), d, n, m, n, 0);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) sym[i * n + j] = e[i * n + j] + e[j * n + i];
    matmul(sum, plain(d, n), gT, m, n, n, 0);
    matmul(sum, plain(xk, n), sym, m, n, n, 1);
    for (int i = 0; i < m * n; i++) d[i] = a * d[i] - b * sum[i];
  }
}

/* --------------------------------------------------------------- entry points */

/*
 * out [rows, cols] = Björck(w [rows, cols]), niter >= 1 steps with a = 1 + beta,
 * b = beta, in the direct or the Gram form; writes the trace
 * (bjorck_trace_size floats) into `trace`, uses bjorck_forward_scratch
 * floats of `scratch`.
 */
EXPORT(bjorck_forward)
void bjorck_forward(const float* w, float* out, float* trace, float* scratch, int rows, int cols, int niter, float a,
                    float b, int direct) {
  const Tall t = tallOf(rows, cols);
  const int own = direct ? t.m * t.n : t.n * t.n;
  const float* x = w;
  float* y = out;
  if (t.wide) {
    float* xt = scratch + own;
    transpose(xt, w, rows, cols);
    x = xt;
    y = xt + t.m * t.n;
  }
  if (direct) {
    directForward(x, y, trace, scratch, t.m, t.n, niter, a, b);
  } else {
    gramForward(x, y, trace, scratch, t.m, t.n, niter, a, b);
  }
  if (t.wide) transpose(out, y, t.m, t.n);
}

/*
 * dw [rows, cols] = the gradient of Björck at w applied to dy [rows, cols],
 * from the trace that bjorck_forward wrote for the same w, niter, a, b and
 * form; uses bjorck_backward_scratch floats of `scratch`.
 */
EXPORT(bjorck_backward)
void bjorck_backward(const float* w, float* trace, const float* dy, float* dw, float* scratch, int rows, int cols,
                     int niter, float a, float b, int direct) {
  const Tall t = tallOf(rows, cols);
  const int own = direct ? t.m * t.n + 3 * t.n * t.n : 9 * t.n * t.n;
  const float* x = w;
  const float* dOut = dy;
  float* dx = dw;
  if (t.wide) {
    float* xt = scratch + own;
    float* dyt = xt + t.m * t.n;
    transpose(xt, w, rows, cols);
    transpose(dyt, dy, rows, cols);
    x = xt;
    dOut = dyt;
    dx = dyt + t.m * t.n;
  }
  if (direct) {
    directBackward(x, trace, dOut, dx, scratch, t.m, t.n, niter, a, b);
  } else {
    gramBackward(x, trace, dOut, dx, scratch, t.m, t.n, niter, a, b);
  }
  if (t.wide) transpose(dw, dx, t.m, t.n);
}
