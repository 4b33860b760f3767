/**
 * Constant folding (./fold.ts) against onnxruntime: the same elementwise op
 * on the same int64 / int32 / float32 values must give the same bits
 * (integer division truncating toward zero, two's-complement wrap-around,
 * float32 rounding).
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { GraphBuilder, tensorProto } from '@lip/export';
import { foldBinary, roundToHalf } from './fold';

type IntCase = { op: string; a: bigint[]; b: bigint[] };

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

const INT64_CASES: IntCase[] = [
  { op: 'Div', a: [7n, -7n, 7n, -7n, 3n, -1n, I64_MIN], b: [2n, 2n, -2n, -2n, 2n, 2n, 3n] },
  { op: 'Add', a: [I64_MAX, 2n ** 31n + 5n, -(2n ** 60n)], b: [1n, 2n ** 31n + 4n, -3n] },
  { op: 'Sub', a: [2n ** 31n + 5n, 2n ** 60n + 3n, I64_MIN], b: [2n ** 31n + 4n, 2n ** 60n, 1n] },
  { op: 'Mul', a: [2n ** 40n, -(2n ** 33n), 3n], b: [2n ** 40n, 2n ** 31n, -5n] },
  { op: 'Min', a: [2n ** 62n + 1n, -5n], b: [2n ** 62n, 4n] },
  { op: 'Max', a: [2n ** 62n + 1n, -5n], b: [2n ** 62n, 4n] },
];

/** onnxruntime's `op(a, b)` with `a` fed as the input and `b` a constant. */
async function ortBinary(
  op: string,
  type: 'int64' | 'int32' | 'float32',
  a: ArrayLike<number | bigint>,
  b: ArrayLike<number | bigint>,
): Promise<ArrayLike<number | bigint>> {
  const g = new GraphBuilder({ opset: 17 });
  g.input('x', type, [a.length]);
  let c: string;
  if (type === 'int64') c = g.initializer('b', BigInt64Array.from(b as bigint[]), [b.length]);
  else {
    const t =
      type === 'float32'
        ? tensorProto('b', Float32Array.from(b as number[]), [b.length])
        : { name: 'b', dims: [b.length], dataType: onnx.TensorProto.DataType.INT32, int32Data: Array.from(b as number[]) };
    [c] = g.node('Constant', [], { value: { kind: 'tensor', value: t } });
  }
  g.node(op, ['x', c], {}, { outputs: ['y'] });
  g.output('y', [a.length], type);
  const session = await ort.InferenceSession.create(g.toBytes());
  const x = type === 'int64' ? BigInt64Array.from(a as bigint[]) : type === 'int32' ? Int32Array.from(a as number[]) : Float32Array.from(a as number[]);
  const out = (await session.run({ x: new ort.Tensor(type, x, [a.length]) })).y.data as ArrayLike<number | bigint>;
  await session.release();
  return out;
}

describe('constant folding matches onnxruntime', () => {
  it.each(INT64_CASES.map((c) => [c.op, c] as const))('int64 %s', async (_op, c) => {
    const ours = foldBinary(c.op, 'int64', c.a, c.b, 'test');
    expect(Array.from(ours)).toEqual(Array.from(await ortBinary(c.op, 'int64', c.a, c.b)));
  });

  it('int32 Div and Add (truncation, wrap-around)', async () => {
    const a = [7, -7, 2 ** 31 - 1, -(2 ** 31)];
    const b = [-2, 2, 1, -1];
    for (const op of ['Div', 'Add']) {
      const ours = foldBinary(op, 'int32', a.map(BigInt), b.map(BigInt), 'test');
      const theirs = Array.from(await ortBinary(op, 'int32', a, b), (v) => BigInt(v));
      expect([op, Array.from(ours)]).toEqual([op, theirs]);
    }
  });

  it('float32 results are rounded to float32', async () => {
    const a = [1, 2, 1e-3, 3.3];
    const b = [3, 7, 3e7, 1.1];
    for (const op of ['Div', 'Mul', 'Add', 'Sub']) {
      const ours = foldBinary(op, 'float32', Float32Array.from(a), Float32Array.from(b), 'test');
      expect([op, Array.from(ours as ArrayLike<number>)]).toEqual([op, Array.from(await ortBinary(op, 'float32', a, b))]);
    }
  });

  it('refuses an integer division by zero', () => {
    expect(() => foldBinary('Div', 'int64', [1n], [0n], "node 'd'")).toThrow(/node 'd': integer division by zero/);
  });

  it('rounds to the nearest half, ties to even', () => {
    expect(roundToHalf(1 + 2 ** -11)).toBe(1);
    expect(roundToHalf(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundToHalf(2 ** -24 * 1.5)).toBe(2 ** -23);
    expect(roundToHalf(65520)).toBe(Infinity);
    expect(roundToHalf(-0.1)).toBeCloseTo(-0.0999755859375, 12);
  });
});
