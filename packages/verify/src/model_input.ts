/**
 * From the images a user passes to what the model reads, and back for the
 * certificates.
 *
 * Layout: data arrive as NHWC images (`@lip/core`'s readers). The graph's
 * first input decides what it is fed: [N, C, H, W] (NCHW, as torch and ONNX
 * write), [N, H, W, C] (NHWC, as Keras converters write), [N, C*H*W] (a
 * flattened input, in C, H, W order as torch's `x.view(n, -1)`), or [N, H, W]
 * for one channel. Declared dims that are symbolic accept any size; when they
 * leave the layout open, `--input-shape` says it (e.g. `1,28,28` or `28,28,1`).
 *
 * Preprocessing outside the graph, per channel c:
 *   x_model = (s * x_data - m_c) / sigma_c        (--scale s, --mean m, --std sigma)
 * so ||x_model - x'_model|| <= (s / min_c sigma_c) ||x_data - x'_data||: a
 * radius r around the fed image is a radius r * min_c(sigma_c) / s in the
 * data's own units (`certificateFactor`). The fed image is x_model rounded to
 * float32; its distance `delta` to the exact x_model is subtracted from r
 * first, so the data-space radius holds around the exact preprocessed point.
 */
import { DataError, InvalidArgumentError } from '@lip/core';
import { OnnxDim, OnnxModel } from './onnx/read';

/** Memory order of one fed image: channels first (C, H, W) or last (H, W, C). Equal for one channel. */
export type InputLayout = 'nchw' | 'nhwc';

/** How images are fed to the model. */
export interface ModelInput {
  layout: InputLayout;
  /** Shape of one fed image (no batch dimension), e.g. [1, 28, 28], [28, 28, 1] or [784]. */
  shape: number[];
}

/** Height, width and channels of the data's images. */
export interface ImageDims {
  height: number;
  width: number;
  channels: number;
}

/** Preprocessing applied outside the graph: x_model = (scale * x - mean_c) / std_c. */
export interface InputTransform {
  /** Multiplies the values as read. Default 1. */
  scale?: number;
  /** Per channel (one value: every channel). Default 0. */
  mean?: readonly number[];
  /** Per channel (one value: every channel), each > 0. Default 1. */
  std?: readonly number[];
}

/** A checked transform, expanded to one mean and std per channel. */
export interface ResolvedTransform {
  scale: number;
  mean: number[];
  std: number[];
  /** Data-space radius per model-space radius: min(std) / scale (1 for the identity). */
  certificateFactor: number;
  identity: boolean;
}

const shapeText = (dims: readonly (OnnxDim | number)[]): string => `[N, ${dims.map((d) => d ?? '?').join(', ')}]`;

function fits(declared: readonly OnnxDim[], shape: readonly number[]): boolean {
  return shape.length === declared.length && declared.every((d, i) => typeof d !== 'number' || d === shape[i]);
}

/** Parses `--input-shape`-style dims: positive integers. */
function checkInputShape(shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new InvalidArgumentError(`'inputShape' must be positive integers such as 1,28,28 or 28,28,1, got [${String(shape)}]`);
  }
}

/**
 * How to feed images of `dims` to `model` (see the module doc): the layout
 * told from the declared input shape and the channel count, or from
 * `inputShape` (one image, no batch dimension) when given. A DataError when
 * the images do not fit the model, an InvalidArgumentError when only
 * `inputShape` can tell.
 */
export function resolveModelInput(model: OnnxModel, dims: ImageDims, inputShape?: readonly number[]): ModelInput {
  const { height: h, width: w, channels: c } = dims;
  const input = model.inputs[0];
  const declared: readonly OnnxDim[] | null = input?.shape ? input.shape.slice(1) : null;
  const what = `images of ${h}x${w}x${c} (height x width x channels)`;
  const candidates: ModelInput[] = [
    { layout: 'nchw', shape: [c, h, w] },
    { layout: 'nhwc', shape: [h, w, c] },
    { layout: 'nchw', shape: [c * h * w] },
    ...(c === 1 ? [{ layout: 'nchw' as const, shape: [h, w] }] : []),
  ];
  if (inputShape !== undefined) {
    checkInputShape(inputShape);
    if (declared && !fits(declared, inputShape)) {
      throw new InvalidArgumentError(
        `'inputShape' [${inputShape.join(', ')}] does not match the input '${input.name}' of ` +
          `'${model.source}', declared ${shapeText(declared)}; pass the shape of one image as the model reads it`,
      );
    }
    const match = candidates.find((cand) => cand.shape.join() === inputShape.join());
    if (!match) {
      throw new InvalidArgumentError(`'inputShape' [${inputShape.join(', ')}] does not hold ${what}; pass ` + `${c},${h},${w} (NCHW) or ${h},${w},${c} (NHWC)`);
    }
    return { layout: match.layout, shape: [...inputShape] };
  }
  if (!declared) return candidates[0];
  const matches = candidates.filter((cand) => fits(declared, cand.shape));
  if (matches.length === 0) {
    throw new DataError(
      `the model '${model.source}' expects inputs of shape ${shapeText(declared)} but the data holds ${what}, ` +
        `fed as [N, ${c}, ${h}, ${w}]; use data that matches the model (or the model trained on this data).`,
    );
  }
  // Only [C, H, W] and [H, W, C] can both fit (symbolic dims); C = H = W gives one shape, taken as ONNX's NCHW.
  if (matches.length > 1 && matches[0].shape.join() !== matches[1].shape.join()) {
    throw new InvalidArgumentError(
      `the input '${input.name}' of '${model.source}' is declared ${shapeText(declared)}, which ` +
        `leaves open how to feed ${what}; pass the shape of one image as the model reads it: '--input-shape' ` +
        `${c},${h},${w} (NCHW) or ${h},${w},${c} (NHWC)`,
    );
  }
  return matches[0];
}

/** Checks a transform against the channel count and expands it per channel. */
export function resolveTransform(t: InputTransform, channels: number): ResolvedTransform {
  const scale = t.scale ?? 1;
  if (!(Number.isFinite(scale) && scale > 0)) throw new InvalidArgumentError(`'scale' must be a finite number > 0, got ${scale}`);
  const perChannel = (name: string, values: readonly number[] | undefined, dflt: number, ok: (v: number) => boolean, rule: string): number[] => {
    if (values === undefined) return new Array<number>(channels).fill(dflt);
    if (!Array.isArray(values) || !(values.length === 1 || values.length === channels) || !values.every(ok)) {
      throw new InvalidArgumentError(`'${name}' must be 1 or ${channels} (one per channel) ${rule}, got [${String(values)}]`);
    }
    return values.length === 1 ? new Array<number>(channels).fill(values[0]) : [...values];
  };
  const mean = perChannel('mean', t.mean, 0, Number.isFinite, 'finite numbers');
  const std = perChannel('std', t.std, 1, (v) => Number.isFinite(v) && v > 0, 'finite numbers > 0');
  const identity = scale === 1 && mean.every((m) => m === 0) && std.every((s) => s === 1);
  // min(std) / scale, rounded down by one float64 ulp so the data-space radius is never overstated.
  const certificateFactor = identity ? 1 : (Math.min(...std) / scale) * (1 - 2 ** -52);
  return { scale, mean, std, certificateFactor, identity };
}

/**
 * The model-space images (float32, in `input.layout`) of `n` NHWC images, and
 * per image the L2 distance `delta` between the float32 image and the exact
 * (s * x - m) / sigma, rounded up (all zeros for the identity transform).
 */
export function toModelInput(
  images: Float32Array,
  n: number,
  dims: ImageDims,
  input: ModelInput,
  t: ResolvedTransform,
): { images: Float32Array; delta: Float64Array } {
  const { height: h, width: w, channels: c } = dims;
  const per = h * w * c;
  if (images.length !== n * per) throw new InvalidArgumentError(`'images' holds ${images.length} values, ${n} images of ${h}x${w}x${c} need ${n * per}`);
  const delta = new Float64Array(n);
  if (t.identity && (input.layout === 'nhwc' || c === 1)) return { images, delta };
  const out = new Float32Array(n * per);
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    let err2 = 0;
    let norm2 = 0;
    for (let p = 0; p < hw; p++) {
      for (let ch = 0; ch < c; ch++) {
        const exact = t.identity ? images[i * per + p * c + ch] : (t.scale * images[i * per + p * c + ch] - t.mean[ch]) / t.std[ch];
        const fed = Math.fround(exact);
        out[i * per + (input.layout === 'nhwc' ? p * c + ch : ch * hw + p)] = fed;
        err2 += (fed - exact) ** 2;
        norm2 += exact * exact;
      }
    }
    // float64 evaluation of `exact` is within 3 ulps of the real value; the sum and sqrt add a few more.
    delta[i] = t.identity ? 0 : Math.sqrt(err2) * (1 + 2 ** -50) + 2 ** -50 * Math.sqrt(norm2);
  }
  return { images: out, delta };
}

/**
 * Data-space certificates from model-space ones: max(0, r - delta) * factor
 * (the module doc). The identity transform returns `certificates` as they are.
 */
export function dataSpaceCertificates(certificates: Float64Array, delta: Float64Array, t: ResolvedTransform): Float64Array {
  if (t.identity) return certificates;
  return Float64Array.from(certificates, (r, i) => (r === Infinity ? Infinity : Math.max(0, r - delta[i]) * t.certificateFactor));
}
