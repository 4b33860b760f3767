import { DataError, InvalidArgumentError } from '@lip/core';
import { GraphBuilder } from '@lip/export';
import { dataSpaceCertificates, resolveModelInput, resolveTransform, toModelInput } from './model_input';
import { OnnxModel, readOnnxModel } from './onnx/read';

/** A graph whose input is declared [batch, ...dims]: Flatten, then a 2-logit Gemm. */
function modelWithInput(dims: (number | string)[]): OnnxModel {
  const g = new GraphBuilder({ opset: 17 });
  g.input('input', 'float32', ['N', ...dims]);
  const [flat] = g.node('Flatten', ['input'], { axis: 1 });
  const d = dims.every((x) => typeof x === 'number') ? (dims as number[]).reduce((a, b) => a * b, 1) : 12;
  g.node('Gemm', [flat, g.initializer('W', new Float32Array(d * 2).fill(0.1), [d, 2])], {}, { outputs: ['logits'] });
  g.output('logits', ['N', 2]);
  return readOnnxModel(g.toBytes(), { fold: false });
}

function caught(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('resolveModelInput', () => {
  const rgb = { height: 2, width: 2, channels: 3 };
  const gray = { height: 28, width: 28, channels: 1 };

  it('tells NCHW, NHWC and flat inputs from the declared shape and the channel count', () => {
    expect(resolveModelInput(modelWithInput([1, 28, 28]), gray)).toEqual({ layout: 'nchw', shape: [1, 28, 28] });
    expect(resolveModelInput(modelWithInput([28, 28, 1]), gray)).toEqual({ layout: 'nhwc', shape: [28, 28, 1] });
    expect(resolveModelInput(modelWithInput([784]), gray)).toEqual({ layout: 'nchw', shape: [784] });
    expect(resolveModelInput(modelWithInput([3, 2, 2]), rgb)).toEqual({ layout: 'nchw', shape: [3, 2, 2] });
    expect(resolveModelInput(modelWithInput([2, 2, 3]), rgb)).toEqual({ layout: 'nhwc', shape: [2, 2, 3] });
    // A channel count fixed where only one layout puts it.
    expect(resolveModelInput(modelWithInput(['h', 'w', 3]), rgb)).toEqual({ layout: 'nhwc', shape: [2, 2, 3] });
  });

  it('asks for --input-shape when symbolic dims leave the layout open, and takes it', () => {
    const open = modelWithInput(['c', 'h', 'w']);
    const err = caught(() => resolveModelInput(open, rgb));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(/declared \[N, c, h, w\], which leaves open .* '--input-shape' 3,2,2 \(NCHW\) or 2,2,3 \(NHWC\)/);
    expect(resolveModelInput(open, rgb, [2, 2, 3])).toEqual({ layout: 'nhwc', shape: [2, 2, 3] });
    expect(resolveModelInput(open, rgb, [3, 2, 2])).toEqual({ layout: 'nchw', shape: [3, 2, 2] });
  });

  it('refuses data that do not fit the model, and an --input-shape that fits neither', () => {
    const err = caught(() => resolveModelInput(modelWithInput([3, 32, 32]), gray));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/expects inputs of shape \[N, 3, 32, 32\] but the data holds images of 28x28x1/);
    expect(caught(() => resolveModelInput(modelWithInput([2, 2, 3]), rgb, [3, 2, 2])).message).toMatch(
      /^'inputShape' \[3, 2, 2\] does not match the input 'input'/,
    );
    expect(caught(() => resolveModelInput(modelWithInput(['c', 'h', 'w']), rgb, [1, 4, 3])).message).toMatch(
      /^'inputShape' \[1, 4, 3\] does not hold images of 2x2x3/,
    );
    expect(caught(() => resolveModelInput(modelWithInput([784]), gray, [0, 28])).message).toMatch(/^'inputShape' must be positive integers/);
  });
});

describe('resolveTransform', () => {
  it('expands one value to every channel; the certificate factor is min(std) / scale', () => {
    const t = resolveTransform({ scale: 2, mean: [0.5], std: [0.25, 0.5, 1] }, 3);
    expect(t.mean).toEqual([0.5, 0.5, 0.5]);
    expect(t.certificateFactor).toBeLessThanOrEqual(0.125);
    expect(t.certificateFactor).toBeCloseTo(0.125, 15);
    expect(resolveTransform({}, 3)).toMatchObject({ identity: true, certificateFactor: 1 });
  });

  it.each([
    [{ std: [0.5, 0] }, /^'std' must be 1 or 2 \(one per channel\) finite numbers > 0, got \[0.5,0\]/],
    [{ mean: [1, 2, 3] }, /^'mean' must be 1 or 2/],
    [{ scale: -1 }, /^'scale' must be a finite number > 0/],
  ])('refuses %j', (t, message) => {
    expect(() => resolveTransform(t, 2)).toThrow(message);
  });
});

describe('toModelInput', () => {
  // Two 2x2 RGB images, NHWC: value = 100 * image + 10 * pixel + channel.
  const dims = { height: 2, width: 2, channels: 3 };
  const nhwc = Float32Array.from({ length: 24 }, (_, j) => 100 * Math.floor(j / 12) + 10 * Math.floor((j % 12) / 3) + (j % 3));

  it('transposes NHWC data for an NCHW graph and keeps it for an NHWC one', () => {
    const id = resolveTransform({}, 3);
    const chw = toModelInput(nhwc, 2, dims, { layout: 'nchw', shape: [3, 2, 2] }, id);
    expect(Array.from(chw.images.subarray(0, 12))).toEqual([0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);
    expect(Array.from(chw.images.subarray(12))).toEqual([100, 110, 120, 130, 101, 111, 121, 131, 102, 112, 122, 132]);
    expect(Array.from(chw.delta)).toEqual([0, 0]);
    expect(toModelInput(nhwc, 2, dims, { layout: 'nhwc', shape: [2, 2, 3] }, id).images).toBe(nhwc);
  });

  it('applies (scale x - mean_c) / std_c per channel; delta bounds the float32 rounding of each fed image', () => {
    const t = resolveTransform({ scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }, 3);
    const { images, delta } = toModelInput(nhwc, 2, dims, { layout: 'nhwc', shape: [2, 2, 3] }, t);
    for (let i = 0; i < 2; i++) {
      let err2 = 0;
      for (let j = i * 12; j < (i + 1) * 12; j++) {
        const exact = (t.scale * nhwc[j] - t.mean[j % 3]) / t.std[j % 3];
        expect(images[j]).toBe(Math.fround(exact));
        err2 += (images[j] - exact) ** 2;
      }
      expect(delta[i]).toBeGreaterThanOrEqual(Math.sqrt(err2));
      expect(delta[i]).toBeGreaterThan(0);
      expect(delta[i]).toBeLessThan(1e-6);
    }
  });
});

describe('dataSpaceCertificates', () => {
  it('is max(0, r - delta) x min(std) / scale, and the identity leaves certificates as they are', () => {
    const t = resolveTransform({ mean: [0.1], std: [0.5, 0.25] }, 2);
    const r = Float64Array.of(1, 1e-9, Infinity);
    const out = dataSpaceCertificates(r, Float64Array.of(1e-7, 1e-7, 1e-7), t);
    expect(out[0]).toBeCloseTo((1 - 1e-7) * 0.25, 15);
    expect(out[0]).toBeLessThanOrEqual((1 - 1e-7) * 0.25);
    expect(out[1]).toBe(0);
    expect(out[2]).toBe(Infinity);
    const id = resolveTransform({}, 2);
    expect(dataSpaceCertificates(r, new Float64Array(3), id)).toBe(r);
  });
});
