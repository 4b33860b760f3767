/**
 * Issue 16's residual layers: AOL (AOLDense, AOLConv2D), SLL (SLLDense,
 * SLLConv2D) and LipResidual. Each is checked against its reference formula
 * (test/fixtures/residual-reference.json, tools/make-residual-fixtures.py),
 * its Lipschitz constant is measured (largest singular value of the kernel,
 * of the conv operator or of the Jacobian at random points, in float64), and
 * it trains, saves and loads as the other layers do.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { layers as tfl } from '@tensorflow/tfjs-layers';
import { maxAbsDiff, maxRelDiff } from '@lip/test-support';
import { ROOT } from '@lip/test-support/files';
import { sigmaMax } from '@lip/test-support/linalg';
import { convOperatorNormExplicit, maxRatio, spectralNorm } from '@lip/test-support/measure';
import { QUIET_LOGGER, randomizeWeights, saveAndLoad, scrambleRawKernel } from '@lip/test-support/tf';
import { selectBackend } from '../backend';
import { InvalidArgumentError } from '../errors';
import { GroupSort2 } from './activations';
import { AOLConv2D, AOLDense } from './aol';
import { LipschitzSequential } from './lipschitz_sequential';
import { LipResidual } from './residual';
import { SLLConv2D, SLLDense } from './sll';
import { SpectralDense } from './spectral_dense';

interface Flat {
  shape: number[];
  data: number[];
}
const FIXTURE = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/residual-reference.json'), 'utf8')) as {
  aol_dense: { kernel: Flat; rescaled: Flat }[];
  aol_conv: { kernel: Flat; rescaled: Flat }[];
  sll_dense: { weight: Flat; bias: Flat; q: Flat; x: Flat; t: Flat; y: Flat }[];
  sll_conv: { kernel: Flat; bias: Flat; q: Flat; x: Flat; t: Flat; y: Flat; t_weighted: Flat }[];
  lip_residual: { alpha_raw: number; kernel: Flat; bias: Flat; x: Flat; y: Flat }[];
};

const tensor = (f: Flat): tf.Tensor => tf.tensor(f.data, f.shape);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** `layer` applied once on zeros of `[1, ...shape]`, so it is built. */
function built<T extends tfl.Layer>(layer: T, shape: number[]): T {
  tf.dispose(layer.apply(tf.zeros([1, ...shape])) as tf.Tensor);
  return layer;
}

/**
 * Largest singular value of the Jacobian of `f` (one sample `[...shape]` ->
 * the same number of values) at `x`, in float64: row j is the gradient of
 * output j.
 */
function jacobianNorm(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): number {
  const d = x.size;
  const rows = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), tf.reshape(tf.oneHot(tf.tensor1d([j], 'int32'), d), x.shape))))(x));
    rows.set(g.dataSync(), j * d);
    g.dispose();
  }
  return sigmaMax(rows, d, d);
}

describe('AOL: the reference rescaling, and at most 1-Lipschitz', () => {
  test.each(FIXTURE.aol_dense.map((c, i) => [i, c] as const))('AOLDense matches the reference (case %i)', (_i, c) => {
    const [nin, nout] = c.kernel.shape;
    const layer = built(new AOLDense({ units: nout }), [nin]);
    layer.rawKernel.assign(tensor(c.kernel));
    expect(maxRelDiff(layer.effectiveKernel(), tensor(c.rescaled))).toBeLessThan(1e-5);
  });

  test.each(FIXTURE.aol_conv.map((c, i) => [i, c] as const))('AOLConv2D matches the reference (case %i)', (_i, c) => {
    const [kh, kw, cin, cout] = c.kernel.shape;
    const layer = built(new AOLConv2D({ filters: cout, kernelSize: [kh, kw] }), [5, 5, cin]);
    layer.rawKernel.assign(tensor(c.kernel));
    expect(maxRelDiff(layer.effectiveKernel(), tensor(c.rescaled))).toBeLessThan(1e-5);
  });

  test.each([
    [7, 4],
    [4, 7],
    [16, 16],
  ])('AOLDense %i -> %i on badly scaled raw kernels: the measured norm is <= 1 (and not trivially small)', (nin, nout) => {
    const layer = built(new AOLDense({ units: nout, seed: 3 }), [nin]);
    // Orthonormal rows (P P^T = I) are left as they are.
    if (nin <= nout) expect(spectralNorm(layer.effectiveKernel())).toBeCloseTo(1, 5);
    for (let s = 0; s < 4; s++) {
      scrambleRawKernel(layer, 10 + s);
      const norm = spectralNorm(layer.effectiveKernel());
      expect(norm).toBeLessThanOrEqual(1 + 1e-6);
      expect(norm).toBeGreaterThan(0.2);
    }
  });

  test.each([
    [[3, 3], 1, 'same', 2, 4],
    [[3, 3], 1, 'valid', 3, 2],
    [[2, 3], 2, 'same', 2, 3],
  ] as const)('AOLConv2D %j stride %i %s (%i -> %i): the measured operator norm is <= 1', (kernelSize, strides, padding, cin, cout) => {
    const layer = built(new AOLConv2D({ filters: cout, kernelSize: [...kernelSize], strides, padding, seed: 2 }), [6, 5, cin]);
    for (let s = 0; s < 3; s++) {
      scrambleRawKernel(layer, 20 + s);
      const norm = convOperatorNormExplicit(layer.effectiveKernel(), [6, 5, cin], [strides, strides], padding);
      expect(norm).toBeLessThanOrEqual(1 + 1e-6);
      expect(norm).toBeGreaterThan(0.2);
    }
  });

  test('AOLConv2D starts as an orthogonal conv (orthogonal center tap): norm 1, unchanged by the rescaling', () => {
    const layer = built(new AOLConv2D({ filters: 4, kernelSize: 3, seed: 5 }), [5, 5, 4]);
    expect(convOperatorNormExplicit(layer.effectiveKernel(), [5, 5, 4], [1, 1], 'same')).toBeCloseTo(1, 5);
    expect(maxAbsDiff(layer.effectiveKernel(), layer.rawKernel)).toBeLessThan(1e-6);
  });
});

describe('SLL: the reference layers, and 1-Lipschitz', () => {
  test.each(FIXTURE.sll_dense.map((c, i) => [i, c] as const))('SLLDense matches the reference (case %i)', (_i, c) => {
    const [k, n] = c.weight.shape;
    const layer = built(new SLLDense({ innerUnits: k }), [n]);
    layer.setWeights([tf.transpose(tensor(c.weight)), tf.reshape(tensor(c.bias), [k]), tensor(c.q)]);
    const { kernel, bias, scales } = layer.exportWeights();
    expect(maxRelDiff(scales, tensor(c.t))).toBeLessThan(1e-5);
    expect(maxAbsDiff(layer.apply(tensor(c.x)) as tf.Tensor, tensor(c.y))).toBeLessThan(1e-5);
    tf.dispose([kernel, bias!, scales]);
  });

  test.each(FIXTURE.sll_conv.map((c, i) => [i, c] as const))('SLLConv2D matches the reference (case %i)', (_i, c) => {
    const [k, ch, kh, kw] = c.kernel.shape;
    const [, , h, w] = c.x.shape;
    const layer = built(new SLLConv2D({ innerChannels: k, kernelSize: [kh, kw] }), [h, w, ch]);
    // The reference's conv q cancels (q_i^-1 q_i): lip's q weights the Gram as the paper does, equal at q = 0.
    layer.setWeights([tf.transpose(tensor(c.kernel), [2, 3, 1, 0]), tf.reshape(tensor(c.bias), [k]), tf.zeros([k])]);
    expect(maxRelDiff(layer.exportWeights().scales, tensor(c.t))).toBeLessThan(1e-5);
    const y = layer.apply(tf.transpose(tensor(c.x), [0, 2, 3, 1])) as tf.Tensor;
    expect(maxAbsDiff(tf.transpose(y, [0, 3, 1, 2]), tensor(c.y))).toBeLessThan(1e-5);
    layer.setWeights([tf.transpose(tensor(c.kernel), [2, 3, 1, 0]), tf.reshape(tensor(c.bias), [k]), tensor(c.q)]);
    expect(maxRelDiff(layer.exportWeights().scales, tensor(c.t_weighted))).toBeLessThan(1e-5);
  });

  test.each([
    [6, undefined],
    [5, 9],
    [8, 3],
  ])('SLLDense on [%i] (inner %s) with trained-like weights: Jacobian norms and pair ratios <= 1', (n, innerUnits) => {
    const layer = built(new SLLDense({ innerUnits, seed: 1 }), [n]);
    randomizeWeights(layer, 40 + n, 1, 0.5);
    const f = (x: tf.Tensor): tf.Tensor => layer.apply(x) as tf.Tensor;
    let largest = 0;
    for (let p = 0; p < 6; p++) {
      const norm = jacobianNorm(f, tf.randomNormal([1, n], 0, 1, 'float32', p));
      expect(norm).toBeLessThanOrEqual(1 + 1e-5);
      largest = Math.max(largest, norm);
    }
    expect(largest).toBeGreaterThan(0.5);
    expect(maxRatio(f, [4, n], 9, 3)).toBeLessThanOrEqual(1 + 1e-5);
    expect(layer.lipschitzConstant()).toBe(1);
  });

  test.each([
    [3, 3, 3],
    [2, 5, 1],
  ])('SLLConv2D on [4, 4, %i] (inner %i, %ix%i kernel): Jacobian norms and pair ratios <= 1', (c, inner, ks) => {
    const layer = built(new SLLConv2D({ innerChannels: inner, kernelSize: ks, seed: 2 }), [4, 4, c]);
    randomizeWeights(layer, 60 + c, 1, 0.5);
    const f = (x: tf.Tensor): tf.Tensor => layer.apply(x) as tf.Tensor;
    let largest = 0;
    for (let p = 0; p < 3; p++) {
      const norm = jacobianNorm(f, tf.randomNormal([1, 4, 4, c], 0, 1, 'float32', p));
      expect(norm).toBeLessThanOrEqual(1 + 1e-5);
      largest = Math.max(largest, norm);
    }
    expect(largest).toBeGreaterThan(0.5);
    expect(maxRatio(f, [2, 4, 4, c], 9, 3)).toBeLessThanOrEqual(1 + 1e-5);
  });

  test('bad options are refused, naming the option', () => {
    expect(() => new SLLConv2D({ kernelSize: 2 })).toThrow(InvalidArgumentError);
    expect(() => new SLLConv2D({ kernelSize: 2 })).toThrow("'kernelSize' must be odd");
    expect(() => new SLLDense({ innerUnits: 0 })).toThrow("'innerUnits'");
    expect(() => built(new SLLDense(), [3, 3, 2])).toThrow('expected input [batch, features]');
  });
});

describe('LipResidual: alpha x + (1 - alpha) f(x)', () => {
  test.each(FIXTURE.lip_residual.map((c, i) => [i, c] as const))('matches the reference with f = AOLDense, GroupSort2 (case %i)', (_i, c) => {
    const layer = built(new LipResidual({ layers: [new AOLDense({ units: 6 }), new GroupSort2()] }), [6]);
    expect(layer.getWeights().map((w) => w.shape)).toEqual([[], [6, 6], [6]]);
    layer.setWeights([tf.scalar(c.alpha_raw), tensor(c.kernel), tensor(c.bias)]);
    expect(maxAbsDiff(layer.apply(tensor(c.x)) as tf.Tensor, tensor(c.y))).toBeLessThan(1e-5);
  });

  test('is 1-Lipschitz around a 1-Lipschitz block (measured Jacobian), alpha + (1 - alpha) L_f otherwise', () => {
    const layer = built(new LipResidual({ layers: [new SpectralDense({ units: 8, seed: 1 }), new GroupSort2(), new AOLDense({ units: 8, seed: 2 })] }), [8]);
    randomizeWeights(layer, 70, 1, 0.3);
    for (const l of layer.layers) (l as SpectralDense).updateConstraints?.(100);
    const f = (x: tf.Tensor): tf.Tensor => layer.apply(x) as tf.Tensor;
    for (let p = 0; p < 4; p++) expect(jacobianNorm(f, tf.randomNormal([1, 8], 0, 1, 'float32', p))).toBeLessThanOrEqual(1 + 1e-4);
    expect(layer.lipschitzConstant()).toBe(1);
    // A block with constant 3: the residual is alpha + (1 - alpha) 3, here alpha = 1/4.
    const loose = built(new LipResidual({ layers: [new AOLDense({ units: 5, kCoefLip: 3, seed: 4 })], alpha: 0.25 }), [5]);
    expect(loose.lipschitzConstant()).toBe(0.25 + 0.75 * 3);
    const g = (x: tf.Tensor): tf.Tensor => loose.apply(x) as tf.Tensor;
    const measured = jacobianNorm(g, tf.randomNormal([1, 5], 0, 1, 'float32', 9));
    expect(measured).toBeLessThanOrEqual(loose.lipschitzConstant() * (1 + 1e-6));
    expect(measured).toBeGreaterThan(1.5);
  });

  test('bad blocks and alphas are refused, naming the option', () => {
    expect(() => new LipResidual({ layers: [] })).toThrow("'layers' must be a non-empty array");
    expect(() => new LipResidual({ layers: [tfl.dense({ units: 4 })] })).toThrow(InvalidArgumentError);
    expect(() => new LipResidual({ layers: [tfl.dense({ units: 4 })] })).toThrow('which is not a Lipschitz layer');
    expect(() => new LipResidual({ layers: [new GroupSort2()], alpha: 1.5 })).toThrow("'alpha' must be a number in [0, 1]");
    expect(() => built(new LipResidual({ layers: [new AOLDense({ units: 3 })] }), [4])).toThrow('a residual block must keep the shape of its input');
  });
});

/** A small model with every layer of this file, inner spectral layers included. */
function residualModel(): LipschitzSequential {
  return new LipschitzSequential({
    layers: [
      new SLLConv2D({ innerChannels: 4, seed: 1, inputShape: [4, 4, 2] }),
      new AOLConv2D({ filters: 4, kernelSize: 3, seed: 2 }),
      new GroupSort2(),
      tfl.flatten(),
      new LipResidual({ layers: [new SpectralDense({ units: 64, niterBjorck: 0, seed: 3 }), new GroupSort2()] }),
      new SLLDense({ innerUnits: 32, seed: 4 }),
      new AOLDense({ units: 3, seed: 5 }),
    ],
    logger: QUIET_LOGGER,
  });
}

describe('in a LipschitzSequential', () => {
  test('weights are scoped by layer (unique names), the model saves and loads back bit for bit', async () => {
    const model = residualModel();
    randomizeWeights(model, 80, 0.5, 0.1);
    const names = model.weights.map((w) => w.originalName);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain(`${model.layers[4].name}/${(model.layers[4] as LipResidual).layers[0].name}/kernel`);
    const previous = LipschitzSequential.defaultLogger;
    LipschitzSequential.defaultLogger = QUIET_LOGGER;
    try {
      const { loaded } = await saveAndLoad(model);
      const x = tf.randomNormal([3, 4, 4, 2], 0, 1, 'float32', 1);
      expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
      expect(loaded.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    } finally {
      LipschitzSequential.defaultLogger = previous;
    }
    expect(model.lipschitzConstant()).toBe(1);
  });

  test('updateConstraints() reaches the dense layers inside a LipResidual (train() holds the constraints and calls only it)', () => {
    const model = residualModel();
    const inner = (model.layers[4] as LipResidual).layers[0] as SpectralDense;
    scrambleRawKernel(inner, 90);
    model.updateConstraints(200);
    // Spectral normalization only (no Björck): the kernel's norm is 1 once the power iteration has converged.
    expect(spectralNorm(inner.effectiveKernel())).toBeCloseTo(1, 3);
  });

  test('fit trains every weight: alpha, the inner kernels, SLL q, AOL kernels', async () => {
    const model = residualModel();
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const x = tf.randomNormal([8, 4, 4, 2], 0, 1, 'float32', 2);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3);
    const history = await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
    expect((history.history.loss as number[]).every(Number.isFinite)).toBe(true);
    const changed = model.weights.filter((w, i) => maxAbsDiff(w.read(), before[i]) > 0).map((w) => w.originalName);
    for (const suffix of ['/alpha', 'sll_dense_', '/q', 'aol_conv2d_', '/spectral_dense_']) expect(changed.some((n) => n.includes(suffix))).toBe(true);
    expect(changed.length).toBe(model.trainableWeights.length + 2); // and the inner u, v (power iteration during training)
  });
});

describe('on wasm', () => {
  test('SLLConv2D and AOLConv2D give the cpu values and gradients (explicit-padding conv, adjoint conv)', async () => {
    const run = (): Float32Array[] => {
      const sll = built(new SLLConv2D({ innerChannels: 3, seed: 7 }), [5, 5, 2]);
      const aol = built(new AOLConv2D({ filters: 2, kernelSize: 3, seed: 8 }), [5, 5, 2]);
      randomizeWeights(sll, 100, 0.5, 0.2);
      randomizeWeights(aol, 110, 0.5, 0.2);
      const x = tf.randomNormal([2, 5, 5, 2], 0, 1, 'float32', 3);
      const vars = [...sll.trainableWeights, ...aol.trainableWeights].map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(aol.apply(sll.apply(x)) as tf.Tensor)) as tf.Scalar, vars);
      return [value.dataSync() as Float32Array, ...vars.map((v) => grads[v.name].dataSync() as Float32Array)];
    };
    const cpu = run();
    await selectBackend('wasm');
    try {
      const wasm = run();
      wasm.forEach((w, i) => expect(maxRelDiff(w, cpu[i])).toBeLessThan(1e-4));
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
