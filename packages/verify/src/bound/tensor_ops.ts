/**
 * Shape arithmetic and element moves (reshape, transpose, slice, concat),
 * generic over the element type: the bound runs them on constant values and on
 * symbolic expressions alike.
 */

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Normalizes a possibly negative axis; null when out of range. */
export function normAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : null;
}

/** `out[...] = data[perm-ordered index]` (ONNX Transpose). */
export function permute<T>(data: ArrayLike<T>, shape: readonly number[], perm: readonly number[]): { shape: number[]; data: T[] } {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = stridesOf(shape);
  const srcStrides = perm.map((p) => inStrides[p]);
  const n = sizeOf(outShape);
  const out = new Array<T>(n);
  const idx = new Array<number>(outShape.length).fill(0);
  let src = 0;
  for (let i = 0; i < n; i++) {
    out[i] = data[src];
    for (let ax = outShape.length - 1; ax >= 0; ax--) {
      idx[ax]++;
      src += srcStrides[ax];
      if (idx[ax] < outShape[ax]) break;
      src -= srcStrides[ax] * outShape[ax];
      idx[ax] = 0;
    }
  }
  return { shape: outShape, data: out };
}

/** Picks `indices[axis]` along every axis (outer product of index lists). */
export function select<T>(data: ArrayLike<T>, shape: readonly number[], indices: readonly (readonly number[])[]): { shape: number[]; data: T[] } {
  const outShape = indices.map((l) => l.length);
  const st = stridesOf(shape);
  const n = sizeOf(outShape);
  const out = new Array<T>(n);
  const idx = new Array<number>(outShape.length).fill(0);
  if (n === 0) return { shape: outShape, data: out };
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let ax = 0; ax < outShape.length; ax++) src += indices[ax][idx[ax]] * st[ax];
    out[i] = data[src];
    for (let ax = outShape.length - 1; ax >= 0; ax--) {
      idx[ax]++;
      if (idx[ax] < outShape[ax]) break;
      idx[ax] = 0;
    }
  }
  return { shape: outShape, data: out };
}

/** Concatenates along `axis`. */
export function concat<T>(parts: readonly { shape: readonly number[]; data: ArrayLike<T> }[], axis: number): { shape: number[]; data: T[] } {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((a, p) => a + p.shape[axis], 0);
  const outer = sizeOf(shape.slice(0, axis));
  const out: T[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const chunk = sizeOf(p.shape.slice(axis));
      for (let i = 0; i < chunk; i++) out.push(p.data[o * chunk + i]);
    }
  }
  return { shape, data: out };
}

/** Numpy broadcasting of two shapes; null when incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Elements of `data` (shape `shape`) broadcast to `target`. */
export function broadcastTo<T>(data: ArrayLike<T>, shape: readonly number[], target: readonly number[]): T[] {
  const rank = target.length;
  const full = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const st = stridesOf(full);
  const n = sizeOf(target);
  const out = new Array<T>(n);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let src = 0;
    for (let ax = 0; ax < rank; ax++) if (full[ax] !== 1) src += idx[ax] * st[ax];
    out[i] = data[src];
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]++;
      if (idx[ax] < target[ax]) break;
      idx[ax] = 0;
    }
  }
  return out;
}

/** ONNX Slice index list for one axis (clamping rules of the spec). */
export function sliceIndices(dim: number, start: number, end: number, step: number): number[] {
  const out: number[] = [];
  if (step === 0) return out;
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    for (let i = s; i < e; i += step) out.push(i);
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
    for (let i = s; i > e; i += step) out.push(i);
  }
  return out;
}

export function range(n: number, from = 0): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = from + i;
  return out;
}
