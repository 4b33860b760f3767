/**
 * The audit fixtures of issue 11 (test/fixtures/audit, made with torch by
 * tools/make-audit-fixtures.py): foreign classifiers that `lip verify` and
 * `lip bound` must audit. This file checks the fixtures themselves, not lip:
 * - each file holds the graph features the issue lists for it (Shape ops in
 *   the TorchScript export, none in the dynamo-style twin, BatchNormalization,
 *   a trailing Softmax, a fixed batch of 1, a leading NHWC Transpose);
 * - onnxruntime-node reproduces torch's outputs on the 16 images of
 *   images16.json, and torch's accuracy on the first 1000 test images when
 *   Fashion-MNIST is installed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { loadDatasetFromDir } from '@lip/train/node';
import { FASHION_DIR, haveFashionMnist } from '@lip/test-support/data';
import { argmax } from '@lip/test-support/ort';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'audit');
/** onnxruntime and torch agree to this, relative to max(1, |torch output|): both are float32. */
const OUTPUT_TOLERANCE = 1e-4;
/** Test images whose top-2 outputs lie within float32 rounding may flip; at most this many of the 1000. */
const ACCURACY_FLIPS = 1;

interface Expected {
  file: string;
  opset: number;
  input: { name: string; shape: (number | string)[] };
  output: { name: string; shape: (number | string)[] };
  layout: 'NCHW' | 'NHWC';
  outputs: number[][];
  accuracy: { images: number; correct: number; value: number };
  lipschitz: { oneLipschitzByConstruction: boolean; lowerBound: number; differenceQuotient: number };
}

interface Images16 {
  labels: number[];
  bytes: number[][];
}

const names = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.expected.json'))
  .map((f) => f.replace(/\.expected\.json$/, ''))
  .sort();
const images16: Images16 = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'images16.json'), 'utf8'));

function expectedOf(name: string): Expected {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.expected.json`), 'utf8'));
}

function decode(name: string): onnx.ModelProto {
  return onnx.ModelProto.decode(fs.readFileSync(path.join(FIXTURES, `${name}.onnx`)));
}

const opTypes = (model: onnx.ModelProto): string[] => model.graph!.node!.map((n) => n.opType!);
const defaultOpset = (model: onnx.ModelProto): number => Number(model.opsetImport!.find((o) => !o.domain || o.domain === 'ai.onnx')!.version);
const inputDims = (model: onnx.ModelProto): (number | string)[] =>
  model.graph!.input![0].type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));

/** What the issue asks of each fixture, checked on the decoded graph. */
const REQUIRED: Record<string, (model: onnx.ModelProto) => void> = {
  torchlip: (model) => {
    const ops = opTypes(model);
    for (const op of [
      'Shape',
      'Gather',
      'Unsqueeze',
      'Cast',
      'Constant',
      'Pad',
      'Conv',
      'Reshape',
      'ReduceMin',
      'ReduceMax',
      'Concat',
      'Pow',
      'AveragePool',
      'Sign',
      'Abs',
      'Relu',
      'Mul',
      'Gemm',
    ])
      expect(ops).toContain(op);
    expect(typeof inputDims(model)[0]).toBe('string');
  },
  torchlip_dynamo: (model) => {
    const ops = opTypes(model);
    expect(ops).not.toContain('Shape');
    for (const op of ['Pad', 'ReduceMin', 'ReduceMax', 'Concat', 'Pow', 'AveragePool', 'Sign']) expect(ops).toContain(op);
    expect(defaultOpset(model)).toBeGreaterThanOrEqual(18);
    // Opset 18 takes the reduced axes as a second input, not an attribute.
    for (const node of model.graph!.node!.filter((n) => n.opType === 'ReduceMin' || n.opType === 'ReduceMax')) {
      expect(node.input).toHaveLength(2);
    }
    expect(inputDims(model)).toEqual([1, 1, 28, 28]);
  },
  plain_cnn: (model) => {
    const ops = opTypes(model);
    for (const op of ['Sub', 'Div', 'Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Add', 'Gemm']) expect(ops).toContain(op);
  },
  mlp_softmax: (model) => {
    const ops = opTypes(model);
    expect(ops).toContain('Tanh');
    expect(ops[ops.length - 1]).toBe('Softmax');
  },
  batch1_cnn: (model) => {
    expect(inputDims(model)).toEqual([1, 1, 28, 28]);
  },
  nhwc_keras: (model) => {
    expect(inputDims(model).slice(1)).toEqual([28, 28, 1]);
    const first = model.graph!.node![0];
    expect(first.opType).toBe('Transpose');
    expect(first.input![0]).toBe(model.graph!.input![0].name);
    expect(first.attribute!.find((a) => a.name === 'perm')!.ints!.map(Number)).toEqual([0, 3, 1, 2]);
  },
};

/** onnxruntime outputs of `n` images (784 values each, same bytes in NCHW and NHWC); one run per image when the batch is fixed. */
async function ortOutputs(name: string, expected: Expected, images: Float32Array, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path.join(FIXTURES, `${name}.onnx`));
  try {
    expect(session.inputNames).toEqual([expected.input.name]);
    expect(session.outputNames).toEqual([expected.output.name]);
    const perImage = expected.input.shape.slice(1) as number[];
    const size = perImage.reduce((a, b) => a * b, 1);
    const step = typeof expected.input.shape[0] === 'number' ? expected.input.shape[0] : n;
    const k = expected.output.shape[1] as number;
    const out = new Float32Array(n * k);
    for (let start = 0; start < n; start += step) {
      const m = Math.min(step, n - start);
      const x = images.slice(start * size, (start + m) * size);
      const result = await session.run({ [expected.input.name]: new ort.Tensor('float32', x, [m, ...perImage]) });
      const y = result[expected.output.name];
      expect(y.dims).toEqual([m, k]);
      out.set(y.data as Float32Array, start * k);
    }
    return out;
  } finally {
    await session.release();
  }
}

test('the fixture folder holds every model the issue lists, each with its expected outputs', () => {
  expect(names).toEqual(Object.keys(REQUIRED).sort());
  for (const name of names) expect(fs.existsSync(path.join(FIXTURES, `${name}.onnx`))).toBe(true);
});

describe.each(names)('%s', (name) => {
  const expected = expectedOf(name);

  test('holds the graph features the issue asks for, and the declared input and opset', () => {
    const model = decode(name);
    REQUIRED[name](model);
    expect(defaultOpset(model)).toBe(expected.opset);
    expect(inputDims(model)).toEqual(expected.input.shape);
  });

  test('onnxruntime-node reproduces torch on the 16 images', async () => {
    const n = images16.bytes.length;
    const images = Float32Array.from(images16.bytes.flat(), (b) => b / 255);
    const got = await ortOutputs(name, expected, images, n);
    const want = expected.outputs.flat();
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
    expect(worst).toBeLessThanOrEqual(OUTPUT_TOLERANCE);
  });

  const withData = haveFashionMnist() ? test : test.skip;
  withData("onnxruntime-node gives torch's accuracy on the first 1000 test images", async () => {
    const data = loadDatasetFromDir(FASHION_DIR, 'fashion-mnist', 'test', { limit: expected.accuracy.images });
    const outputs = await ortOutputs(name, expected, data.images, data.n);
    const predicted = argmax(outputs, data.n);
    let correct = 0;
    for (let i = 0; i < data.n; i++) if (predicted[i] === data.labels[i]) correct++;
    expect(Math.abs(correct - expected.accuracy.correct)).toBeLessThanOrEqual(ACCURACY_FLIPS);
  });
});
