/**
 * Window geometry of the ONNX poolings (AveragePool, MaxPool, LpPool) and
 * convolutions, as onnxruntime computes it, per spatial axis:
 *
 *   extent = (k - 1) d + 1
 *   NOTSET (explicit pads pb, pe) and VALID (pb = pe = 0):
 *     out = trunc((n + pb + pe - extent) / s) + 1        (ceil_mode = 0; floor but
 *                                                        for a kernel wider than the padded input)
 *     out = ceil((n + pb + pe - extent) / s) + 1         (ceil_mode = 1)
 *     and with ceil_mode the last window must start inside the input or the
 *     left padding: out -= 1 when (out - 1) s >= n + pb.
 *   SAME_UPPER / SAME_LOWER: out = ceil(n / s), total padding
 *     (out - 1) s + extent - n, the odd cell at the end (UPPER) or the
 *     beginning (LOWER). onnxruntime and the spec disagree when d > 1, so that
 *     is refused. When extent < s the total is negative: the spec pads 0,
 *     onnxruntime pads negatively and shifts the windows; we follow
 *     onnxruntime (every window is then inside the input, disjoint and full,
 *     so the bounds are the same either way).
 *
 * Window o reads taps t = o s - pb + j d (j < k). Cells are the taps inside
 * [0, n). AveragePool divides by the cells (count_include_pad = 0) or by the
 * taps inside [-pb, n + pe) (count_include_pad = 1): a ceil_mode window that
 * runs past the end padding is not divided by k. The divisor of a
 * multi-dimensional window is the product of its axes' divisors, so every
 * pooling matrix is a Kronecker product of per-axis matrices.
 */

export type AutoPad = 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';

export interface WindowAxis {
  /** Input size. */
  n: number;
  kernel: number;
  stride: number;
  dilation: number;
  padBegin: number;
  padEnd: number;
  /** Number of windows (output size). */
  out: number;
}

export interface WindowSpec {
  kernel: readonly number[];
  strides: readonly number[];
  dilations: readonly number[];
  /** Explicit pads [begins..., ends...] (used with auto_pad NOTSET). */
  pads: readonly number[];
  autoPad: AutoPad;
  ceilMode: boolean;
}

/**
 * Per-axis window geometry; `fail` is called with the reason when the
 * attributes are invalid.
 */
export function windowAxes(spatial: readonly number[], spec: WindowSpec, fail: (msg: string) => never): WindowAxis[] {
  const r = spatial.length;
  const { kernel, strides, dilations, pads, autoPad, ceilMode } = spec;
  if (kernel.length !== r || strides.length !== r || dilations.length !== r) {
    fail(
      `kernel_shape [${kernel.join(', ')}], strides [${strides.join(', ')}] and dilations [${dilations.join(', ')}] ` +
        `must have ${r} entries each (one per spatial axis)`,
    );
  }
  if (![...kernel, ...strides, ...dilations].every((v) => Number.isSafeInteger(v) && v >= 1)) {
    fail(`kernel_shape [${kernel.join(', ')}], strides [${strides.join(', ')}] and dilations [${dilations.join(', ')}] must be integers >= 1`);
  }
  if (autoPad === 'NOTSET' && (pads.length !== 2 * r || !pads.every((p) => Number.isSafeInteger(p) && p >= 0))) {
    fail(`pads [${pads.join(', ')}] must be ${2 * r} integers >= 0`);
  }
  return spatial.map((n, i) => {
    const k = kernel[i],
      s = strides[i],
      d = dilations[i];
    const extent = (k - 1) * d + 1;
    let pb = 0,
      pe = 0,
      out: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      if (d > 1) {
        fail(
          `auto_pad ${autoPad} with dilations [${dilations.join(', ')}]: onnxruntime and the ONNX spec pad differently ` +
            '(onnxruntime refuses it for Conv); give explicit pads instead',
        );
      }
      out = Math.ceil(n / s);
      // onnxruntime does not clamp a negative total (extent < stride) to 0, and splits it with C++ division.
      const total = (out - 1) * s + extent - n;
      pb = Math.trunc(autoPad === 'SAME_UPPER' ? total / 2 : (total + 1) / 2);
      pe = total - pb;
    } else {
      if (autoPad === 'NOTSET') [pb, pe] = [pads[i], pads[i + r]];
      const span = n + pb + pe - extent;
      // onnxruntime divides with C++ integer division (toward zero) when ceil_mode = 0.
      out = (ceilMode ? Math.ceil(span / s) : Math.trunc(span / s)) + 1;
      if (ceilMode && out > 0 && (out - 1) * s >= n + pb) out -= 1;
    }
    // A kernel larger than the padded input gives an empty output (onnxruntime's shape too).
    out = Math.max(out, 0);
    return { n, kernel: k, stride: s, dilation: d, padBegin: pb, padEnd: pe, out };
  });
}

/** Input cells read by window `o` of axis `a` (taps inside [0, n)). */
export function windowCells(a: WindowAxis, o: number): number[] {
  const cells: number[] = [];
  const start = o * a.stride - a.padBegin;
  for (let j = 0; j < a.kernel; j++) {
    const t = start + j * a.dilation;
    if (t >= 0 && t < a.n) cells.push(t);
  }
  return cells;
}

/** AveragePool's divisor of window `o` on axis `a` (see the module comment). */
export function windowDivisor(a: WindowAxis, o: number, countIncludePad: boolean): number {
  const start = o * a.stride - a.padBegin;
  let count = 0;
  for (let j = 0; j < a.kernel; j++) {
    const t = start + j * a.dilation;
    if (countIncludePad ? t >= -a.padBegin && t < a.n + a.padEnd : t >= 0 && t < a.n) count++;
  }
  return count;
}

export interface AxisNorms {
  /** Largest number of windows that read one cell. */
  maxCover: number;
  /** Largest row sum of the averaging matrix: max_o cells(o) / divisor(o). */
  maxRow: number;
  /** Largest column sum of the averaging matrix: max_p sum_{o reads p} 1 / divisor(o). */
  maxCol: number;
  /** Largest number of cells one window reads. */
  maxCells: number;
}

/** Cover counts and averaging-matrix norms of one axis (divisors as `windowDivisor`). */
export function axisNorms(a: WindowAxis, countIncludePad: boolean): AxisNorms {
  const cover = new Float64Array(a.n);
  const colSum = new Float64Array(a.n);
  let maxRow = 0;
  let maxCells = 0;
  for (let o = 0; o < a.out; o++) {
    const cells = windowCells(a, o);
    const div = windowDivisor(a, o, countIncludePad);
    maxCells = Math.max(maxCells, cells.length);
    if (cells.length === 0 || div === 0) continue;
    maxRow = Math.max(maxRow, cells.length / div);
    for (const p of cells) {
      cover[p] += 1;
      colSum[p] += 1 / div;
    }
  }
  let maxCover = 0;
  let maxCol = 0;
  for (let p = 0; p < a.n; p++) {
    maxCover = Math.max(maxCover, cover[p]);
    maxCol = Math.max(maxCol, colSum[p]);
  }
  return { maxCover, maxRow, maxCol, maxCells };
}

/** Number of window taps walked by `axisNorms` (for the caller's size check). */
export function axisWork(a: WindowAxis): number {
  return a.out * a.kernel + a.n;
}
