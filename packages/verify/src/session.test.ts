import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { DataError } from '@lip/core';
import { GraphBuilder } from '@lip/export';
import { AUDIT_FIXTURES, rejectionOf } from '@lip/test-support';
import { largestValueElements } from './bound/propagate';
import { OnnxModel, readOnnxModel } from './onnx/read';
import { SESSION_VALUE_BUDGET, openSession, ortMessage, LipSession } from './session';

/** logits = flatten(x) @ W + b on [N, 1, 2, 2] inputs. */
function denseModel(range = '[0, 1]'): { bytes: Uint8Array; w: Float32Array; b: Float32Array } {
  const g = new GraphBuilder({ opset: 17 });
  g.input('input', 'float32', ['N', 1, 2, 2]);
  const [flat] = g.node('Flatten', ['input'], { axis: 1 });
  const w = Float32Array.from([1, -2, 3, 4, 0.5, 6, -7, 8]);
  const b = Float32Array.from([0.25, -0.5]);
  const [y] = g.node('Gemm', [flat, g.initializer('W', w, [4, 2]), g.initializer('B', b, [2])]);
  g.node('Identity', [y], {}, { outputs: ['logits'] });
  g.output('logits', ['N', 2]);
  g.setMetadata('input_range', range);
  return { bytes: g.toBytes(), w, b };
}

/** What onnxruntime (`engine`: onnxruntime-node's or -web's API) rejects with when a batch-1 graph is given 2 images. */
async function twoImagesOnBatch1Error(engine: typeof ort): Promise<Error> {
  const session = await engine.InferenceSession.create(fs.readFileSync(path.join(AUDIT_FIXTURES, 'batch1_cnn.onnx')));
  try {
    return await rejectionOf(session.run({ input: new engine.Tensor('float32', new Float32Array(2 * 784), [2, 1, 28, 28]) }));
  } finally {
    await session.release();
  }
}

async function expectDataError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await rejectionOf(p);
  expect(err).toBeInstanceOf(DataError);
  expect(err.message).toMatch(pattern);
}

describe('openSession', () => {
  let session: LipSession;
  const { bytes, w, b } = denseModel();
  beforeAll(async () => {
    session = await openSession(bytes, { threads: 1 });
  });
  afterAll(async () => {
    await session.close();
  });

  it('runs in batches and matches the reference computation', async () => {
    const n = 7;
    const images = Float32Array.from({ length: n * 4 }, (_, i) => ((i * 37) % 11) / 10);
    const done: number[] = [];
    const logits = await session.runBatched(images, n, [1, 2, 2], 3, (d) => done.push(d));
    expect(done).toEqual([3, 6, 7]);
    expect(logits.length).toBe(n * 2);
    expect(session.outputSize).toBe(2);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 2; j++) {
        let ref = b[j];
        for (let k = 0; k < 4; k++) ref += images[i * 4 + k] * w[k * 2 + j];
        expect(logits[i * 2 + j]).toBeCloseTo(ref, 5);
      }
    }
    expect(session.inputShape).toEqual([1, 2, 2]);
    expect(session.inputRange).toEqual([0, 1]);
  });

  it('refuses data whose shape does not match the model', async () => {
    await expectDataError(session.runBatched(new Float32Array(2 * 9), 2, [1, 3, 3]), /expects inputs of shape \[N, 1, 2, 2\].*\[N, 1, 3, 3\]/);
  });

  it('refuses NaN and Inf inputs', async () => {
    const x = new Float32Array(8).fill(0.5);
    x[6] = NaN;
    await expectDataError(session.runBatched(x, 2, [1, 2, 2]), /image 1 holds NaN at pixel 2/);
    x[6] = Infinity;
    await expectDataError(session.runBatched(x, 2, [1, 2, 2]), /image 1 holds Infinity/);
  });

  it('skips the per-value check only when a known value range lies within input_range', async () => {
    const x = new Float32Array(8).fill(0.5);
    x[6] = 2;
    // A caller that vouches for [0, 1] (8-bit data / 255): no pass over the values, so the (wrong) 2 goes through unseen.
    await expect(session.runBatched(x, 2, [1, 2, 2], 256, undefined, { valueRange: [0, 1] })).resolves.toHaveLength(4);
    // A range reaching past input_range, or not finite, or none: the values are checked.
    for (const valueRange of [[0, 255], [-1, 1], [0, NaN], undefined] as const) {
      await expectDataError(session.runBatched(x, 2, [1, 2, 2], 256, undefined, { valueRange }), /image 1 holds 2 at pixel 2, outside/);
    }
  });

  it('refuses values outside the metadata input_range', async () => {
    const x = new Float32Array(4).fill(0.5);
    x[1] = 1.5;
    await expectDataError(session.runBatched(x, 1, [1, 2, 2]), /outside the model's input_range \[0, 1\]/);
  });
});

describe('graphs with a fixed batch dimension', () => {
  const images16 = JSON.parse(fs.readFileSync(path.join(AUDIT_FIXTURES, 'images16.json'), 'utf8')) as { bytes: number[][] };
  const expected = JSON.parse(fs.readFileSync(path.join(AUDIT_FIXTURES, 'batch1_cnn.expected.json'), 'utf8')) as { outputs: number[][] };

  // Read unfolded: folding may declare a provably safe graph batch-polymorphic; the session must run the fixed batch as it is.
  it('runs a batch-1 export (torch.onnx.export without dynamic axes) image by image, whatever the batch size asked', async () => {
    const session = await openSession(readOnnxModel(path.join(AUDIT_FIXTURES, 'batch1_cnn.onnx'), { fold: false }), { threads: 1 });
    try {
      expect(session.fixedBatch).toBe(1);
      const n = images16.bytes.length;
      const x = Float32Array.from(images16.bytes.flat(), (v) => v / 255);
      const done: number[] = [];
      const logits = await session.runBatched(x, n, [1, 28, 28], 5, (d) => done.push(d));
      expect(done).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      // torch's outputs on the same images (both float32).
      expected.outputs.forEach((row, i) =>
        row.forEach((v, j) => {
          expect(Math.abs(logits[i * 10 + j] - v)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(v)));
        }),
      );
    } finally {
      await session.close();
    }
  });

  it('pads the last call of a fixed batch of 2 and drops the padded rows', async () => {
    const fixed = (batch: number | string): Uint8Array => {
      const g = new GraphBuilder({ opset: 17 });
      g.input('input', 'float32', [batch, 1, 2, 2]);
      const [flat] = g.node('Flatten', ['input'], { axis: 1 });
      g.node('Gemm', [flat, g.initializer('W', Float32Array.from([1, -2, 3, 4, 0.5, 6, -7, 8]), [4, 2])], {}, { outputs: ['logits'] });
      g.output('logits', [batch, 2]);
      return g.toBytes();
    };
    const images = Float32Array.from({ length: 5 * 4 }, (_, i) => ((i * 37) % 11) / 10);
    const free = await openSession(fixed('N'));
    const two = await openSession(readOnnxModel(fixed(2), { fold: false }));
    try {
      expect(two.fixedBatch).toBe(2);
      expect(free.fixedBatch).toBeNull();
      expect(await two.runBatched(images, 5, [1, 2, 2], 256)).toEqual(await free.runBatched(images, 5, [1, 2, 2]));
    } finally {
      await free.close();
      await two.close();
    }
  });
});

describe('session work per run', () => {
  it("sizes batches by the folding's largest value (no second shape pass)", async () => {
    const model = readOnnxModel(denseModel().bytes);
    expect(model.folding!.largestValue).toBe(largestValueElements(model, [1, 2, 2]));
    // A larger value than the graph's own: only a session that reads it splits these 5 images in twos.
    const claimed: OnnxModel = { ...model, folding: { ...model.folding!, largestValue: SESSION_VALUE_BUDGET / 2 } };
    const session = await openSession(claimed);
    try {
      const done: number[] = [];
      await session.runBatched(new Float32Array(5 * 4).fill(0.5), 5, [1, 2, 2], 256, (d) => done.push(d));
      expect(done).toEqual([2, 4, 5]);
    } finally {
      await session.close();
    }
  });

  it.each(['batch1_cnn', 'mlp_softmax', 'nhwc_keras', 'plain_cnn', 'torchlip', 'torchlip_dynamo'])(
    "%s: the folding's largest value is what a shape pass of the folded graph gives",
    (name) => {
      const model = readOnnxModel(fs.readFileSync(path.join(AUDIT_FIXTURES, `${name}.onnx`)));
      const f = model.folding!;
      expect(f.largestValue).toBe(largestValueElements(model, f.inputShape!));
    },
  );

  it('feeds onnxruntime views of the images, copying only to pad the last call of a fixed batch', async () => {
    const fed: Float32Array[] = [];
    class RecordingTensor extends ort.Tensor {
      constructor(type: 'float32', data: Float32Array, dims: readonly number[]) {
        super(type, data, dims);
        fed.push(data);
      }
    }
    const engine = { ...ort, Tensor: RecordingTensor } as unknown as typeof ort;
    const images = Float32Array.from({ length: 5 * 4 }, (_, i) => (i % 7) / 7);
    const free = await openSession(denseModel().bytes, { engine });
    try {
      await free.runBatched(images, 5, [1, 2, 2], 2);
      expect(fed.map((d) => [d.buffer === images.buffer, d.length])).toEqual([
        [true, 8],
        [true, 8],
        [true, 4],
      ]);
    } finally {
      await free.close();
    }
    // A graph of batch 2: the fifth image goes in a zero-padded copy.
    const g = new GraphBuilder({ opset: 17 });
    g.input('input', 'float32', [2, 1, 2, 2]);
    const [flat] = g.node('Flatten', ['input'], { axis: 1 });
    g.node('Gemm', [flat, g.initializer('W', Float32Array.from([1, -2, 3, 4, 0.5, 6, -7, 8]), [4, 2])], {}, { outputs: ['logits'] });
    g.output('logits', [2, 2]);
    const two = await openSession(readOnnxModel(g.toBytes(), { fold: false }), { engine });
    fed.length = 0;
    try {
      await two.runBatched(images, 5, [1, 2, 2], 256);
      expect(fed.map((d) => [d.buffer === images.buffer, d.length])).toEqual([
        [true, 8],
        [true, 8],
        [false, 8],
      ]);
      expect(Array.from(fed[2])).toEqual([...images.subarray(16), 0, 0, 0, 0]);
    } finally {
      await two.close();
    }
  });
});

describe('openSession engines', () => {
  const { bytes } = denseModel();
  const images = Float32Array.from({ length: 5 * 4 }, (_, i) => ((i * 53) % 13) / 12);

  it.each(['node', 'web'] as const)('runs on onnxruntime-%s when asked, and says so', async (engine) => {
    const s = await openSession(bytes, { engine });
    try {
      expect(s.engine).toBe(engine);
      const ref = await openSession(bytes, { engine: 'auto' });
      try {
        const [a, b] = [await s.runBatched(images, 5, [1, 2, 2]), await ref.runBatched(images, 5, [1, 2, 2])];
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-6);
      } finally {
        await ref.close();
      }
    } finally {
      await s.close();
    }
  });

  it('refuses an engine it does not know', async () => {
    await expect(openSession(bytes, { engine: 'gpu' as never })).rejects.toThrow(/^'engine' must be 'auto', 'node', 'web'/);
  });

  it("gives onnxruntime-web's errors without its wrapper, like onnxruntime-node's", async () => {
    // onnxruntime-web itself, asked for 2 images by a batch-1 graph.
    const raw = await twoImagesOnBatch1Error(require('onnxruntime-web') as typeof ort);
    expect(raw.message).toMatch(/^failed to call OrtRun\(\)\. ERROR_CODE: 2, ERROR_MESSAGE: Got invalid dimensions/);
    expect(ortMessage(raw)).toMatch(/^Got invalid dimensions for input: input for the following indices index: 0 Got: 2 Expected: 1 Please fix/);
  });
});

describe('ortMessage', () => {
  it("keeps onnxruntime's whole message (the details are on its later lines), on one line", async () => {
    // onnxruntime itself, asked for 2 images by a batch-1 graph.
    const raw = await twoImagesOnBatch1Error(ort);
    expect(raw.message.split('\n').length).toBeGreaterThan(1);
    expect(ortMessage(raw)).toMatch(/^Got invalid dimensions for input: input for the following indices index: 0 Got: 2 Expected: 1 Please fix/);
    expect(ortMessage(new Error('/onnxruntime_src/onnxruntime/core/x.cc:360 void f(int) first\n  second line\n'))).toBe('first second line');
  });
});
