/**
 * arraysToLabeledImages' conversion, against the plain formula
 * out[nhwc(j)] = fround(Number(data[j]) * scale): bytes go through a table of
 * products and integer types whose every value stays finite skip the check,
 * which must change no value and no error.
 */
import { DataError } from '../errors';
import { arraysToLabeledImages } from './labeled';
import { DType, NdArray, NdData } from './ndarray';

const CTX = { imagesWhere: 'images.npy', labelsWhere: 'labels.npy', source: 'images.npy', format: 'npy' as const, fix: 'pass intact files' };

/** The expected float32 NHWC images of [n, a, b, c] data read as `layout`. */
function reference(data: NdData, shape: number[], layout: 'nhwc' | 'nchw', scale: number): Float32Array {
  const [n, a, b, c] = shape;
  const [h, w, ch] = layout === 'nhwc' ? [a, b, c] : [b, c, a];
  const out = new Float32Array(n * h * w * ch);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < ch; k++) {
          const from = layout === 'nhwc' ? ((i * h + y) * w + x) * ch + k : ((i * ch + k) * h + y) * w + x;
          out[((i * h + y) * w + x) * ch + k] = Number(data[from]) * scale;
        }
      }
    }
  }
  return out;
}

const labels = (n: number): NdArray => ({ dtype: 'uint8', shape: [n], data: Uint8Array.from({ length: n }, (_, i) => i % 10) });

describe('arraysToLabeledImages conversion', () => {
  const cases: [DType, NdData][] = [
    ['uint8', Uint8Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => (i * 37) & 255)],
    ['bool', Uint8Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => (i % 3 === 0 ? 1 : 0))],
    ['int8', Int8Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => ((i * 37) & 255) - 128)],
    ['int16', Int16Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => ((i * 997) % 32768) - 16000)],
    ['uint32', Uint32Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => i * 71_000_001)],
    ['int64', BigInt64Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => BigInt(i * 1001 - 30_000))],
    ['float32', Float32Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => Math.sin(i) * 3)],
    ['float64', Float64Array.from({ length: 2 * 4 * 5 * 3 }, (_, i) => Math.cos(i) / 7)],
  ];
  it.each(cases)('%s, NHWC and NCHW, default and given scale: every value is the plain formula', (dtype, data) => {
    for (const [layout, shape] of [
      ['nhwc', [2, 4, 5, 3]],
      ['nchw', [2, 3, 4, 5]],
    ] as const) {
      for (const scale of [undefined, 1 / 255, 0.37, 3]) {
        const d = arraysToLabeledImages({ dtype, shape: [...shape], data }, labels(2), { ...CTX, layout, scale });
        const expected = reference(data, [...shape], layout, scale ?? (dtype === 'uint8' ? 1 / 255 : 1));
        expect([d.height, d.width, d.channels]).toEqual([4, 5, 3]);
        expect(Array.from(d.images)).toEqual(Array.from(expected));
      }
    }
  });

  it.each(cases)('%s: valueRange holds every value, and is given only for 8-bit sources', (dtype, data) => {
    for (const scale of [undefined, 2 / 3, 1e-3]) {
      const d = arraysToLabeledImages({ dtype, shape: [2, 4, 5, 3], data }, labels(2), { ...CTX, layout: 'nhwc', scale });
      if (dtype !== 'uint8' && dtype !== 'bool') {
        expect(d.valueRange).toBeUndefined();
        continue;
      }
      const [lo, hi] = d.valueRange!;
      expect(lo).toBe(0);
      expect(hi).toBe(Math.fround((dtype === 'uint8' ? 255 : 1) * (scale ?? (dtype === 'uint8' ? 1 / 255 : 1))));
      expect(d.images.every((v) => v >= lo && v <= hi)).toBe(true);
    }
  });

  it('keeps only the first `limit` images', () => {
    const data = Uint8Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 20);
    const d = arraysToLabeledImages({ dtype: 'uint8', shape: [3, 2, 2], data }, labels(3), { ...CTX, limit: 2 });
    expect([d.n, Array.from(d.images)]).toEqual([2, Array.from(data.subarray(0, 8), (v) => Math.fround(v * (1 / 255)))]);
  });

  it('refuses NaN and values a scale pushes past float32, naming the image and value; integers that stay finite pass', () => {
    const nan = Float32Array.from([0, 1, 2, NaN, 4, 5, 6, 7]);
    expect(() => arraysToLabeledImages({ dtype: 'float32', shape: [2, 2, 2], data: nan }, labels(2), CTX)).toThrow(
      new DataError('images.npy holds a value that is NaN (image 0, value 3 in NHWC order); pass intact files'),
    );
    const bytes = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 255]);
    expect(() => arraysToLabeledImages({ dtype: 'uint8', shape: [2, 2, 2], data: bytes }, labels(2), { ...CTX, scale: 1e37 })).toThrow(
      new DataError('images.npy holds a value that is infinite in float32 (image 1, value 3 in NHWC order); pass intact files'),
    );
    // int32's extremes times 1e30 overflow float32, but these values do not.
    const small = Int32Array.from([1, 2, 3, 4, -5, 6, 7, 8]);
    const d = arraysToLabeledImages({ dtype: 'int32', shape: [2, 2, 2], data: small }, labels(2), { ...CTX, scale: 1e30 });
    expect(Array.from(d.images)).toEqual(Array.from(small, (v) => Math.fround(v * 1e30)));
    const big = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 2 ** 31 - 1]);
    expect(() => arraysToLabeledImages({ dtype: 'int32', shape: [2, 2, 2], data: big }, labels(2), { ...CTX, scale: 1e30 })).toThrow(
      /infinite in float32 \(image 1, value 3 in NHWC order\)/,
    );
  });
});
