/**
 * Inputs a uint8 IDX file cannot hold, at the library level: NaN and
 * Infinity pixels, values outside the model's input_range, wrong shapes and
 * types. The session refuses each with one DataError / InvalidArgumentError
 * before any inference, and large models run in memory-bounded batches.
 */
import { DataError, InvalidArgumentError, ModelError, ModelTooLargeError } from '@lip/train';
import { GraphBuilder } from '@lip/export';
import { MAX_VALUE_ELEMENTS, SESSION_VALUE_BUDGET, lipschitzBound, openSession, readOnnxModel } from '@lip/verify';
// Internal (the session's memory check uses it), not public API.
import { gemmModel } from '@lip/test-support/onnx';
import { largestValueElements } from '../../packages/verify/src/bound/propagate';

const CHW = [1, 6, 6] as const;
const D = 36;

function images(n: number, fill = 0.5): Float32Array {
  return new Float32Array(n * D).fill(fill);
}

describe('session inputs', () => {
  const model = readOnnxModel(gemmModel({ chw: [...CHW] }));

  it.each([
    ['NaN', NaN],
    ['+Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('refuses a %s pixel with one DataError naming the image and pixel', async (_name, bad) => {
    const session = await openSession(model);
    try {
      const x = images(3);
      x[D + 7] = bad;
      await expect(session.runBatched(x, 3, [...CHW])).rejects.toThrow(DataError);
      await expect(session.runBatched(x, 3, [...CHW])).rejects.toThrow(`input image 1 holds ${bad} at pixel 7; inputs must be finite numbers`);
    } finally {
      await session.close();
    }
  });

  it.each([
    ['above', 1.5],
    ['below', -0.25],
  ])('refuses a pixel %s the declared input_range [0, 1]', async (_name, v) => {
    const session = await openSession(model);
    try {
      const x = images(2);
      x[D + 3] = v;
      await expect(session.runBatched(x, 2, [...CHW])).rejects.toThrow(
        new DataError(`input image 1 holds ${v} at pixel 3, outside the model's input_range [0, 1]; scale the data to that range.`),
      );
      // Within the rounding tolerance is fine.
      x[D + 3] = 1 + 1e-7;
      await expect(session.runBatched(x, 2, [...CHW])).resolves.toHaveLength(20);
    } finally {
      await session.close();
    }
  });

  it('without an input_range only finiteness is checked', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('input', 'float32', ['N', 1, 6, 6]);
    b.node('Flatten', [x], { axis: 1 }, { outputs: ['logits'] });
    b.output('logits', ['N', 36]);
    const session = await openSession(b.toBytes());
    try {
      await expect(session.runBatched(images(1, 1e6), 1, [...CHW])).resolves.toHaveLength(36);
    } finally {
      await session.close();
    }
  });

  it('refuses a wrong image shape, a wrong element count and a wrong array type', async () => {
    const session = await openSession(model);
    try {
      await expect(session.runBatched(new Float32Array(2 * 49).fill(0.5), 2, [1, 7, 7])).rejects.toThrow(
        new DataError(
          `the model '<bytes>' expects inputs of shape [N, 1, 6, 6] but the data has shape [N, 1, 7, 7]; ` +
            'use data that matches the model (or the model trained on this data).',
        ),
      );
      await expect(session.runBatched(images(2), 3, [...CHW])).rejects.toThrow(InvalidArgumentError);
      await expect(session.runBatched(Float64Array.from(images(1)) as unknown as Float32Array, 1, [...CHW])).rejects.toThrow(
        new InvalidArgumentError(`'images' must be a Float32Array`),
      );
      await expect(session.runBatched(images(1), 1, [1, 0, 36])).rejects.toThrow(InvalidArgumentError);
      await expect(session.runBatched(images(1), 1, [...CHW], 0)).rejects.toThrow(InvalidArgumentError);
    } finally {
      await session.close();
    }
  });

  it('refuses a non-float input type', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('input', 'float64', ['N', 4]);
    b.node('Identity', [x], {}, { outputs: ['logits'] });
    b.output('logits', ['N', 4], 'float64');
    await expect(openSession(b.toBytes())).rejects.toThrow(ModelError);
    await expect(openSession(b.toBytes())).rejects.toThrow(/input 'input' has type float64; a float32 image input is required/);
  });
});

describe('declared sizes never make the session allocate without limit', () => {
  /** [N, 1, 6, 6] -> Pad (to 6 + 2p per side) -> GlobalMaxPool -> Flatten: a 1-logit model whose middle is large. */
  function padded(p: number): Uint8Array {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('input', 'float32', ['N', 1, 6, 6]);
    const [y] = b.node('Pad', [x, b.initializer('pads', [0, 0, p, p, 0, 0, p, p], [8])]);
    const [g] = b.node('GlobalMaxPool', [y]);
    b.node('Flatten', [g], { axis: 1 }, { outputs: ['logits'] });
    b.output('logits', ['N', 1]);
    return b.toBytes();
  }

  it('refuses an intermediate value above MAX_VALUE_ELEMENTS before onnxruntime runs', async () => {
    const model = readOnnxModel(padded(5000)); // 10006^2 = 1e8 elements per image
    expect(() => largestValueElements(model)).toThrow(ModelTooLargeError);
    expect(() => lipschitzBound(model)).toThrow(new RegExp(`above the limit of ${MAX_VALUE_ELEMENTS} per sample`));
    const session = await openSession(model);
    try {
      await expect(session.runBatched(images(1), 1, [...CHW])).rejects.toThrow(ModelTooLargeError);
    } finally {
      await session.close();
    }
  });

  it('splits batches so batch x largest value stays within SESSION_VALUE_BUDGET', async () => {
    const model = readOnnxModel(padded(1000)); // 2006^2 = 4024036 elements per image
    const largest = largestValueElements(model);
    expect(largest).toBe(2006 * 2006);
    const session = await openSession(model);
    try {
      const n = 40;
      const x = images(n);
      for (let i = 0; i < n; i++) x[i * D] = i / n;
      const calls: number[] = [];
      const out = await session.runBatched(x, n, [...CHW], 256, (done) => calls.push(done));
      const per = Math.floor(SESSION_VALUE_BUDGET / largest);
      expect(calls[0]).toBe(per);
      expect(calls).toHaveLength(Math.ceil(n / per));
      expect(Array.from(out)).toEqual(Array.from({ length: n }, (_, i) => Math.max(0.5, Math.fround(i / n))));
    } finally {
      await session.close();
    }
  });
});
