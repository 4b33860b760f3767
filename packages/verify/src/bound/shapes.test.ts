/**
 * The shape rules (./shapes.ts) against onnxruntime: for every operator the
 * reader accepts, small graphs with a spread of attributes (negative axes,
 * broadcasting, ceil_mode, auto_pad, opset-dependent inputs) must get the
 * output shapes onnxruntime produces.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, AttrValue } from '@lip/export';
type ElemType = Parameters<GraphBuilder['output']>[2];
import { readOnnxModel, SUPPORTED_OPS } from '../onnx/read';
import { inferShapes } from './propagate';
import { BOUND_OPS } from './rules';
import { SHAPE_RULES } from './shapes';

interface Case {
  op: string;
  opset?: number;
  /** Shape of the graph input 'x' (batch included). */
  x: number[];
  /** Further inputs: float (f) or int64 (i) constants with dims, or '' for an omitted input. */
  consts?: ({ f: number[]; dims: number[] } | { i: (number | bigint)[]; dims: number[] } | '')[];
  attrs?: Record<string, AttrValue>;
  outputs?: number;
  /** Element types of the outputs (default float32; int64 for TopK and MaxPool indices). */
  outTypes?: string[];
  /** Feed Shape(x) instead of x (ConstantOfShape). */
  shapeFirst?: boolean;
}

const f = (dims: number[]): { f: number[]; dims: number[] } => ({ f: Array.from({ length: dims.reduce((a, d) => a * d, 1) }, (_, k) => (k % 5) - 2), dims });
const i = (values: (number | bigint)[], dims = [values.length]): { i: (number | bigint)[]; dims: number[] } => ({ i: values, dims });
const INT64_MAX = 2n ** 63n - 1n;

const CASES: Case[] = [
  ...['Abs', 'Neg', 'Relu', 'Sigmoid', 'Sqrt', 'Tanh', 'Identity'].map((op) => ({ op, x: [2, 3] })),
  { op: 'Softmax', opset: 11, x: [2, 3, 4], attrs: { axis: 1 } },
  { op: 'Softmax', opset: 13, x: [2, 3, 4] },
  { op: 'Add', x: [2, 1, 4], consts: [f([3, 1])] },
  { op: 'Sub', x: [2, 3], consts: [f([])] },
  { op: 'Mul', x: [4, 1], consts: [f([2, 1, 5])] },
  { op: 'Div', x: [2, 3, 4], consts: [f([4])] },
  { op: 'Max', x: [2, 3], consts: [f([3]), f([2, 1])] },
  { op: 'Min', x: [1, 3], consts: [f([4, 1])] },
  { op: 'Sum', x: [2, 1], consts: [f([1, 5]), f([5])] },
  { op: 'Concat', x: [2, 3], consts: [f([2, 5])], attrs: { axis: 1 } },
  { op: 'Concat', x: [2, 3, 1], consts: [f([2, 3, 2]), f([2, 3, 4])], attrs: { axis: -1 } },
  { op: 'Conv', x: [1, 2, 7, 6], consts: [f([4, 2, 3, 2])], attrs: { strides: [2, 1], pads: [1, 0, 1, 1], dilations: [1, 2] } },
  { op: 'Conv', x: [1, 4, 5, 5], consts: [f([6, 2, 3, 3]), f([6])], attrs: { group: 2, auto_pad: 'SAME_UPPER', strides: [2, 2] } },
  { op: 'Conv', x: [1, 1, 6, 7], consts: [f([1, 1, 2, 3])], attrs: { auto_pad: 'SAME_LOWER', strides: [3, 2] } },
  { op: 'Conv', x: [1, 1, 7, 7], consts: [f([1, 1, 1, 1])], attrs: { auto_pad: 'SAME_UPPER', strides: [4, 3] } },
  { op: 'Conv', x: [1, 2, 9], consts: [f([3, 2, 3])], attrs: { auto_pad: 'VALID', strides: [2] } },
  { op: 'ConvTranspose', x: [1, 2, 4, 5], consts: [f([2, 3, 3, 3])], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
  { op: 'ConvTranspose', x: [1, 4, 3, 3], consts: [f([4, 2, 3, 2]), f([4])], attrs: { group: 2, strides: [2, 1], output_padding: [1, 0], dilations: [1, 2] } },
  { op: 'ConvTranspose', x: [1, 1, 5, 5], consts: [f([1, 2, 2, 2])] },
  { op: 'DepthToSpace', x: [1, 8, 2, 3], attrs: { blocksize: 2 } },
  { op: 'DepthToSpace', x: [1, 8, 2, 3], attrs: { blocksize: 2, mode: 'CRD' } },
  { op: 'SpaceToDepth', x: [1, 2, 4, 6], attrs: { blocksize: 2 } },
  ...[0, 1, 2, 3, -1, -2, -3].map((axis) => ({ op: 'Flatten', x: [2, 3, 4], attrs: { axis } })),
  { op: 'Gemm', x: [2, 3], consts: [f([3, 4]), f([4])] },
  { op: 'Gemm', x: [2, 3], consts: [f([4, 3]), f([2, 1])], attrs: { transB: 1 } },
  { op: 'Gemm', x: [3, 2], consts: [f([3, 4])], attrs: { transA: 1 } },
  ...['GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool'].map((op) => ({ op, x: [1, 3, 4, 5] })),
  { op: 'GlobalMaxPool', x: [2, 3, 5] },
  { op: 'AveragePool', x: [1, 2, 4, 4], attrs: { kernel_shape: [3, 3], strides: [3, 3], ceil_mode: 1, count_include_pad: 1 } },
  { op: 'AveragePool', opset: 19, x: [1, 1, 9, 8], attrs: { kernel_shape: [2, 3], dilations: [3, 2], pads: [1, 0, 1, 2], ceil_mode: 1 } },
  { op: 'AveragePool', x: [1, 1, 3, 4, 5], attrs: { kernel_shape: [2, 2, 2], strides: [1, 2, 2] } },
  { op: 'MaxPool', x: [1, 1, 7, 8], attrs: { kernel_shape: [2, 3], auto_pad: 'SAME_LOWER', strides: [2, 3] }, outputs: 2 },
  { op: 'MaxPool', x: [1, 1, 8], attrs: { kernel_shape: [3], strides: [3], ceil_mode: 1, dilations: [2] } },
  { op: 'LpPool', opset: 18, x: [1, 1, 8], attrs: { kernel_shape: [2], dilations: [7] } },
  { op: 'LpPool', opset: 18, x: [1, 2, 8, 5], attrs: { kernel_shape: [3, 2], strides: [3, 2], ceil_mode: 1, pads: [1, 0, 1, 1], p: 3 } },
  { op: 'MatMul', x: [2, 3, 4], consts: [f([4, 5])] },
  { op: 'MatMul', x: [4], consts: [f([4, 5])] },
  { op: 'MatMul', x: [2, 3, 4], consts: [f([4])] },
  // (A constant operand of rank > 2 is refused by the bound, so it has no case here.)
  { op: 'MatMul', x: [2, 1, 3], consts: [f([3, 2])] },
  { op: 'Reshape', x: [2, 3, 4], consts: [i([0, -1])] },
  { op: 'Reshape', x: [2, 3, 4], consts: [i([4, 0, 2])] },
  { op: 'Reshape', x: [2, 3, 4], consts: [i([-1])] },
  { op: 'Slice', x: [5, 6], consts: [i([1, -4]), i([4, 1000]), i([0, 1]), i([1, 2])] },
  { op: 'Slice', x: [5, 6], consts: [i([-1]), i([-1000]), i([1]), i([-2])] },
  { op: 'Slice', x: [5, 6], consts: [i([-(2n ** 63n)]), i([INT64_MAX]), i([-1])] },
  { op: 'Slice', x: [5, 6], consts: [i([INT64_MAX]), i([-(2n ** 63n)]), i([0]), i([-3])] },
  { op: 'Slice', opset: 9, x: [5, 6], attrs: { starts: [1], ends: [-1], axes: [1] } },
  { op: 'Split', x: [3, 6], consts: [i([2, 4])], attrs: { axis: 1 }, outputs: 2 },
  { op: 'Split', x: [3, 6], attrs: { axis: -1 }, outputs: 3 },
  { op: 'Split', opset: 18, x: [5, 2], attrs: { num_outputs: 2 }, outputs: 2 },
  { op: 'Split', opset: 11, x: [3, 6], attrs: { axis: 1, split: [1, 5] }, outputs: 2 },
  { op: 'Squeeze', x: [2, 1, 3, 1], consts: [i([-3])] },
  { op: 'Squeeze', x: [2, 1, 3, 1] },
  { op: 'Squeeze', opset: 11, x: [2, 1, 3, 1], attrs: { axes: [3] } },
  { op: 'Unsqueeze', x: [2, 3], consts: [i([0, -1])] },
  { op: 'Unsqueeze', opset: 11, x: [2, 3], attrs: { axes: [1] } },
  { op: 'Transpose', x: [2, 3, 4], attrs: { perm: [2, 0, 1] } },
  { op: 'Transpose', x: [2, 3, 4] },
  { op: 'TopK', x: [2, 5], consts: [i([3])], outputs: 2 },
  { op: 'TopK', x: [2, 5, 3], consts: [i([2])], attrs: { axis: 1 }, outputs: 2 },
  { op: 'TopK', opset: 9, x: [2, 5], attrs: { k: 4 }, outputs: 2 },
  ...['ReduceL2', 'ReduceMax', 'ReduceMin'].flatMap((op) => [
    { op, opset: 13, x: [2, 3, 4], attrs: { axes: [1], keepdims: 0 } },
    { op, opset: 13, x: [2, 3, 4] },
    { op, opset: 18, x: [2, 3, 4], consts: [i([-1])] },
    { op, opset: 18, x: [2, 3, 4], attrs: { noop_with_empty_axes: 1 } },
  ]),
  { op: 'Gather', x: [4, 3], consts: [i([0, 2, 1, -1], [2, 2])] },
  { op: 'Gather', x: [4, 3], consts: [i([2], [])], attrs: { axis: 1 } },
  { op: 'Pad', x: [2, 3], consts: [i([0, 1, 2, 0])] },
  { op: 'Pad', x: [2, 3], consts: [i([1, -1, 0, -1]), f([])] },
  { op: 'Pad', opset: 18, x: [2, 3, 4], consts: [i([1, 2, 0, 3]), '', i([0, -1])] },
  { op: 'Pad', opset: 9, x: [2, 3], attrs: { pads: [0, 1, 1, 0] } },
  { op: 'Pad', x: [3, 4], consts: [i([2, 1, 1, 3])], attrs: { mode: 'reflect' } },
  { op: 'Pad', x: [3, 4], consts: [i([1, -1, 4, 2])], attrs: { mode: 'edge' } },
  ...['LeakyRelu', 'Elu', 'Sign'].map((op) => ({ op, x: [2, 3] })),
  { op: 'Clip', x: [2, 3], consts: [f([]), f([])] },
  { op: 'Pow', x: [2, 3], consts: [f([3])] },
  { op: 'Cast', x: [2, 3], attrs: { to: 1 } },
  { op: 'Dropout', x: [2, 3], outputs: 2, outTypes: ['float32', 'bool'] },
  { op: 'BatchNormalization', x: [2, 3, 4, 4], consts: [f([3]), f([3]), f([3]), { f: [1, 2, 3], dims: [3] }] },
  { op: 'Shape', opset: 15, x: [2, 3, 4], attrs: { start: 1 }, outTypes: ['int64'] },
  { op: 'Shape', x: [2, 3, 4], outTypes: ['int64'] },
  { op: 'ConstantOfShape', x: [2, 3, 4], shapeFirst: true },
  { op: 'Expand', x: [2, 1, 3], consts: [i([2, 4, 3])] },
  { op: 'Expand', x: [3, 1], consts: [i([2, 1, 4])] },
  { op: 'Equal', x: [2, 3], consts: [f([3])], outTypes: ['bool'] },
];

/** Ops without a case here: Range and Where take no float 'x' first; their folding is tested in ops/fold_model.test.ts. */
const UNCASED = new Set(['Constant', 'Range', 'Where']);

function build(c: Case): Uint8Array {
  const b = new GraphBuilder({ opset: c.opset ?? 17 });
  b.input('x', 'float32', c.x);
  const inputs = [c.shapeFirst ? b.node('Shape', ['x'], {}, { outputs: ['shape_of_x'] })[0] : 'x'];
  (c.consts ?? []).forEach((k, n) => {
    if (k === '') inputs.push('');
    else if ('f' in k) inputs.push(b.initializer(`c${n}`, Float32Array.from(k.f), k.dims));
    else
      inputs.push(
        b.initializer(
          `c${n}`,
          BigInt64Array.from(k.i, (v) => BigInt(v)),
          k.dims,
        ),
      );
  });
  const outs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `y${k}`);
  b.node(c.op, inputs, c.attrs ?? {}, { outputs: outs });
  outs.forEach((o, k) =>
    b.output(o, [`d${k}`], (c.outTypes?.[k] ?? ((c.op === 'TopK' && k === 1) || (c.op === 'MaxPool' && k === 1) ? 'int64' : 'float32')) as ElemType),
  );
  return b.toBytes();
}

describe('shape rules match onnxruntime', () => {
  it('every operator the reader accepts has a shape rule and a bound rule', () => {
    expect(SUPPORTED_OPS.filter((op) => !SHAPE_RULES[op])).toEqual([]);
    expect(SUPPORTED_OPS.filter((op) => !BOUND_OPS.includes(op))).toEqual([]);
    const tested = new Set(CASES.map((c) => c.op));
    expect(SUPPORTED_OPS.filter((op) => !UNCASED.has(op) && !tested.has(op))).toEqual([]);
  });

  it.each(CASES.map((c) => [`${c.op} ${JSON.stringify({ opset: c.opset, x: c.x, attrs: c.attrs })}`, c] as const))('%s', async (_label, c) => {
    const bytes = build(c);
    const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
    const n = c.x.reduce((a, d) => a * d, 1);
    const out = await session.run({
      x: new ort.Tensor(
        'float32',
        Float32Array.from({ length: n }, (_, k) => (k % 7) + 0.5),
        c.x,
      ),
    });
    await session.release();
    const shapes = inferShapes(readOnnxModel(bytes, { fold: false }), c.x);
    for (const name of Object.keys(out)) expect([name, shapes.get(name)]).toEqual([name, [...out[name].dims]]);
  });
});
