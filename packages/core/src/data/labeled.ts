/**
 * The common result of every data reader: labelled images as one contiguous
 * float32 NHWC array, and the conversion from a pair of arrays (images and
 * labels, from .npy, .npz or IDX files) to it.
 *
 * Array conventions:
 * - images of shape [N, H, W] have one channel; [N, H, W, C] is NHWC and
 *   [N, C, H, W] is NCHW, told apart by `layout` or, when it is not given, by
 *   where a dimension of 1 or 3 channels sits (an error when both or neither
 *   could be the channels);
 * - labels of shape [N] or [N, 1] (Keras' CIFAR layout), integers in [0, 256);
 * - `scale` multiplies every value; by default uint8 images are divided by
 *   255 and every other type is taken as it is.
 */
import { DataError, assertArg } from '../errors';
import { DEFAULT_MAX_ELEMENTS } from './limits';
import { DType, FailFn, NdArray, NdData, isFloatDType, shapeText } from './ndarray';

/** Where labelled images came from. */
export type DataFormat = 'idx' | 'npy' | 'npz' | 'cifar10' | 'image-folder';
/** Axis order of 4-D image arrays. */
export type ArrayLayout = 'nhwc' | 'nchw';
export type DataSplit = 'train' | 'test';

/** Largest number of classes: labels are bytes. */
export const MAX_CLASSES = 256;

/**
 * Labelled images in memory: image i is `images[i*h*w*c .. (i+1)*h*w*c)`,
 * row-major NHWC. What every reader returns (`LabeledImages`), a built-in
 * dataset (`Dataset`) and `lip verify`'s data share these fields.
 */
export interface ImageArrays {
  /** n × height × width × channels values, NHWC (in [0, 1] for 8-bit sources at the default scale). */
  images: Float32Array;
  /** n class indices. */
  labels: Uint8Array;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** Where the data was read from: an absolute path (the folder, or the images file), or a description. */
  source: string;
  /**
   * Every value lies in [lo, hi], known from the source's element type
   * without reading the values (8-bit sources: [0, 255 · scale]); absent
   * when not known that way. Lets a consumer skip its own per-value check.
   */
  valueRange?: readonly [number, number];
}

/** Labelled images as a reader returns them. */
export interface LabeledImages extends ImageArrays {
  /** Class names, index = label, when the source names them (image folders, CIFAR's batches.meta.txt). */
  classNames?: string[];
  format: DataFormat;
}

/** Options every reader of labelled images takes. */
export interface LabeledReadOptions {
  /** Keep only the first `limit` samples (all when there are fewer). A positive integer. */
  limit?: number;
  /** Multiplies every value. Default: 1/255 for 8-bit sources (uint8 arrays, PNG, JPEG, CIFAR), 1 otherwise. */
  scale?: number;
  /** Largest number of image values (n·h·w·c) accepted. Default DEFAULT_MAX_ELEMENTS. */
  maxElements?: number;
  /** How to fix a bad file, appended to every error about one. */
  fix?: string;
}

export function assertLabeledOptions(opts: LabeledReadOptions): void {
  const { limit, scale, maxElements } = opts;
  assertArg(limit === undefined || (Number.isSafeInteger(limit) && limit > 0), () => `'limit' must be a positive integer, got ${limit}`);
  assertArg(scale === undefined || (Number.isFinite(scale) && scale > 0), () => `'scale' must be a positive finite number, got ${scale}`);
  assertArg(
    maxElements === undefined || (Number.isSafeInteger(maxElements) && maxElements > 0),
    () => `'maxElements' must be a positive integer, got ${maxElements}`,
  );
}

/** The scale applied by default to values of `dtype`. */
export function defaultScale(dtype: DType): number {
  return dtype === 'uint8' ? 1 / 255 : 1;
}

export interface ArrayPairContext extends LabeledReadOptions {
  /** Where the images array is (a path, or `file (array 'x')`), for messages. */
  imagesWhere: string;
  labelsWhere: string;
  layout?: ArrayLayout;
  source: string;
  format: DataFormat;
  fix: string;
}

/** Converts an images array and a labels array into `LabeledImages` (see the module doc for the conventions). */
export function arraysToLabeledImages(images: NdArray, labels: NdArray, ctx: ArrayPairContext): LabeledImages {
  const failImages = (what: string): DataError => new DataError(`${ctx.imagesWhere} ${what}`);
  const failLabels = (what: string): DataError => new DataError(`${ctx.labelsWhere} ${what}`);
  const { n: count, height, width, channels, layout } = imageDims(images.shape, ctx.layout, failImages);
  const labelCount = labelsLength(labels, failLabels);
  if (labelCount !== count) {
    throw new DataError(
      `${ctx.imagesWhere} holds ${count} images but ${ctx.labelsWhere} holds ${labelCount} labels: they do not belong together; pass matching images and labels`,
    );
  }
  const n = Math.min(count, ctx.limit ?? count);
  const per = height * width * channels;
  const maxElements = ctx.maxElements ?? DEFAULT_MAX_ELEMENTS;
  if (n * per > maxElements) throw failImages(`holds ${n * per} image values, over the limit of ${maxElements}; pass a smaller limit`);
  const scale = ctx.scale ?? defaultScale(images.dtype);
  const out = scaledImages(images, n, { height, width, channels }, layout, scale);
  // NaN or infinity in float data, or a value a large scale pushes past float32 (integers only when the scale can).
  if (!integerScaleFinite(images.dtype, scale)) {
    for (let j = 0; j < out.length; j++) {
      if (!Number.isFinite(out[j]!)) {
        throw failImages(
          `holds a value that is ${Number.isNaN(out[j]!) ? 'NaN' : 'infinite in float32'} (image ${Math.floor(j / per)}, ` +
            `value ${j % per} in NHWC order); ${ctx.fix}`,
        );
      }
    }
  }
  // Bytes: the values are table entries b · scale (rounded to float32, monotone), b in [0, 255] (bool: [0, 1]).
  const byteMax = images.dtype === 'uint8' ? 255 : images.dtype === 'bool' ? 1 : null;
  return {
    images: out,
    ...(byteMax === null ? {} : { valueRange: [0, Math.fround(byteMax * scale)] as const }),
    labels: labelBytes(labels, n, failLabels, ctx.fix),
    n,
    height,
    width,
    channels,
    source: ctx.source,
    format: ctx.format,
  };
}

/** Smallest and largest values of the integer element types. */
const INTEGER_RANGES: Partial<Readonly<Record<DType, readonly [number, number]>>> = {
  bool: [0, 1],
  uint8: [0, 255],
  int8: [-128, 127],
  uint16: [0, 65535],
  int16: [-32768, 32767],
  uint32: [0, 4294967295],
  int32: [-2147483648, 2147483647],
};

/** True when every value of integer `dtype` times `scale` is a finite float32, so the images need no check. */
function integerScaleFinite(dtype: DType, scale: number): boolean {
  const range = INTEGER_RANGES[dtype];
  return range !== undefined && range.every((v) => Number.isFinite(Math.fround(v * scale)));
}

/**
 * The first `n` images times `scale` as float32 NHWC. Bytes (uint8, bool)
 * go through a table of the 256 products, each rounded to float32 as the
 * store into a Float32Array would: the same values, a fraction of the work.
 */
function scaledImages(images: NdArray, n: number, dims: { height: number; width: number; channels: number }, layout: ArrayLayout, scale: number): Float32Array {
  const { height, width, channels } = dims;
  const per = height * width * channels;
  const out = new Float32Array(n * per);
  const src = images.data;
  const bytes = src instanceof Uint8Array ? src : null;
  const table = Float32Array.from({ length: bytes ? 256 : 0 }, (_, b) => b * scale);
  // The common case (8-bit NHWC or one-channel images): one lookup per value.
  if (bytes && layout !== 'nchw') return lookupBytes(bytes, table, out);
  const value = bytes
    ? (j: number): number => table[bytes[j]!]!
    : src instanceof BigInt64Array || src instanceof BigUint64Array
      ? (j: number): number => Number(src[j]!) * scale
      : (j: number): number => (src as Exclude<NdData, BigInt64Array | BigUint64Array>)[j]! * scale;
  if (layout !== 'nchw') {
    for (let j = 0; j < out.length; j++) out[j] = value(j);
    return out;
  }
  const hw = height * width;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      const from = (i * channels + c) * hw;
      for (let p = 0; p < hw; p++) out[i * per + p * channels + c] = value(from + p);
    }
  }
  return out;
}

/**
 * out[j] = table[bytes[j]]. A function of its own, without closures: in
 * `scaledImages` the loop reads `bytes` and `table` from the context its
 * closures share, which made it about 2.5x slower (10,000 Fashion-MNIST
 * images: 75 ms against 30 ms).
 */
function lookupBytes(bytes: Uint8Array, table: Float32Array, out: Float32Array): Float32Array {
  const len = out.length;
  for (let j = 0; j < len; j++) out[j] = table[bytes[j]!]!;
  return out;
}

/** N, H, W, C and the layout of an images array's shape. */
function imageDims(
  shape: readonly number[],
  layout: ArrayLayout | undefined,
  fail: FailFn,
): { n: number; height: number; width: number; channels: number; layout: ArrayLayout } {
  if (shape.length !== 3 && shape.length !== 4) {
    throw fail(
      `holds an array of shape ${shapeText(shape)}; images must be [N, H, W], [N, H, W, C] or [N, C, H, W]` +
        (shape.length === 2 ? ' (reshape flat [N, H*W*C] rows first)' : ''),
    );
  }
  let chosen = shape.length === 3 ? 'nhwc' : layout;
  if (chosen === undefined) {
    const isChannels = (d: number): boolean => d === 1 || d === 3;
    const last = isChannels(shape[3]!);
    const second = isChannels(shape[1]!);
    if (last === second) {
      throw fail(`holds images of shape ${shapeText(shape)}: cannot tell NHWC from NCHW; pass the layout ('nhwc' or 'nchw', --layout)`);
    }
    chosen = last ? 'nhwc' : 'nchw';
  }
  const [n, a, b, c = 1] = shape as [number, number, number, number | undefined];
  const dims = chosen === 'nhwc' ? { height: a, width: b, channels: c } : { channels: a, height: b, width: c };
  if (dims.height === 0 || dims.width === 0 || dims.channels === 0)
    throw fail(`holds images of shape ${shapeText(shape)}, with an empty dimension; images need at least one pixel and one channel`);
  return { n, ...dims, layout: chosen };
}

/** N of a labels array of shape [N] or [N, 1]. */
function labelsLength(labels: NdArray, fail: FailFn): number {
  const s = labels.shape;
  if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) {
    throw fail(
      `holds an array of shape ${shapeText(s)}; labels must be a vector of N class indices ([N] or [N, 1])` +
        (s.length === 2 ? ' (for one-hot labels, save their argmax)' : ''),
    );
  }
  if (isFloatDType(labels.dtype)) {
    throw fail(`holds ${labels.dtype} labels; labels must be integer class indices (save them as an integer array, e.g. labels.astype('uint8'))`);
  }
  return s[0]!;
}

/** The first `n` labels as bytes, each checked to be in [0, MAX_CLASSES). */
export function labelBytes(labels: NdArray, n: number, fail: FailFn, fix: string): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(labels.data[i]!);
    if (!(v >= 0 && v < MAX_CLASSES)) throw fail(`has label ${v} at index ${i}, outside [0, ${MAX_CLASSES}); ${fix}`);
    out[i] = v;
  }
  return out;
}
