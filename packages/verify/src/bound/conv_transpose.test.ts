/**
 * ConvTranspose in @lip/verify: the bound (the adjoint Conv's, ||A^T|| = ||A||)
 * is sound and tight against the operator measured from onnxruntime's own
 * semantics, and the attack translator computes what onnxruntime does.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '@lip/export';
import { maxAbsDiff, normalArray } from '@lip/test-support';
import { powerIterationSigma } from '@lip/test-support/linalg';
import { readOnnxModel } from '../onnx/read';
import { translateOnnx } from '../translate/translate';
import { lipschitzBound } from './lipschitz';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface Case {
  name: string;
  /** [C, H, W] of one input. */
  input: [number, number, number];
  /** [C_in, C_out / group, kh, kw]. */
  weight: [number, number, number, number];
  attrs: { strides?: number[]; pads?: number[]; dilations?: number[]; output_padding?: number[]; group?: number };
  translatable: boolean;
}

const CASES: Case[] = [
  {
    name: 'stride 2, pads 2 (the adjoint of a 6x6 stride-2 same conv)',
    input: [4, 3, 3],
    weight: [4, 2, 6, 6],
    attrs: { strides: [2, 2], pads: [2, 2, 2, 2] },
    translatable: true,
  },
  { name: 'stride 1, no pads', input: [2, 4, 3], weight: [2, 3, 3, 3], attrs: {}, translatable: true },
  {
    name: 'stride [2, 3], pads [1, 0, 0, 1], output_padding [1, 2]',
    input: [3, 3, 2],
    weight: [3, 2, 3, 4],
    attrs: { strides: [2, 3], pads: [1, 0, 0, 1], output_padding: [1, 2] },
    translatable: true,
  },
  {
    name: 'dilations 2, group 2 (bound only)',
    input: [4, 3, 3],
    weight: [4, 1, 3, 3],
    attrs: { dilations: [2, 2], group: 2, strides: [2, 2], pads: [1, 1, 1, 1] },
    translatable: false,
  },
];

function outSize(c: Case): [number, number] {
  const s = c.attrs.strides ?? [1, 1];
  const d = c.attrs.dilations ?? [1, 1];
  const p = c.attrs.pads ?? [0, 0, 0, 0];
  const op = c.attrs.output_padding ?? [0, 0];
  return [0, 1].map((a) => s[a] * (c.input[1 + a] - 1) + op[a] + (c.weight[2 + a] - 1) * d[a] + 1 - p[a] - p[2 + a]) as [number, number];
}

function model(c: Case, w: Float32Array, bias: Float32Array): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  b.input('x', 'float32', ['N', ...c.input]);
  const cout = c.weight[1] * (c.attrs.group ?? 1);
  b.node('ConvTranspose', ['x', b.initializer('w', w, c.weight), b.initializer('b', bias, [cout])], c.attrs, { outputs: ['y'] });
  b.output('y', ['N', cout, ...outSize(c)]);
  return b.toBytes();
}

/** The linear part as a float64 matrix, from ONNX's definition: y[co, o] += x[ci, i] W[ci, co', t] where o = i s + t d - pad_begin. */
function explicitMatrix(c: Case, w: Float32Array): { a: Float64Array; rows: number; cols: number } {
  const [cin, coutG, kh, kw] = c.weight;
  const group = c.attrs.group ?? 1;
  const [, h, wd] = c.input;
  const [ho, wo] = outSize(c);
  const s = c.attrs.strides ?? [1, 1];
  const d = c.attrs.dilations ?? [1, 1];
  const p = c.attrs.pads ?? [0, 0, 0, 0];
  const cols = cin * h * wd;
  const rows = coutG * group * ho * wo;
  const a = new Float64Array(rows * cols);
  const cinG = cin / group;
  for (let ci = 0; ci < cin; ci++)
    for (let cg = 0; cg < coutG; cg++) {
      const co = Math.floor(ci / cinG) * coutG + cg;
      for (let i = 0; i < h; i++)
        for (let j = 0; j < wd; j++)
          for (let u = 0; u < kh; u++)
            for (let v = 0; v < kw; v++) {
              const oy = i * s[0] + u * d[0] - p[0];
              const ox = j * s[1] + v * d[1] - p[1];
              if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
              a[((co * ho + oy) * wo + ox) * cols + (ci * h + i) * wd + j] += w[((ci * coutG + cg) * kh + u) * kw + v];
            }
    }
  return { a, rows, cols };
}

describe('ConvTranspose: bound and translation', () => {
  test.each(CASES.map((c) => [c.name, c] as const))(
    '%s',
    async (_name, c) => {
      const w = Float32Array.from(
        normalArray(
          c.weight.reduce((x, y) => x * y, 1),
          3,
        ),
      );
      const cout = c.weight[1] * (c.attrs.group ?? 1);
      const bias = Float32Array.from(normalArray(cout, 4));
      const bytes = model(c, w, bias);
      const size = c.input.reduce((x, y) => x * y, 1);
      const x = Float32Array.from(normalArray(2 * size, 5));
      const session = await ort.InferenceSession.create(bytes);
      const got = (await session.run({ x: new ort.Tensor('float32', x, [2, ...c.input]) })).y.data as Float32Array;
      await session.release();
      // the explicit matrix is onnxruntime's operator (so the measured norm is the file's)
      const { a, rows, cols } = explicitMatrix(c, w);
      const [ho, wo] = outSize(c);
      let err = 0;
      for (let n = 0; n < 2; n++)
        for (let r = 0; r < rows; r++) {
          let acc = bias[Math.floor(r / (ho * wo))];
          for (let k = 0; k < cols; k++) acc += a[r * cols + k] * x[n * size + k];
          err = Math.max(err, Math.abs(acc - got[n * rows + r]));
        }
      expect(err).toBeLessThan(1e-4);
      const measured = powerIterationSigma(a, rows, cols, 600, (i) => Math.sin(2 * i + 1));
      const bound = lipschitzBound(bytes);
      expect(bound.warnings).toEqual([]);
      expect(bound.total).toBeGreaterThanOrEqual(measured);
      expect(bound.total).toBeLessThan(measured * (1 + 1e-4));
      if (!c.translatable) {
        expect(() => translateOnnx(readOnnxModel(bytes))).toThrow(/not supported/);
        return;
      }
      const f = translateOnnx(readOnnxModel(bytes));
      try {
        const y = f(tf.tensor4d(x, [2, ...c.input]));
        expect(maxAbsDiff(Float32Array.from(y.dataSync()), got)).toBeLessThan(1e-5);
        y.dispose();
      } finally {
        f.dispose();
      }
    },
    60_000,
  );

  test('refuses output_shape and auto_pad with one clear error', () => {
    for (const attrs of [{ output_shape: [6, 6] }, { auto_pad: 'SAME_UPPER', strides: [2, 2] }]) {
      const b = new GraphBuilder({ opset: 17 });
      b.input('x', 'float32', ['N', 2, 3, 3]);
      b.node('ConvTranspose', ['x', b.initializer('w', new Float32Array(2 * 2 * 9), [2, 2, 3, 3])], attrs, { outputs: ['y'] });
      b.output('y', ['N', 2, 6, 6]);
      expect(() => lipschitzBound(b.toBytes())).toThrow(/output_shape|explicit pads/);
    }
  });
});
