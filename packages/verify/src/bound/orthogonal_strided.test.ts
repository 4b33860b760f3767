/**
 * Strided and transposed orthogonal convolutions, end to end: the exported
 * ONNX matches the tfjs twin in onnxruntime-node (and the attack translator),
 * in both profiles, and `lip bound` certifies
 * it at most 1 and at least the measured operator norm of the exported
 * file (float64 power iteration on its conv's explicit matrix and adjoint).
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { layers as tfl, LayersModel } from '@tensorflow/tfjs-layers';
import { onnx } from 'onnx-proto';
import { exportOnnx } from '@lip/export';
import * as L from '@lip/train';
import { maxAbsDiff, normalArray, sizeOf } from '@lip/test-support';
import { convMatrix, powerIterationSigma } from '@lip/test-support/linalg';
import { predictOrt, toOnnxLayout } from '@lip/test-support/ort';
import { predictTfjs, QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';
import { readOnnxModel } from '../onnx/read';
import { translateOnnx } from '../translate/translate';
import { lipschitzBound } from './lipschitz';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Largest singular value by power iteration on A^T A, float64. */
interface Case {
  name: string;
  input: [number, number, number];
  make: () => L.OrthogonalConv2D;
  /** The ONNX ops the layer must export to (no strided Conv, no ConvTranspose). */
  ops: string[];
}

const CASES: Case[] = [
  {
    name: 'OrthogonalConv2D 3x3 stride 2 same, 2 -> 8',
    input: [6, 8, 2],
    make: () => new L.OrthogonalConv2D({ filters: 8, kernelSize: 3, strides: 2, seed: 2 }),
    ops: ['Reshape', 'Transpose', 'Reshape', 'Conv'],
  },
  {
    name: 'OrthogonalConv2D 3x3 stride [2, 1] valid, 3 -> 4',
    input: [8, 5, 3],
    make: () => new L.OrthogonalConv2D({ filters: 4, kernelSize: 3, strides: [2, 1], padding: 'valid', seed: 3 }),
    ops: ['Reshape', 'Transpose', 'Reshape', 'Conv'],
  },
  {
    name: 'OrthogonalConv2DTranspose 3x3 stride 2 same, 8 -> 2',
    input: [3, 4, 8],
    make: () => new L.OrthogonalConv2DTranspose({ filters: 2, kernelSize: 3, strides: 2, seed: 4 }),
    ops: ['Conv', 'Reshape', 'Transpose', 'Reshape', 'Add'],
  },
  {
    name: 'OrthogonalConv2DTranspose 3x3 stride 2 valid, 3 -> 3',
    input: [3, 3, 3],
    make: () => new L.OrthogonalConv2DTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'valid', seed: 5 }),
    ops: ['Conv', 'Reshape', 'Transpose', 'Reshape', 'Add'],
  },
];

/**
 * The exported file's one Conv (stride 1, between permutations of the
 * pixels, so it carries the model's whole norm) as a float64 matrix on its
 * input grid: the coarse grid of a strided layer, the input of a transposed one.
 */
function exportedConvMatrix(bytes: Uint8Array, layer: L.OrthogonalConv2D, input: number[]): { a: Float64Array; rows: number; cols: number } {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const conv = graph.node.find((n) => n.opType === 'Conv')!;
  const weight = graph.initializer.find((t) => t.name === conv.input[1])!;
  const [cout, cin, kh, kw] = weight.dims.map(Number);
  const raw = weight.rawData!;
  const values =
    weight.floatData.length > 0 ? Float32Array.from(weight.floatData) : new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const pads = conv.attribute.find((at) => at.name === 'pads')!.ints.map(Number) as [number, number, number, number];
  const transposed = layer instanceof L.OrthogonalConv2DTranspose;
  const [h, w] = transposed ? [input[0], input[1]] : [input[0] / layer.strides[0], input[1] / layer.strides[1]];
  return convMatrix(values, { layout: 'oihw', cin, cout, kh, kw, h, w, pads });
}

describe('strided and transposed orthogonal convolutions: export and lip bound', () => {
  test.each(CASES.flatMap((c) => [false, true].map((portable) => [c.name, portable, c] as const)))(
    '%s, portable %s',
    async (_name, portable, c) => {
      const layer = c.make();
      const model: LayersModel = new L.LipschitzSequential({ layers: [tfl.inputLayer({ inputShape: c.input }), layer, tfl.flatten()], logger: QUIET_LOGGER });
      randomizeWeights(model, 11, 0.5);
      const bytes = exportOnnx(model, { portable });
      const ops = onnx.ModelProto.decode(bytes).graph!.node.map((n) => n.opType);
      for (const op of c.ops) expect(ops).toContain(op);
      expect(ops).not.toContain('ConvTranspose');
      // parity with the converged tfjs twin
      const shape = [3, ...c.input];
      const data = normalArray(sizeOf(shape), 5);
      const twin = (model as unknown as { vanillaExport(o: { converge: boolean }): LayersModel }).vanillaExport({ converge: true });
      const reference = predictTfjs(twin, data, shape);
      twin.dispose();
      const x = toOnnxLayout(data, shape);
      const ort = await predictOrt(bytes, x.data, x.dims);
      expect(maxAbsDiff(ort, reference)).toBeLessThanOrEqual(1e-5);
      // the attack translator runs the same graph
      const translated = translateOnnx(readOnnxModel(bytes));
      try {
        const y = translated(tf.tensor4d(x.data, x.dims as [number, number, number, number]));
        expect(maxAbsDiff(Float32Array.from(y.dataSync()), ort)).toBeLessThanOrEqual(1e-5);
        y.dispose();
      } finally {
        translated.dispose();
      }
      // the certified bound sits between the measured norm and 1
      const { a, rows, cols } = exportedConvMatrix(bytes, layer, c.input);
      const measured = powerIterationSigma(a, rows, cols, 400, (i) => Math.cos(3 * i + 1));
      expect(measured).toBeGreaterThan(0.9);
      const bound = lipschitzBound(bytes);
      expect(bound.warnings).toEqual([]);
      expect(bound.total).toBeLessThanOrEqual(1);
      expect(bound.total).toBeGreaterThanOrEqual(measured);
      // tight: a strided conv exported as one Conv would get its stride-1 circular bound (about s)
      expect(bound.total).toBeLessThan(measured * 1.05);
    },
    60_000,
  );
});
