import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl, LayersModel, sequential } from '@tensorflow/tfjs-layers';
import { onnx } from 'onnx-proto';
import { ModelError } from '@lip/train';
import { maxAbsDiff, normalArray, sizeOf } from '@lip/test-support';
import { onnxFullCheck, pythonWithOnnx } from '@lip/test-support/onnx';
import { predictOrt, predictOrtWeb, toOnnxLayout } from '@lip/test-support/ort';
import { predictTfjs, QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';
import { exportOnnx, MAX_OPSET, MIN_OPSET } from './export';
import * as L from '@lip/train';

const TOL = 1e-5;
const PROFILES = [false, true] as const;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * A LipschitzSequential of `make()` on `inputShape`, flattened at the end
 * when the last layer is spatial, with random weights.
 */
function lipModel(inputShape: number[], make: () => tfl.Layer[], seed = 1, kCoefLip = 1): LayersModel {
  const model = new L.LipschitzSequential({ layers: [tfl.inputLayer({ inputShape }), ...make()], logger: QUIET_LOGGER, kCoefLip });
  if (model.outputs[0].shape.length > 2) model.add(tfl.flatten());
  randomizeWeights(model, seed, 0.5); // biases too, so they are tested
  return model;
}

interface Comparison {
  diff: number;
  bytes: Uint8Array;
  x: { data: Float32Array; dims: number[] };
  reference: Float32Array;
}

/**
 * Exports `model` and compares onnxruntime with the tfjs reference: the model's
 * vanilla twin with converged weights (what the export promises to contain).
 */
async function compare(model: LayersModel, portable: boolean, batch = 3, seed = 7): Promise<Comparison> {
  const inShape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  const data = normalArray(sizeOf(inShape), seed);
  const twin = (model as unknown as { vanillaExport(o: { converge: boolean }): LayersModel }).vanillaExport({ converge: true });
  const reference = predictTfjs(twin, data, inShape);
  twin.dispose();
  const bytes = exportOnnx(model, { portable });
  const x = toOnnxLayout(data, inShape);
  const got = await predictOrt(bytes, x.data, x.dims);
  return { diff: maxAbsDiff(got, reference), bytes, x, reference };
}

function opTypes(bytes: Uint8Array): string[] {
  return onnx.ModelProto.decode(bytes).graph!.node.map((n) => n.opType);
}

function metadata(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(onnx.ModelProto.decode(bytes).metadataProps.map((p) => [p.key, p.value]));
}

/** One exportable layer (or a short stack) on an input shape. */
interface LayerCase {
  name: string;
  input: number[];
  make: () => tfl.Layer[];
}

const LAYER_CASES: LayerCase[] = [
  { name: 'SpectralDense', input: [12], make: () => [new L.SpectralDense({ units: 5 })] },
  { name: 'SpectralDense without bias', input: [6], make: () => [new L.SpectralDense({ units: 6, useBias: false })] },
  { name: 'SpectralDense pixelwise on [H, W, C]', input: [3, 4, 5], make: () => [new L.SpectralDense({ units: 3 })] },
  { name: 'FrobeniusDense', input: [7], make: () => [new L.FrobeniusDense({ units: 4 })] },
  { name: 'SpectralConv2D 3x3 same', input: [6, 5, 2], make: () => [new L.SpectralConv2D({ filters: 4, kernelSize: 3 })] },
  {
    name: 'SpectralConv2D 2x2 stride 2 same on odd input (pad at the end)',
    input: [7, 5, 3],
    make: () => [new L.SpectralConv2D({ filters: 4, kernelSize: [2, 3], strides: 2, padding: 'same' })],
  },
  {
    name: 'SpectralConv2D 3x3 stride 2 valid',
    input: [8, 7, 2],
    make: () => [new L.SpectralConv2D({ filters: 3, kernelSize: 3, strides: [2, 1], padding: 'valid' })],
  },
  { name: 'FrobeniusConv2D', input: [5, 5, 3], make: () => [new L.FrobeniusConv2D({ filters: 2, kernelSize: 3 })] },
  { name: 'OrthogonalConv2D 3x3 same, expanding', input: [5, 6, 3], make: () => [new L.OrthogonalConv2D({ filters: 6, kernelSize: 3, seed: 2 })] },
  {
    name: 'OrthogonalConv2D 5x5 valid, reducing',
    input: [7, 7, 4],
    make: () => [new L.OrthogonalConv2D({ filters: 2, kernelSize: 5, padding: 'valid', seed: 3 })],
  },
  { name: 'GroupSort2 on [F]', input: [10], make: () => [new L.GroupSort2()] },
  { name: 'GroupSort2 on [H, W, C]', input: [3, 4, 6], make: () => [new L.GroupSort2()] },
  { name: 'GroupSort(3) on [F]', input: [12], make: () => [new L.GroupSort({ n: 3 })] },
  { name: 'GroupSort(4) on [H, W, C]', input: [2, 3, 8], make: () => [new L.GroupSort({ n: 4 })] },
  { name: 'GroupSort(1) (identity)', input: [5], make: () => [new L.GroupSort({ n: 1 })] },
  { name: 'FullSort on [F]', input: [7], make: () => [new L.FullSort()] },
  { name: 'FullSort on [H, W, C]', input: [3, 3, 6], make: () => [new L.FullSort()] },
  { name: 'MaxMin on [F]', input: [5], make: () => [new L.MaxMin()] },
  { name: 'MaxMin on [H, W, C]', input: [3, 2, 4], make: () => [new L.MaxMin()] },
  { name: 'ScaledL2NormPool2D 2x2', input: [6, 6, 3], make: () => [new L.ScaledL2NormPool2D({ poolSize: 2 })] },
  {
    name: 'ScaledL2NormPool2D 2x3 stride 3 (gaps, leftover border)',
    input: [7, 8, 2],
    make: () => [new L.ScaledL2NormPool2D({ poolSize: [2, 3], strides: 3 })],
  },
  { name: 'ScaledAvgPool2D 2x2', input: [6, 4, 3], make: () => [new L.ScaledAvgPool2D({ poolSize: 2 })] },
  {
    name: 'ScaledAvgPool2D 3x2 stride [3, 3] on odd input',
    input: [7, 7, 2],
    make: () => [new L.ScaledAvgPool2D({ poolSize: [3, 2], strides: [3, 3] })],
  },
  { name: 'ScaledGlobalL2NormPool2D', input: [4, 5, 3], make: () => [new L.ScaledGlobalL2NormPool2D()] },
  { name: 'InvertibleDownSampling 2x2', input: [4, 6, 3], make: () => [new L.InvertibleDownSampling({ poolSize: 2 })] },
  { name: 'InvertibleDownSampling 2x3', input: [4, 6, 2], make: () => [new L.InvertibleDownSampling({ poolSize: [2, 3] })] },
];

/** Every exportable layer class in one network. */
const makeAllLayers = (): tfl.Layer[] => [
  new L.SpectralConv2D({ filters: 8, kernelSize: 3 }),
  new L.GroupSort({ n: 4 }),
  new L.InvertibleDownSampling({ poolSize: 2 }),
  new L.FrobeniusConv2D({ filters: 6, kernelSize: 3, strides: 1, padding: 'valid' }),
  new L.MaxMin(),
  new L.ScaledAvgPool2D({ poolSize: 2 }),
  new L.SpectralConv2D({ filters: 6, kernelSize: 2, normalization: 'operator', name: 'op_conv_all' }),
  new L.FullSort(),
  new L.ScaledL2NormPool2D({ poolSize: [1, 2] }),
  new L.SpectralConv2D({ filters: 4, kernelSize: 1, niterBjorck: 0 }),
  new L.GroupSort2(),
  new L.ScaledGlobalL2NormPool2D(),
  new L.FrobeniusDense({ units: 8 }),
  new L.GroupSort2(),
  new L.SpectralDense({ units: 5 }),
];
const ALL_LAYERS_INPUT = [12, 12, 2];

describe('exportOnnx: each layer matches tfjs in onnxruntime-node', () => {
  for (const c of LAYER_CASES) {
    for (const portable of PROFILES) {
      it(`${c.name} (${portable ? 'portable' : 'default'})`, async () => {
        const model = lipModel(c.input, c.make);
        const { diff } = await compare(model, portable);
        expect(diff).toBeLessThanOrEqual(TOL);
        model.dispose();
      });
    }
  }
});

/** ub / k of every boundScaledTwin call, for the tightness check. */
const ratios: number[] = [];

/** The twin's kernel of `layer` scaled by k / ub(effective kernel): what the export holds for a bound-normalized conv. */
function boundScaledTwin(model: LayersModel, layerName: string): LayersModel {
  const layer = model.getLayer(layerName) as unknown as L.SpectralConv2D;
  const index = model.layers.indexOf(layer as unknown as tfl.Layer);
  const [, h, w] = (index === 0 ? model.inputs[0].shape : model.layers[index - 1].outputShape) as number[];
  const eff = layer.effectiveKernel({ converge: true });
  const ub = L.convSpectralNormUpperBound(eff.dataSync() as Float32Array, eff.shape as [number, number, number, number], [h, w], layer.strides, layer.padding);
  eff.dispose();
  const k = layer.lipschitzConstant();
  // Power iteration estimates the norm from below, so the bound of the effective kernel is at least k.
  expect(ub).toBeGreaterThanOrEqual(k);
  ratios.push(ub / k);
  const twin = (model as unknown as { vanillaExport(o: { converge: boolean }): LayersModel }).vanillaExport({ converge: true });
  const plain = twin.getLayer(layerName);
  const [kernel, ...rest] = plain.getWeights();
  plain.setWeights([tf.mul(kernel, k / ub), ...rest]);
  return twin;
}

describe('exportOnnx: SpectralConv2D normalized by its operator norm', () => {
  it.each(PROFILES)('is exported divided by the guaranteed bound, k W / ub(W) (portable=%s)', async (portable) => {
    const model = lipModel([14, 13, 4], () => [new L.SpectralConv2D({ filters: 8, kernelSize: 3, normalization: 'operator', name: 'op_conv' })], 4, 1.5);
    const inShape = [3, 14, 13, 4];
    ratios.length = 0;
    const data = normalArray(sizeOf(inShape), 5);
    const twin = boundScaledTwin(model, 'op_conv');
    const reference = predictTfjs(twin, data, inShape);
    const x = toOnnxLayout(data, inShape);
    const got = await predictOrt(exportOnnx(model, { portable }), x.data, x.dims);
    expect(maxAbsDiff(got, reference)).toBeLessThanOrEqual(TOL);
    // ... and the plain converged model (divided by the power-iteration estimate) is measurably different.
    const { reference: estimated } = await compare(model, portable, 3, 5);
    expect(maxAbsDiff(got, estimated)).toBeGreaterThan(TOL);
    // On a 14x13 input the bound is within a few percent of the norm (it is loose on tiny inputs).
    expect(ratios[0]).toBeLessThan(1.05);
    twin.dispose();
    model.dispose();
  });
});

/**
 * The network of every layer class (weights from `seed`), its export, `batch`
 * inputs drawn from `dataSeed` in ONNX layout, and the tfjs logits of its
 * bound-scaled twin (what the export holds).
 */
function allLayersExport(seed: number, batch: number, dataSeed: number, portable: boolean) {
  const model = lipModel(ALL_LAYERS_INPUT, makeAllLayers, seed);
  const inShape = [batch, ...ALL_LAYERS_INPUT];
  const data = normalArray(sizeOf(inShape), dataSeed);
  const twin = boundScaledTwin(model, 'op_conv_all');
  const reference = predictTfjs(twin, data, inShape);
  twin.dispose();
  return { model, bytes: exportOnnx(model, { portable }), x: toOnnxLayout(data, inShape), reference };
}

describe('exportOnnx: every layer class in one network', () => {
  it.each(PROFILES)('matches tfjs (portable=%s)', async (portable) => {
    const { model, bytes, x, reference } = allLayersExport(9, 4, 2, portable);
    expect(maxAbsDiff(await predictOrt(bytes, x.data, x.dims), reference)).toBeLessThanOrEqual(TOL);
    const ops = new Set(opTypes(bytes));
    const nonPortable = ['Max', 'Min', 'TopK'];
    if (portable) {
      expect(nonPortable.filter((op) => ops.has(op))).toEqual([]);
    } else {
      expect(nonPortable.every((op) => ops.has(op))).toBe(true);
    }
    // L2 poolings are Sqrt(AveragePool(x * x) * K) in both profiles: onnxruntime's LpPool kernels are slow.
    expect(['LpPool', 'GlobalLpPool'].filter((op) => ops.has(op))).toEqual([]);
    expect(['AveragePool', 'GlobalAveragePool', 'Sqrt'].every((op) => ops.has(op))).toBe(true);
    model.dispose();
  });
});

describe('exportOnnx: Flatten after convolutions', () => {
  const make = (): tfl.Layer[] => [
    new L.SpectralConv2D({ filters: 4, kernelSize: 3 }),
    new L.SpectralConv2D({ filters: 3, kernelSize: 3, strides: 2 }),
    tfl.flatten(),
    new L.SpectralDense({ units: 10 }),
  ];

  it.each(PROFILES)('keeps the NHWC feature order (portable=%s)', async (portable) => {
    const model = lipModel([6, 6, 2], make, 3);
    const { diff, bytes } = await compare(model, portable, 4);
    expect(diff).toBeLessThanOrEqual(TOL);
    // The flatten is a Transpose to NHWC followed by Flatten.
    const ops = opTypes(bytes);
    expect(ops.slice(ops.indexOf('Transpose'), ops.indexOf('Transpose') + 2)).toEqual(['Transpose', 'Flatten']);
    model.dispose();
  });

  it('would differ from tfjs if the graph flattened NCHW directly', async () => {
    // Guards the test above: with this model the two orders give different logits.
    const model = lipModel([6, 6, 2], make, 3);
    const { bytes, x, reference } = await compare(model, false, 4);
    const m = onnx.ModelProto.decode(bytes);
    m.graph!.node = m.graph!.node.filter((n) => n.opType !== 'Transpose');
    const flatten = m.graph!.node.find((n) => n.opType === 'Flatten')!;
    const conv = m.graph!.node.filter((n) => n.opType === 'Conv')[1];
    flatten.input = [conv.output[0]];
    const wrong = await predictOrt(onnx.ModelProto.encode(m).finish(), x.data, x.dims);
    expect(maxAbsDiff(wrong, reference)).toBeGreaterThan(1e-3);
    model.dispose();
  });
});

describe('exportOnnx: the file', () => {
  const make = (): tfl.Layer[] => [new L.SpectralConv2D({ filters: 4, kernelSize: 3 }), tfl.flatten(), new L.SpectralDense({ units: 3 })];

  it('has input [N, C, H, W], output [N, classes] and the metadata', () => {
    const model = lipModel([5, 4, 2], make, 5, 2);
    const bytes = exportOnnx(model, { classNames: ['a', 'b', 'c'], inputRange: [-1, 1], architecture: 'tiny' });
    const m = onnx.ModelProto.decode(bytes);
    const dims = (v: onnx.IValueInfoProto): (string | number)[] => v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
    expect(m.graph!.input.map((i) => i.name)).toEqual(['input']);
    expect(dims(m.graph!.input[0])).toEqual(['N', 2, 5, 4]);
    expect(m.graph!.output.map((o) => o.name)).toEqual(['logits']);
    expect(dims(m.graph!.output[0])).toEqual(['N', 3]);
    expect(Number(m.opsetImport[0].version)).toBe(17);
    const meta = metadata(bytes);
    expect(meta).toEqual({
      producer: expect.stringContaining('lip'),
      producer_version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      architecture: 'tiny',
      lipschitz_constant: expect.any(String),
      certificate: 'multiclass: (top1 - top2) / (sqrt(2) * L)',
      class_names: '["a","b","c"]',
      input_range: '[-1,1]',
      profile: 'default',
      head_body_lipschitz: expect.any(String),
      head_row_distances: expect.any(String),
    });
    expect(Number(meta.lipschitz_constant)).toBeCloseTo(2, 12);
    // kCoefLip 2 over two linear layers: the body (conv, flatten) is sqrt(2)-Lipschitz.
    expect(Number(meta.head_body_lipschitz)).toBeCloseTo(Math.SQRT2, 12);
    expect(metadata(exportOnnx(model, { portable: true })).profile).toBe('portable');
    expect(JSON.parse(metadata(exportOnnx(model)).class_names)).toEqual(['0', '1', '2']);
    model.dispose();
  });

  it('writes a Dense as Gemm(x, W^T, b) with B [out, in] and transB = 1 (the form OpenCV DNN loads)', () => {
    const model = lipModel([5, 4, 2], make, 5);
    const m = onnx.ModelProto.decode(exportOnnx(model));
    const gemm = m.graph!.node.find((n) => n.opType === 'Gemm')!;
    const ints = Object.fromEntries(gemm.attribute.map((a) => [a.name, Number(a.i)]));
    expect(ints).toEqual({ transA: 0, transB: 1 });
    const B = m.graph!.initializer.find((t) => t.name === gemm.input[1])!;
    expect(B.dims!.map(Number)).toEqual([3, 80]);
    const stored = new Float32Array(Uint8Array.from(B.rawData!).buffer);
    const twin = (model as unknown as { vanillaExport(o: { converge: boolean }): LayersModel }).vanillaExport({ converge: true });
    const kernel = twin.layers[twin.layers.length - 1].getWeights()[0].dataSync(); // tfjs [in, out]
    let worst = 0;
    for (let i = 0; i < 80; i++) for (let j = 0; j < 3; j++) worst = Math.max(worst, Math.abs(stored[j * 80 + i] - kernel[i * 3 + j]));
    expect(worst).toBeLessThan(1e-6);
    twin.dispose();
    model.dispose();
  });

  it('writes the head norms ||w_i - w_j|| of the final Gemm, and none for a graph that does not end in one', () => {
    const model = lipModel([5, 4, 2], make, 6);
    const bytes = exportOnnx(model);
    const m = onnx.ModelProto.decode(bytes);
    const gemm = m.graph!.node.find((n) => n.opType === 'Gemm')!;
    const B = m.graph!.initializer.find((t) => t.name === gemm.input[1])!;
    const w = new Float32Array(Uint8Array.from(B.rawData!).buffer);
    const rows = JSON.parse(metadata(bytes).head_row_distances) as number[][];
    expect(rows).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      expect(rows[i][i]).toBe(0);
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 80; k++) s += (w[i * 80 + k] - w[j * 80 + k]) ** 2;
        expect(rows[i][j]).toBeCloseTo(Math.sqrt(s), 10);
        expect(rows[i][j]).toBeGreaterThanOrEqual(Math.sqrt(s));
        expect(rows[i][j]).toBe(rows[j][i]);
      }
    }
    model.dispose();
    const pooled = lipModel([4, 4, 2], () => [new L.SpectralConv2D({ filters: 3, kernelSize: 3 }), new L.ScaledGlobalL2NormPool2D()], 7);
    const meta = metadata(exportOnnx(pooled));
    expect(meta.head_row_distances).toBeUndefined();
    expect(meta.head_body_lipschitz).toBeUndefined();
    pooled.dispose();
  });

  it.each(PROFILES)('passes the ONNX checker with full_check (portable=%s)', (portable) => {
    const py = pythonWithOnnx();
    if (!py) {
      console.warn('skipped: no python3 with the onnx module (Debian: apt-get install python3-onnx)');
      return;
    }
    const model = lipModel(ALL_LAYERS_INPUT, makeAllLayers, 5);
    try {
      expect(onnxFullCheck(py, exportOnnx(model, { portable }))).toBe('');
    } finally {
      model.dispose();
    }
  });

  it.each(PROFILES)('gives the same logits in onnxruntime-web (wasm) (portable=%s)', async (portable) => {
    const { model, bytes, x, reference } = allLayersExport(5, 5, 8, portable);
    const web = predictOrtWeb(bytes, x.data, x.dims);
    expect(maxAbsDiff(web, reference)).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(web, await predictOrt(bytes, x.data, x.dims))).toBeLessThanOrEqual(TOL);
    model.dispose();
  });

  it('runs with every supported opset', async () => {
    const model = lipModel([5, 4, 2], make, 5);
    const data = normalArray(sizeOf([2, 5, 4, 2]), 3);
    const x = toOnnxLayout(data, [2, 5, 4, 2]);
    const first = await predictOrt(exportOnnx(model, { opset: MIN_OPSET }), x.data, x.dims);
    for (const opset of [15, 18, MAX_OPSET]) {
      const bytes = exportOnnx(model, { opset, portable: true });
      expect(Number(onnx.ModelProto.decode(bytes).opsetImport[0].version)).toBe(opset);
      expect(maxAbsDiff(await predictOrt(bytes, x.data, x.dims), first)).toBeLessThanOrEqual(TOL);
    }
    model.dispose();
  });
});

describe('exportOnnx: refusals', () => {
  it('refuses a layer it cannot express, naming the layer and its class', () => {
    const model = new L.LipschitzSequential({
      layers: [tfl.inputLayer({ inputShape: [4] }), new L.SpectralDense({ units: 4 }), tfl.dense({ units: 2, name: 'plain_head' })],
      logger: QUIET_LOGGER,
    });
    let err: unknown;
    try {
      exportOnnx(model);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).name).toBe('ModelError');
    expect((err as Error).message).toBe("cannot export layer 'plain_head' (Dense): no ONNX emitter for this class");
    model.dispose();
  });

  it('names every offending layer in one error', () => {
    const model = sequential({
      layers: [tfl.dense({ inputShape: [4], units: 4, name: 'd1' }), tfl.activation({ activation: 'relu', name: 'act' })],
    });
    expect(() => exportOnnx(model)).toThrow("cannot export layer 'd1' (Dense), layer 'act' (Activation): no ONNX emitter for these classes");
    model.dispose();
  });

  it('refuses bad options with the parameter quoted', () => {
    const model = lipModel([4], () => [new L.SpectralDense({ units: 2 })]);
    expect(() => exportOnnx(model, { opset: 12 })).toThrow("'opset' must be an integer from 13 to 21, got 12");
    expect(() => exportOnnx(model, { classNames: ['x'] })).toThrow(/'classNames' must hold 2 strings/);
    expect(() => exportOnnx(model, { inputRange: [1, 0] })).toThrow(/'inputRange' must be \[lo, hi\] with lo < hi/);
    model.dispose();
  });

  it('refuses a model whose output is not flat logits', () => {
    const model = sequential({ layers: [tfl.inputLayer({ inputShape: [4, 4, 2] })] });
    model.add(new L.SpectralConv2D({ filters: 2, kernelSize: 1 }));
    expect(() => exportOnnx(model)).toThrow(/the model output is \[4, 4, 2\] per sample/);
    model.dispose();
  });
});
