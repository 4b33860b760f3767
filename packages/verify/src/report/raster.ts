import { encodePng } from './png';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './font';

export type Rgb = readonly [number, number, number];

/** An RGB image in memory with the few drawing operations the report needs. */
export class Raster {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: Rgb = [255, 255, 255]) {
    this.data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height * 3; p += 3) {
      this.data[p] = background[0];
      this.data[p + 1] = background[1];
      this.data[p + 2] = background[2];
    }
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const at = (y * this.width + x) * 3;
    this.data[at] = c[0];
    this.data[at + 1] = c[1];
    this.data[at + 2] = c[2];
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }

  /** A line of the given thickness (square pen). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = Math.floor(thickness / 2);
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      this.fillRect(Math.round(x) - r, Math.round(y) - r, thickness, thickness, c);
    }
  }

  /** Text with the built-in 5x7 font, top-left at (x, y). */
  text(x: number, y: number, s: string, c: Rgb = [0, 0, 0], scale = 1): void {
    let cx = x;
    for (const ch of s) {
      const cols = glyph(ch);
      for (let col = 0; col < 5; col++) {
        for (let row = 0; row < 7; row++) {
          if (cols[col] & (1 << row)) this.fillRect(cx + col * scale, y + row * scale, scale, scale, c);
        }
      }
      cx += GLYPH_WIDTH * scale;
    }
  }

  /** Encoded PNG (8-bit RGB). */
  toPng(): Uint8Array {
    return encodePng(this.width, this.height, this.data);
  }
}

export const TEXT_LINE = GLYPH_HEIGHT;

/**
 * Diverging colormap (blue - white - red, like matplotlib's 'bwr'): t in [-1, 1],
 * negative blue, zero white, positive red.
 */
export function diverging(t: number): Rgb {
  const u = Math.max(-1, Math.min(1, Number.isFinite(t) ? t : 0));
  const a = Math.round(255 * (1 - Math.abs(u)));
  return u >= 0 ? [255, a, a] : [a, a, 255];
}
