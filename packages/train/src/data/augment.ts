/**
 * Label-preserving augmentation of a gathered training batch, in place:
 *
 * - `shift`: pad by k zero pixels on every side and crop back at a random
 *   offset, i.e. out(y, x) = in(y - dy, x - dx) with dy, dx uniform in
 *   [-k, k] and 0 outside the image;
 * - `shift-flip`: the same, after a horizontal mirror out(y, x) = in(y, W-1-x)
 *   with probability 1/2 (not for digits: `FLIP_UNSAFE_DATASETS`).
 *
 * The draws of a sample are a hash of (run seed, epoch, the sample's position
 * in the epoch's order), not of a sequential stream: any slice of a batch
 * (a worker's share) is augmented the same as the whole batch, and a resumed
 * run draws what the uninterrupted run drew.
 */
import { assertArg, InvalidArgumentError } from '../errors';

export const AUGMENTATIONS = ['none', 'shift', 'shift-flip'] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];
export const DEFAULT_AUGMENTATION: Augmentation = 'none';
/** Pixels of shift each way (k): 2 for 28×28, as in the MNIST-family recipes. */
export const DEFAULT_AUGMENT_SHIFT = 2;
/** Datasets whose classes a horizontal mirror changes (digits: 2, 3, 7 ...). */
export const FLIP_UNSAFE_DATASETS: ReadonlySet<string> = new Set(['mnist']);

/** What `augmentRows` applies. */
export interface AugmentSpec {
  mode: Augmentation;
  /** k: shifts are uniform in [-k, k] pixels on each axis. */
  shift: number;
  seed: number;
  /** 1-based epoch: each epoch draws afresh. */
  epoch: number;
  height: number;
  width: number;
  channels: number;
}

/** Throws `InvalidArgumentError` when `mode` is unknown or flips `dataset`'s classes. */
export function assertAugmentationFits(mode: string, shift: number, dataset: string): void {
  assertArg((AUGMENTATIONS as readonly string[]).includes(mode), () => `'augment' must be one of ${AUGMENTATIONS.join(', ')}, got ${JSON.stringify(mode)}`);
  assertArg(Number.isInteger(shift) && shift >= 0 && shift <= 64, () => `'augmentShift' must be an integer in [0, 64], got ${shift}`);
  if (mode === 'shift-flip' && FLIP_UNSAFE_DATASETS.has(dataset)) {
    throw new InvalidArgumentError(`'augment' shift-flip mirrors images, which changes the class of ${dataset}'s digits (2, 3, 7 ...); use --augment shift`);
  }
}

/** lowbias32 (C. Wellons' hash prospector): a 32-bit mix with full avalanche. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The 32 random bits of the sample at `position` of epoch `epoch`'s order. */
export function sampleDraw(seed: number, epoch: number, position: number): number {
  return mix32(mix32(mix32(seed >>> 0) ^ epoch) ^ position);
}

/**
 * Augments `rows` images of `images` (NHWC rows of `spec`'s shape) in place;
 * row r is the sample at position `firstPosition + r` of the epoch's order.
 * `scratch` (one row) avoids an allocation per call.
 */
export function augmentRows(images: Float32Array, rows: number, firstPosition: number, spec: AugmentSpec, scratch?: Float32Array): void {
  if (spec.mode === 'none') return;
  const { height: h, width: w, channels: c, shift: k } = spec;
  const rowSize = h * w * c;
  assertArg(images.length >= rows * rowSize, () => `'images' holds ${images.length} values, ${rows} rows of ${rowSize} need more`);
  const src = scratch !== undefined && scratch.length >= rowSize ? scratch : new Float32Array(rowSize);
  const span = 2 * k + 1;
  const flips = spec.mode === 'shift-flip';
  for (let r = 0; r < rows; r++) {
    const bits = sampleDraw(spec.seed, spec.epoch, firstPosition + r);
    const dx = (bits % span) - k;
    const dy = (Math.floor(bits / span) % span) - k;
    const flip = flips && bits >>> 31 === 1;
    if (dx === 0 && dy === 0 && !flip) continue;
    const row = images.subarray(r * rowSize, (r + 1) * rowSize);
    src.set(row);
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      const out = y * w * c;
      if (sy < 0 || sy >= h) {
        row.fill(0, out, out + w * c);
        continue;
      }
      for (let x = 0; x < w; x++) {
        const shifted = x - dx;
        const o = out + x * c;
        if (shifted < 0 || shifted >= w) {
          for (let ch = 0; ch < c; ch++) row[o + ch] = 0;
          continue;
        }
        const i = (sy * w + (flip ? w - 1 - shifted : shifted)) * c;
        for (let ch = 0; ch < c; ch++) row[o + ch] = src[i + ch];
      }
    }
  }
}
