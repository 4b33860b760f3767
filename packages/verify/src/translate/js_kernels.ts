/**
 * Kernels of the translation written as plain loops, registered for the
 * wasm and cpu backends: GroupSort2 on channel pairs and L2 pooling on windows
 * that tile the input, with their gradients, and the gather of fused layout
 * chains (tfjs-backend-wasm's GatherV2 checks every index in JavaScript with
 * a closure per index, then runs a generic strided loop).
 *
 * Composed of tfjs ops, each costs 4 to 6 kernels forward and as many backward
 * (matrix products for GroupSort2, a 6-D broadcast multiply for the pooling
 * gradient), each a full pass over the largest activations of the network
 * plus the engine's per-op overhead, which dominates the attacks' small
 * batches. One loop per direction reads each value once. Other backends
 * (tensorflow, webgl) keep the composed ops (`hasJsKernels()` is false there).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CustomGradientFunc } from '@tensorflow/tfjs-core/dist/engine';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

// Not @lip/train's kernel names (LipGroupSort2): its wasm SIMD kernels are registered by installWasmKernels.
const GROUPSORT2 = 'LipVerifyGroupSort2';
const GROUPSORT2_GRAD = 'LipVerifyGroupSort2Grad';
const L2POOL = 'LipTiledL2Pool';
const GATHER_ROWS = 'LipVerifyGatherRows';
const L2POOL_GRAD = 'LipTiledL2PoolGrad';
const BACKENDS = ['wasm', 'cpu'] as const;

interface Loop {
  name: string;
  outShape(inputs: readonly TensorInfo[], attrs: NamedAttrMap): number[];
  /** Float32 inputs, except those `register` names as int32 (passed as Int32Array). */
  compute(ins: readonly Float32Array[], out: Float32Array, inputs: readonly TensorInfo[], attrs: NamedAttrMap): void;
}

interface WasmLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

interface CpuLike {
  data: { get(dataId: object): { values?: unknown } };
  readSync(dataId: object): unknown;
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

function register(loop: Loop, inputNames: readonly string[], int32Inputs: readonly string[] = []): void {
  for (const backendName of BACKENDS) {
    if (tf.getKernel(loop.name, backendName)) continue;
    tf.registerKernel({
      kernelName: loop.name,
      backendName,
      kernelFunc: ({ inputs, attrs: maybeAttrs, backend }) => {
        const attrs = maybeAttrs ?? {};
        const ins = inputNames.map((n) => inputs[n] as TensorInfo);
        if (ins.some((t, i) => t.dtype !== (int32Inputs.includes(inputNames[i]) ? 'int32' : 'float32'))) {
          throw new Error(`${loop.name} takes float32 tensors${int32Inputs.length ? ` (int32: ${int32Inputs.join(', ')})` : ''}`);
        }
        const shape = loop.outShape(ins, attrs);
        if (backendName === 'wasm') {
          const b = backend as unknown as WasmLike;
          const out = b.makeOutput(shape, 'float32');
          // Heap views after the allocation (a growing heap invalidates older views).
          loop.compute(
            ins.map((t) => b.typedArrayFromHeap(t)),
            b.typedArrayFromHeap(out),
            ins,
            attrs,
          );
          return out;
        }
        const b = backend as unknown as CpuLike;
        const values = ins.map((t) => (b.data.get(t.dataId).values ?? b.readSync(t.dataId)) as Float32Array);
        const out = new Float32Array(shape.reduce((p, d) => p * d, 1));
        loop.compute(values, out, ins, attrs);
        return b.makeTensorInfo(shape, 'float32', out);
      },
    });
  }
}

/**
 * GroupSort2 on the last axis: `y[2i] = min(x[2i], x[2i+1])`, `y[2i+1] = max(...)`
 * (exactly ONNX Min/Max). Gradient: each output's cotangent goes to the input it
 * came from; on a tie the first input gets the min's (as the composed form).
 */
register(
  {
    name: GROUPSORT2,
    outShape: ([x]) => [...x.shape],
    compute: ([x], y) => {
      // Branch-free select (s is 0 or 1, so each sum adds an exact 0): the
      // comparisons are random after a convolution and mispredicted branches
      // would cost twice the loop.
      const n = x.length;
      for (let p = 0; p < n; p += 2) {
        const a = x[p];
        const b = x[p + 1];
        const s = +(a > b);
        y[p] = s * b + (1 - s) * a;
        y[p + 1] = s * a + (1 - s) * b;
      }
    },
  },
  ['x'],
);

register(
  {
    name: GROUPSORT2_GRAD,
    outShape: ([x]) => [...x.shape],
    compute: ([x, dy], dx) => {
      const n = x.length;
      for (let p = 0; p < n; p += 2) {
        const s = +(x[p] > x[p + 1]);
        dx[p] = s * dy[p + 1] + (1 - s) * dy[p];
        dx[p + 1] = s * dy[p] + (1 - s) * dy[p + 1];
      }
    },
  },
  ['x', 'dy'],
);

/** Sum of squares of the kh x kw window whose first value is `x[p]` (row stride `rs`, column stride `c`), in float64. */
function windowSumSq(x: Float32Array, p: number, kh: number, kw: number, rs: number, c: number): number {
  let s = 0;
  for (let di = 0; di < kh; di++) {
    for (let dj = 0; dj < kw; dj++) {
      const v = x[p + di * rs + dj * c];
      s += v * v;
    }
  }
  return s;
}

/** `y = sqrt(sum over each kh x kw window of x^2)` (sum in float64), NHWC, windows tiling the input. */
register(
  {
    name: L2POOL,
    outShape: ([x], attrs) => {
      const [kh, kw] = attrs.kernel as number[];
      return [x.shape[0], x.shape[1] / kh, x.shape[2] / kw, x.shape[3]];
    },
    compute: ([x], y, [xi], attrs) => {
      const [kh, kw] = attrs.kernel as number[];
      const [n, h, w, c] = xi.shape;
      const rs = w * c;
      let q = 0;
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < h; i += kh) {
          for (let j = 0; j < w; j += kw) {
            const corner = ((b * h + i) * w + j) * c;
            if (kh === 2 && kw === 2) {
              for (let p = corner; p < corner + c; p++) {
                const v0 = x[p];
                const v1 = x[p + c];
                const v2 = x[p + rs];
                const v3 = x[p + rs + c];
                y[q++] = Math.sqrt(v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3);
              }
            } else {
              for (let ch = 0; ch < c; ch++) y[q++] = Math.sqrt(windowSumSq(x, corner + ch, kh, kw, rs, c));
            }
          }
        }
      }
    },
  },
  ['x'],
);

/** `dx = x * dy / y` over each window, with the forward output y (0 where the window is all zeros). */
register(
  {
    name: L2POOL_GRAD,
    outShape: ([x]) => [...x.shape],
    compute: ([x, y, dy], dx, [xi], attrs) => {
      const [kh, kw] = attrs.kernel as number[];
      const [n, h, w, c] = xi.shape;
      const rs = w * c;
      let q = 0;
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < h; i += kh) {
          for (let j = 0; j < w; j += kw) {
            const corner = ((b * h + i) * w + j) * c;
            if (kh === 2 && kw === 2) {
              for (let p = corner; p < corner + c; p++, q++) {
                const yq = y[q];
                const r = yq > 0 ? dy[q] / yq : 0;
                dx[p] = x[p] * r;
                dx[p + c] = x[p + c] * r;
                dx[p + rs] = x[p + rs] * r;
                dx[p + rs + c] = x[p + rs + c] * r;
              }
              continue;
            }
            for (let ch = 0; ch < c; ch++, q++) {
              const r = y[q] > 0 ? dy[q] / y[q] : 0;
              const p = corner + ch;
              for (let di = 0; di < kh; di++) {
                for (let dj = 0; dj < kw; dj++) dx[p + di * rs + dj * c] = x[p + di * rs + dj * c] * r;
              }
            }
          }
        }
      }
    },
  },
  ['x', 'y', 'dy'],
);

/** `y[b, j] = x[b, order[j]]` on `[N, D]`, `order` an int32 `[D]`: the same gather of every row. */
register(
  {
    name: GATHER_ROWS,
    outShape: ([x]) => [...x.shape],
    compute: ([x, order], y, [xi]) => {
      const d = order.length;
      const n = xi.shape[0];
      for (let base = 0; base < n * d; base += d) {
        for (let j = 0; j < d; j++) y[base + j] = x[base + order[j]];
      }
    },
  },
  ['x', 'order'],
  ['order'],
);

/** Whether the loop kernels run on the active backend. */
export function hasJsKernels(): boolean {
  return (BACKENDS as readonly string[]).includes(tf.getBackend());
}

/**
 * The loop kernels without a recorded gradient, for backward passes written
 * out (`OpVjp`): each pair is a forward and its input gradient.
 */
export const loops = {
  groupSort2: (x: tf.Tensor): tf.Tensor => tf.engine().runKernel(GROUPSORT2, { x }, {}) as tf.Tensor,
  /** `dL/dx` of GroupSort2 at `x` (that of `groupSort2` or of @lip/train's: the same routing, swapped iff x[2i] > x[2i+1]). */
  groupSort2Grad: (x: tf.Tensor, dy: tf.Tensor): tf.Tensor => tf.engine().runKernel(GROUPSORT2_GRAD, { x, dy }, {}) as tf.Tensor,
  tiledL2Pool: (x: tf.Tensor4D, k: readonly [number, number]): tf.Tensor4D => tf.engine().runKernel(L2POOL, { x }, { kernel: [k[0], k[1]] }) as tf.Tensor4D,
  /** `dL/dx` of the tiled L2 pooling from its input `x` and output `y`. */
  tiledL2PoolGrad: (x: tf.Tensor4D, y: tf.Tensor4D, dy: tf.Tensor4D, k: readonly [number, number]): tf.Tensor4D =>
    tf.engine().runKernel(L2POOL_GRAD, { x, y, dy }, { kernel: [k[0], k[1]] }) as tf.Tensor4D,
  /** `x[b, order[j]]` for every row b of `[N, D]`. */
  gatherRows: (x: tf.Tensor2D, order: tf.Tensor1D): tf.Tensor2D => tf.engine().runKernel(GATHER_ROWS, { x, order }, {}) as tf.Tensor2D,
};

/** GroupSort2 on the last axis (even length) with the loop kernels; see `hasJsKernels`. */
export const groupSort2Loop = tf.customGrad(((x: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
  save([x]);
  return {
    value: loops.groupSort2(x),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => loops.groupSort2Grad(saved[0], dy),
  };
}) as unknown as CustomGradientFunc<tf.Tensor>) as (x: tf.Tensor) => tf.Tensor;

/** L2 pooling of NHWC `x` over `k` windows that tile it, with the loop kernels; see `hasJsKernels`. */
export function tiledL2PoolLoop(x: tf.Tensor4D, k: readonly [number, number]): tf.Tensor4D {
  return tf.customGrad(((xin: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
    const y = loops.tiledL2Pool(xin as tf.Tensor4D, k);
    save([xin, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => loops.tiledL2PoolGrad(saved[0] as tf.Tensor4D, saved[1] as tf.Tensor4D, dy as tf.Tensor4D, k),
    };
  }) as unknown as CustomGradientFunc<tf.Tensor>)(x) as tf.Tensor4D;
}

/**
 * The entries of each row of `x` (`[N, D]`) reordered by `order` (int32 `[D]`,
 * a permutation) with the loop kernel; the gradient reorders by `inverse`.
 * See `hasJsKernels`.
 */
export function permuteRowsLoop(x: tf.Tensor2D, order: tf.Tensor1D, inverse: tf.Tensor1D): tf.Tensor2D {
  return tf.customGrad(((xin: tf.Tensor) => ({
    value: loops.gatherRows(xin as tf.Tensor2D, order),
    gradFunc: (dy: tf.Tensor) => loops.gatherRows(dy as tf.Tensor2D, inverse),
  })) as unknown as CustomGradientFunc<tf.Tensor>)(x) as tf.Tensor2D;
}
