/**
 * `lip bound` on issue 16's centering and Householder layers as @lip/export
 * writes them: the centering rule (Sub(y, GlobalAveragePool(y)) is the
 * projection I - 11^T/n, norm 1) against exact constants, its soundness when
 * the pattern differs, and each exported layer bounded by 1 (no warnings),
 * never below what onnxruntime measures.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl } from '@tensorflow/tfjs-layers';
import { GraphBuilder, exportOnnx } from '@lip/export';
import * as L from '@lip/train';
import { measuredPairRatio } from '@lip/test-support/ort';
import { QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';
import { lipschitzBound } from './lipschitz';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** `x - GlobalAveragePool(x * scale)` on `[N, ...dims]` (scale 1: no Mul, the centering itself). */
function centeringGraph(dims: number[], scale = 1): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  b.input('x', 'float32', ['N', ...dims]);
  const averaged = scale === 1 ? 'x' : b.node('Mul', ['x', b.initializer('s', Float32Array.of(scale), [])])[0];
  const [mean] = b.node('GlobalAveragePool', [averaged]);
  b.node('Sub', ['x', mean], {}, { outputs: ['y'] });
  b.output('y', ['N', ...dims]);
  return b.toBytes();
}

describe('the centering rule', () => {
  test.each([[[3, 4, 4]], [[1, 9]], [[5, 2, 3]]])('Sub(x, GlobalAveragePool(x)) on [N, %j]: exactly 1 (the generic Sub rule gives 2)', (dims) => {
    const r = lipschitzBound(centeringGraph(dims));
    expect(r.total).toBeGreaterThanOrEqual(1);
    expect(r.total).toBeLessThanOrEqual(1 + 1e-12);
    expect(r.warnings).toEqual([]);
    expect(r.layers.find((l) => l.op === 'Sub')?.method).toMatch(/centering/);
  });

  test('not applied to x - mean(3 x): the map I - 3 P has norm 2, and the bound stays above it', () => {
    const r = lipschitzBound(centeringGraph([2, 4, 4], 3));
    expect(r.total).toBeGreaterThanOrEqual(2);
  });

  test('adding a constant keeps the bound exactly (a translation: no ulp added)', () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 3, 2, 2]);
    b.node('Add', ['x', b.initializer('c', Float32Array.of(1, -2, 3), [3, 1, 1])], {}, { outputs: ['y'] });
    b.output('y', ['N', 3, 2, 2]);
    expect(lipschitzBound(b.toBytes()).total).toBe(1);
  });

  test('a window of one value: x - mean(x) = 0, bounded by 1 (sound, if loose)', () => {
    const r = lipschitzBound(centeringGraph([3, 1, 1]));
    expect(r.total).toBeLessThanOrEqual(1 + 1e-12);
  });
});

/** One layer (then Flatten) as @lip/export writes it, with random weights. */
function exported(input: number[], layer: tfl.Layer, portable: boolean, seed: number): Uint8Array {
  const model = new L.LipschitzSequential({ layers: [tfl.inputLayer({ inputShape: input }), layer], logger: QUIET_LOGGER });
  if (input.length === 3) model.add(tfl.flatten());
  randomizeWeights(model, seed, 1.5);
  if (layer instanceof L.BatchCentering) model.apply(tf.randomNormal([4, ...input], 2, 1, 'float32', seed), { training: true });
  return exportOnnx(model, { portable });
}

const LAYERS: { name: string; input: number[]; make: () => tfl.Layer }[] = [
  { name: 'Householder on [F]', input: [12], make: () => new L.Householder({ theta: 0.7 }) },
  { name: 'Householder on [H, W, C]', input: [4, 4, 8], make: () => new L.Householder({ theta: -1.3 }) },
  { name: 'Householder at its default angle', input: [6], make: () => new L.Householder() },
  { name: 'LayerCentering on [F]', input: [10], make: () => new L.LayerCentering() },
  { name: 'LayerCentering spatial', input: [4, 5, 3], make: () => new L.LayerCentering() },
  { name: 'LayerCentering per pixel', input: [4, 5, 3], make: () => new L.LayerCentering({ axis: -1 }) },
  { name: 'LayerCentering whole sample', input: [3, 2, 4], make: () => new L.LayerCentering({ axis: [1, 2, 3] }) },
  { name: 'BatchCentering on [H, W, C]', input: [3, 3, 4], make: () => new L.BatchCentering() },
];

describe.each([false, true])("exported layers (portable %s): lip bound <= 1, no warnings, >= onnxruntime's ratios", (portable) => {
  test.each(LAYERS.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const bytes = exported(c.input, c.make(), portable, 3);
    const r = lipschitzBound(bytes);
    expect(r.warnings).toEqual([]);
    expect(r.total).toBeLessThanOrEqual(1);
    const dims = c.input.length === 3 ? [c.input[2], c.input[0], c.input[1]] : c.input;
    const measured = await measuredPairRatio(bytes, dims, 16, 5, (t) => (t % 2 === 0 ? 0.05 : 1));
    expect(measured).toBeLessThanOrEqual(r.total * (1 + 1e-5));
    // Householder and BatchCentering are isometric pieces; a centering loses the mean: the ratio is large but below 1.
    expect(measured).toBeGreaterThan(0.5);
  });
});
