/**
 * Constant folding with ONNX semantics. The bound folds constant subgraphs
 * (shape arithmetic feeding Reshape/Slice/Gather, scaled weights) and must get
 * the same values onnxruntime computes:
 *  - integer tensors are exact (BigInt), wrap around at their width, and Div
 *    truncates toward zero (C++ integer division, what onnxruntime runs);
 *    division by zero is refused;
 *  - float results are rounded to their element type (float32, float16), as
 *    onnxruntime stores them.
 */
import { ModelError } from '@lip/core/errors';
import type { OnnxDataType, OnnxTensor } from '../onnx/read';

/** A constant's values: numbers for float types, exact BigInts for integer and bool types. */
export type ConstValues = ArrayLike<number> | readonly bigint[];

const INT_BITS: Partial<Record<OnnxDataType, { bits: number; signed: boolean }>> = {
  int64: { bits: 64, signed: true },
  int32: { bits: 32, signed: true },
  int16: { bits: 16, signed: true },
  int8: { bits: 8, signed: true },
  uint8: { bits: 8, signed: false },
  bool: { bits: 1, signed: false },
};

export function isIntType(t: OnnxDataType): boolean {
  return INT_BITS[t] !== undefined;
}

/** The values of a decoded tensor in the bound's representation. */
export function tensorValues(t: OnnxTensor): ConstValues {
  if (t.data instanceof BigInt64Array) return Array.from(t.data);
  if (isIntType(t.dataType)) return Array.from(t.data as Int32Array, (v) => BigInt(v));
  return t.data as Float32Array | Float64Array;
}

/** Float view of constant values (integers beyond 2^53 are rounded; only used where ONNX allows a float). */
export function asFloats(v: ConstValues): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Number(v[i]);
  return out;
}

/**
 * Integer values as JS numbers for shape arithmetic (axes, indices, starts,
 * ends, pads). Values beyond +-2^53 are clamped to +-2^53, which keeps their
 * meaning: every use clamps them to a dimension far smaller than that.
 */
export function asIndexNumbers(v: readonly bigint[]): number[] {
  const lim = BigInt(Number.MAX_SAFE_INTEGER);
  return v.map((x) => Number(x > lim ? lim : x < -lim ? -lim : x));
}

/** Rounds to the nearest IEEE half (ties to even); overflow gives +-Infinity. */
export function roundToHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  // Spacing of halves near a: 2^(e - 10) for normal numbers, 2^-24 for subnormals.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const out = r * ulp;
  return Math.sign(x) * (out > 65504 ? Infinity : out);
}

function rounder(t: OnnxDataType): (x: number) => number {
  if (t === 'float32') return Math.fround;
  if (t === 'float16') return roundToHalf;
  return (x) => x;
}

function wrapper(t: OnnxDataType): (x: bigint) => bigint {
  const spec = INT_BITS[t]!;
  return spec.signed ? (x) => BigInt.asIntN(spec.bits, x) : (x) => BigInt.asUintN(spec.bits, x);
}

const FLOAT_UNARY: Record<string, (x: number) => number> = {
  Relu: (x) => Math.max(x, 0),
  Neg: (x) => -x,
  Abs: Math.abs,
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  Tanh: Math.tanh,
  Sqrt: Math.sqrt,
  Identity: (x) => x,
};
const INT_UNARY: Record<string, (x: bigint) => bigint> = {
  Relu: (x) => (x > 0n ? x : 0n),
  Neg: (x) => -x,
  Abs: (x) => (x < 0n ? -x : x),
  Identity: (x) => x,
};
const FLOAT_BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Min: Math.min,
  Max: Math.max,
  Sum: (a, b) => a + b,
};
const INT_BINARY: Record<string, (a: bigint, b: bigint) => bigint> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b, // BigInt '/' truncates toward zero
  Min: (a, b) => (a < b ? a : b),
  Max: (a, b) => (a > b ? a : b),
  Sum: (a, b) => a + b,
};

/** Folds an elementwise unary op; undefined when the op has no folding (the value then stays unknown). */
export function foldUnary(op: string, type: OnnxDataType, x: ConstValues, where: string): ConstValues | undefined {
  if (isIntType(type)) {
    if (type === 'bool') throw new ModelError(`${where}: ${op} is not defined for bool tensors`);
    const f = INT_UNARY[op];
    if (!f) throw new ModelError(`${where}: ${op} is not defined for ${type} tensors`);
    const wrap = wrapper(type);
    return (x as readonly bigint[]).map((v) => wrap(f(v)));
  }
  const f = FLOAT_UNARY[op];
  if (!f) return undefined;
  const round = rounder(type);
  return Array.from(x as ArrayLike<number>, (v) => round(f(v)));
}

/** Folds an elementwise binary op on already broadcast operands of the same type. */
export function foldBinary(op: string, type: OnnxDataType, a: ConstValues, b: ConstValues, where: string): ConstValues {
  if (isIntType(type)) {
    if (type === 'bool') throw new ModelError(`${where}: ${op} is not defined for bool tensors`);
    const f = INT_BINARY[op];
    const wrap = wrapper(type);
    const x = a as readonly bigint[];
    const y = b as readonly bigint[];
    return x.map((v, i) => {
      if (op === 'Div' && y[i] === 0n) throw new ModelError(`${where}: integer division by zero in a constant`);
      return wrap(f(v, y[i]));
    });
  }
  const f = FLOAT_BINARY[op];
  const round = rounder(type);
  const x = a as ArrayLike<number>;
  const y = b as ArrayLike<number>;
  return Array.from({ length: x.length }, (_, i) => round(f(x[i], y[i])));
}
