/**
 * Export of issue 16's Householder, LayerCentering, BatchCentering and
 * FrobeniusDense(disjointNeurons): onnxruntime-node against the tfjs model
 * (<= 1e-5), in both profiles, the ops written, and the Lipschitz constant
 * the metadata states.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl, LayersModel } from '@tensorflow/tfjs-layers';
import { onnx } from 'onnx-proto';
import { maxAbsDiff, normalArray, sizeOf } from '@lip/test-support';
import { predictOrt, toOnnxLayout } from '@lip/test-support/ort';
import { predictTfjs, QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';
import * as L from '@lip/train';
import { buildOnnx } from './export';

const TOL = 1e-5;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A LipschitzSequential of `make()` on `inputShape` (flattened at the end), random weights, biases included. */
function lipModel(inputShape: number[], make: () => tfl.Layer[], seed = 1): L.LipschitzSequential {
  const model = new L.LipschitzSequential({ layers: [tfl.inputLayer({ inputShape }), ...make()], logger: QUIET_LOGGER });
  if (model.outputs[0].shape.length > 2) model.add(tfl.flatten());
  randomizeWeights(model, seed, 0.8);
  return model;
}

/** Largest |onnxruntime - tfjs| over a random batch, and the file. */
async function parity(
  model: LayersModel,
  portable: boolean,
  batch = 4,
  seed = 9,
): Promise<{ diff: number; bytes: Uint8Array; metadata: Record<string, string> }> {
  const shape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  const data = normalArray(sizeOf(shape), seed);
  const reference = predictTfjs(model, data, shape);
  const { bytes, metadata } = buildOnnx(model, { portable });
  const x = toOnnxLayout(data, shape);
  const got = await predictOrt(bytes, x.data, x.dims);
  return { diff: maxAbsDiff(got, reference), bytes, metadata };
}

function opTypes(bytes: Uint8Array): string[] {
  return onnx.ModelProto.decode(bytes).graph!.node.map((n) => n.opType);
}

/** BatchCentering layers after a few training calls (so their running means are not zero). */
function warmUp(model: L.LipschitzSequential, seed: number): void {
  const shape = [8, ...(model.inputs[0].shape.slice(1) as number[])];
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      model.apply(tf.add(tf.randomNormal(shape, 0, 1, 'float32', seed + i), 1.5), { training: true });
    });
  }
}

const CASES: { name: string; input: number[]; make: () => tfl.Layer[]; ops: string[] }[] = [
  { name: 'Householder on [F]', input: [10], make: () => [new L.Householder({ theta: 0.4 })], ops: ['Gemm', 'Split', 'Concat'] },
  { name: 'Householder on [H, W, C]', input: [3, 4, 6], make: () => [new L.Householder()], ops: ['Transpose', 'MatMul', 'Split', 'Concat'] },
  { name: 'LayerCentering on [F]', input: [9], make: () => [new L.LayerCentering()], ops: ['GlobalAveragePool', 'Sub', 'Add'] },
  { name: 'LayerCentering on [H, W, C], spatial (default)', input: [4, 3, 5], make: () => [new L.LayerCentering()], ops: ['GlobalAveragePool', 'Sub'] },
  {
    name: 'LayerCentering on [H, W, C], channels',
    input: [3, 4, 5],
    make: () => [new L.LayerCentering({ axis: -1 })],
    ops: ['Transpose', 'GlobalAveragePool'],
  },
  {
    name: 'LayerCentering on [H, W, C], width and channels, no bias',
    input: [3, 4, 5],
    make: () => [new L.LayerCentering({ axis: [2, 3], useBias: false })],
    ops: ['Transpose', 'GlobalAveragePool'],
  },
  { name: 'BatchCentering on [F]', input: [7], make: () => [new L.BatchCentering()], ops: ['Add'] },
  { name: 'BatchCentering on [H, W, C]', input: [3, 3, 4], make: () => [new L.BatchCentering({ momentum: 0.5 })], ops: ['Add'] },
  {
    name: 'a small network of all of them, ending in FrobeniusDense(disjointNeurons)',
    input: [6, 6, 2],
    make: () => [
      new L.SpectralConv2D({ filters: 4, kernelSize: 3, seed: 1 }),
      new L.BatchCentering(),
      new L.Householder({ theta: 2 }),
      new L.LayerCentering(),
      tfl.flatten(),
      new L.SpectralDense({ units: 8, seed: 2 }),
      new L.LayerCentering(),
      new L.Householder(),
      new L.FrobeniusDense({ units: 5, disjointNeurons: true }),
    ],
    ops: ['Conv', 'Gemm'],
  },
];

describe.each([false, true])('portable %s', (portable) => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s: onnxruntime matches tfjs within 1e-5', async (_name, c) => {
    const model = lipModel(c.input, c.make, 3);
    warmUp(model, 20);
    const { diff, bytes } = await parity(model, portable);
    expect(diff).toBeLessThanOrEqual(TOL);
    const ops = opTypes(bytes);
    for (const op of c.ops) expect(ops).toContain(op);
    if (c.name.startsWith('Householder')) expect(ops.filter((o) => o === 'Min' || o === 'Max').length).toBe(portable ? 0 : 2);
  });
});

describe('the Lipschitz constant written to the metadata', () => {
  test('FrobeniusDense(disjointNeurons) as the head: lipschitz_constant is L_body k sqrt(classes), head_body_lipschitz L_body', () => {
    // kCoefLip 4 over two linear layers: 2 each.
    const model = new L.LipschitzSequential({
      layers: [
        tfl.inputLayer({ inputShape: [6] }),
        new L.SpectralDense({ units: 8 }),
        new L.GroupSort2(),
        new L.FrobeniusDense({ units: 5, disjointNeurons: true }),
      ],
      kCoefLip: 4,
      logger: QUIET_LOGGER,
    });
    randomizeWeights(model, 2, 1);
    const { metadata } = buildOnnx(model);
    expect(Number(metadata.lipschitz_constant)).toBeCloseTo(4 * Math.sqrt(5), 12);
    expect(Number(metadata.head_body_lipschitz)).toBe(2);
    // The head's rows have norm 2 (its share of k): ||w_i - w_j|| <= 4; random rows are about 2 sqrt(2) apart.
    const rows = (JSON.parse(metadata.head_row_distances) as number[][]).flat();
    expect(Math.max(...rows)).toBeLessThanOrEqual(4 * (1 + 1e-6));
    expect(rows.reduce((a, d) => a + d, 0) / (25 - 5)).toBeGreaterThan(2);
  });

  test('centering and Householder layers count as 1', () => {
    const model = lipModel([3, 3, 4], () => [
      new L.BatchCentering(),
      new L.LayerCentering(),
      new L.Householder(),
      tfl.flatten(),
      new L.SpectralDense({ units: 3 }),
    ]);
    expect(Number(buildOnnx(model).metadata.lipschitz_constant)).toBe(1);
  });
});
