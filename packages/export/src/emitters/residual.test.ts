/**
 * Export of issue 16's residual layers (AOL, SLL, LipResidual): onnxruntime
 * computes what tfjs computes (<= 1e-5), in both profiles, with plain ONNX
 * ops; the SLL weights are written so that their certificate holds.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl, LayersModel } from '@tensorflow/tfjs-layers';
import { onnx } from 'onnx-proto';
import { sllDenseNormSquaredUpperBound } from '@lip/core';
import * as L from '@lip/train';
import { maxAbsDiff, normalArray, sizeOf } from '@lip/test-support';
import { predictOrt, toOnnxLayout } from '@lip/test-support/ort';
import { predictTfjs, QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';
import { buildOnnx } from '../export';
import { complementBelow } from './residual';

const TOL = 1e-5;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A LipschitzSequential of `make()` on `inputShape` (flattened at the end when spatial), weights randomized as after training. */
function lipModel(inputShape: number[], make: () => tfl.Layer[], seed = 1): L.LipschitzSequential {
  const model = new L.LipschitzSequential({ layers: [tfl.inputLayer({ inputShape }), ...make()], logger: QUIET_LOGGER });
  if (model.outputs[0].shape.length > 2) model.add(tfl.flatten());
  randomizeWeights(model, seed, 0.5, 0.2);
  model.updateConstraints(300);
  return model;
}

/** onnxruntime against tfjs's `predict` on a random batch. */
async function parity(model: LayersModel, portable: boolean): Promise<{ diff: number; bytes: Uint8Array; metadata: Record<string, string> }> {
  const shape = [3, ...(model.inputs[0].shape.slice(1) as number[])];
  const data = normalArray(sizeOf(shape), 5);
  const reference = predictTfjs(model, data, shape);
  const { bytes, metadata } = buildOnnx(model, { portable });
  const x = toOnnxLayout(data, shape);
  return { diff: maxAbsDiff(await predictOrt(bytes, x.data, x.dims), reference), bytes, metadata };
}

function graph(bytes: Uint8Array): onnx.IGraphProto {
  return onnx.ModelProto.decode(bytes).graph!;
}

const CASES: { name: string; input: number[]; make: () => tfl.Layer[] }[] = [
  { name: 'AOLDense', input: [9], make: () => [new L.AOLDense({ units: 5, seed: 1 })] },
  { name: 'AOLDense pixelwise on [H, W, C]', input: [3, 2, 4], make: () => [new L.AOLDense({ units: 3, seed: 1 })] },
  { name: 'AOLConv2D 3x3 same', input: [6, 5, 2], make: () => [new L.AOLConv2D({ filters: 4, kernelSize: 3, seed: 2 })] },
  {
    name: 'AOLConv2D 3x2 stride 2 valid',
    input: [7, 6, 3],
    make: () => [new L.AOLConv2D({ filters: 2, kernelSize: [3, 2], strides: 2, padding: 'valid', seed: 2 })],
  },
  { name: 'SLLDense', input: [7], make: () => [new L.SLLDense({ seed: 3 })] },
  { name: 'SLLDense, wider inner layer, no bias', input: [5], make: () => [new L.SLLDense({ innerUnits: 11, useBias: false, seed: 3 })] },
  { name: 'SLLConv2D 3x3', input: [5, 4, 3], make: () => [new L.SLLConv2D({ innerChannels: 6, seed: 4 })] },
  { name: 'SLLConv2D 1x3', input: [4, 5, 2], make: () => [new L.SLLConv2D({ kernelSize: [1, 3], seed: 4 })] },
  {
    name: 'LipResidual around AOLDense, GroupSort2 (learned alpha)',
    input: [6],
    make: () => [new L.LipResidual({ layers: [new L.AOLDense({ units: 6, seed: 5 }), new L.GroupSort2()] })],
  },
  {
    name: 'LipResidual around a spectral conv block on [H, W, C], alpha fixed at 0.3',
    input: [4, 4, 4],
    make: () => [
      new L.LipResidual({
        layers: [
          new L.SpectralConv2D({ filters: 4, kernelSize: 3, niterBjorck: 0, seed: 6 }),
          new L.MaxMin(),
          new L.AOLConv2D({ filters: 4, kernelSize: 1, seed: 7 }),
        ],
        alpha: 0.3,
      }),
    ],
  },
  {
    name: 'LipResidual around SLLDense and a nested LipResidual',
    input: [8],
    make: () => [new L.LipResidual({ layers: [new L.SLLDense({ seed: 8 }), new L.LipResidual({ layers: [new L.GroupSort2()], alpha: 1 })] })],
  },
];

describe('exportOnnx: the residual layers match tfjs in onnxruntime-node', () => {
  for (const c of CASES) {
    for (const portable of [false, true]) {
      it(`${c.name}${portable ? ' (portable)' : ''}`, async () => {
        const model = lipModel(c.input, c.make);
        const { diff, metadata } = await parity(model, portable);
        expect(diff).toBeLessThanOrEqual(TOL);
        expect(Number(metadata.lipschitz_constant)).toBe(model.lipschitzConstant());
        model.dispose();
      });
    }
  }
});

describe('the emitted graphs', () => {
  it('SLLDense: Gemm, Relu, Mul, Gemm, Sub, the second Gemm reading the exact transpose of the first weight, as its own initializer', () => {
    const model = lipModel([6], () => [new L.SLLDense({ innerUnits: 4, seed: 3 })]);
    const g = graph(buildOnnx(model).bytes);
    expect(g.node.map((n) => n.opType)).toEqual(['Gemm', 'Relu', 'Mul', 'Gemm', 'Sub']);
    // Two initializers (OpenCV DNN transposes a shared Gemm constant in place), both read with transB = 1.
    expect(g.node[0].input[1]).not.toBe(g.node[3].input[1]);
    const trans = (n: onnx.INodeProto): number => Number(n.attribute!.find((a) => a.name === 'transB')!.i);
    expect([trans(g.node[0]), trans(g.node[3])]).toEqual([1, 1]);
    const values = (name: string): { dims: number[]; data: Float32Array } => {
      const t = g.initializer!.find((i) => i.name === name)!;
      const raw = t.rawData!;
      return { dims: t.dims!.map(Number), data: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) };
    };
    const a = values(g.node[0].input[1]);
    const w = values(g.node[3].input[1]);
    expect([a.dims, w.dims]).toEqual([
      [4, 6],
      [6, 4],
    ]);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 4; j++) expect(w.data[i * 4 + j]).toBe(a.data[j * 6 + i]);
  });

  it('SLL scales whose certificate lands above 2 (orthogonal W: exactly 2, plus the safety margin) are brought under it', () => {
    const layer = new L.SLLDense({ seed: 1 });
    const model = lipModel([6], () => [layer]);
    // Orthonormal columns and q = 0: T = W^T W = I, g = 2t = 2, ||diag(g)^1/2 W^T||^2 = 2 exactly.
    layer.setWeights([L.lipLayers.spectralDense({ units: 6, seed: 9 }).apply(tf.eye(6)) as tf.Tensor, tf.zeros([6]), tf.zeros([6])]);
    const w = layer.exportWeights();
    const a = Float32Array.from(tf.transpose(w.kernel).dataSync());
    const g0 = Float32Array.from(w.scales.dataSync(), (t) => 2 * t);
    expect(sllDenseNormSquaredUpperBound(a, 6, 6, g0)).toBeGreaterThan(2);
    const { bytes } = buildOnnx(model);
    const init = graph(bytes).initializer!.find((t) => t.name === graph(bytes).node[2].input[1])!;
    const raw = init.rawData!;
    const g = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    expect(sllDenseNormSquaredUpperBound(a, 6, 6, g)).toBeLessThanOrEqual(2);
    expect(maxAbsDiff(g, g0)).toBeLessThan(2 * 1e-5);
  });

  it("LipResidual's constants: a + b < 1 by a float32 ulp, b within one of 1 - a", () => {
    for (const a of [0, 1, 0.5, 0.25, Math.fround(0.3), Math.fround(0.7), Math.fround(1e-30), Math.fround(1 - 2 ** -24)]) {
      const b = complementBelow(a);
      expect(Math.fround(b)).toBe(b);
      expect(b).toBeGreaterThanOrEqual(0);
      if (a < 1) {
        expect(a + b).toBeLessThan(1);
        expect(1 - a - b).toBeLessThanOrEqual(3 * 2 ** -24);
        // The strict margin covers the bound's float64 rounding of a L + b L (a few 2^-52).
        expect(1 - (a + b)).toBeGreaterThan(16 * 2 ** -52);
      } else expect(b).toBe(0);
    }
  });

  it('a LipResidual whose block holds a layer without an emitter is refused, naming it', () => {
    class Unexportable extends L.LipschitzActivationBase {
      static className = 'Test>Unexportable';
      constructor() {
        super({}, 'unexportable');
      }
      override call(x: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return Array.isArray(x) ? x[0] : x;
      }
    }
    const model = lipModel([4], () => [new L.LipResidual({ layers: [new Unexportable()] })]);
    expect(() => buildOnnx(model)).toThrow(L.ModelError);
    expect(() => buildOnnx(model)).toThrow(
      /cannot export layer 'lip_residual_\d+' \(Lip>LipResidual\): no ONNX emitter for its inner layer 'unexportable_\d+' \(Test>Unexportable\)/,
    );
  });
});
