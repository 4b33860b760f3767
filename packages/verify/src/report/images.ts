/**
 * The pixel images of the report (an original, its adversarial, their
 * difference) as PNGs at the data's own resolution: they are data, not charts.
 * The page enlarges them with `image-rendering: pixelated`.
 */
import { encodePng } from './png';

export type Rgb = readonly [number, number, number];

/**
 * Diverging colormap (blue - white - red, like matplotlib's 'bwr'): t in [-1, 1],
 * negative blue, zero white, positive red.
 */
export function diverging(t: number): Rgb {
  const u = Math.max(-1, Math.min(1, Number.isFinite(t) ? t : 0));
  const a = Math.round(255 * (1 - Math.abs(u)));
  return u >= 0 ? [255, a, a] : [a, a, 255];
}

/** An image `[C, H, W]` (C = 1 grey, C >= 3 the first three as RGB) with `range` mapped to black..white. */
export function imagePng(pixels: Float32Array, chw: readonly [number, number, number], range: readonly [number, number] = [0, 1]): Uint8Array {
  const [c, h, w] = chw;
  const [lo, hi] = range;
  const plane = h * w;
  const grey = (v: number): number => Math.round(255 * Math.max(0, Math.min(1, (v - lo) / (hi - lo || 1))));
  const rgb = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) rgb[p * 3 + ch] = grey(pixels[(c >= 3 ? ch : 0) * plane + p]);
  }
  return encodePng(w, h, rgb);
}

/**
 * adversarial - original, channels averaged, on the diverging colormap with
 * full colour at +-`scale` (the largest change over the images shown, so that
 * the images compare).
 */
export function differencePng(original: Float32Array, adversarial: Float32Array, chw: readonly [number, number, number], scale: number): Uint8Array {
  const [c, h, w] = chw;
  const plane = h * w;
  const rgb = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    let sum = 0;
    for (let ch = 0; ch < c; ch++) sum += adversarial[ch * plane + p] - original[ch * plane + p];
    rgb.set(diverging(scale > 0 ? sum / c / scale : 0), p * 3);
  }
  return encodePng(w, h, rgb);
}

/** The largest |adversarial - original| over `pairs`, channels averaged as in differencePng. */
export function largestChange(pairs: readonly { original: Float32Array; adversarial: Float32Array }[], chw: readonly [number, number, number]): number {
  const [c, h, w] = chw;
  const plane = h * w;
  let largest = 0;
  for (const { original, adversarial } of pairs) {
    for (let p = 0; p < plane; p++) {
      let sum = 0;
      for (let ch = 0; ch < c; ch++) sum += adversarial[ch * plane + p] - original[ch * plane + p];
      if (Number.isFinite(sum)) largest = Math.max(largest, Math.abs(sum / c));
    }
  }
  return largest;
}
