import { Raster, Rgb, diverging } from './raster';
import { GLYPH_HEIGHT, textWidth } from './font';

/** One row of the attack figure: an image, its adversarial and what was observed. */
export interface AttackFigureRow {
  /** Index of the image in the data set. */
  index: number;
  original: Float32Array;
  adversarial: Float32Array;
  /** Class names (or numbers) of the prediction on the original and on the adversarial. */
  predName: string;
  advName: string;
  certificate: number;
  /** null when no adversarial was found. */
  distance: number | null;
  violated: boolean;
}

export interface AttackFigureOptions {
  /** `[C, H, W]` of every image. */
  chw: readonly [number, number, number];
  /** Input range mapped to black..white. Default [0, 1]. */
  range?: readonly [number, number];
  title?: string;
  /** Pixels per input pixel. Default: images about 112 px tall. */
  zoom?: number;
}

const INK: Rgb = [20, 20, 20];
const RED: Rgb = [200, 0, 0];
const GREY: Rgb = [110, 110, 110];

function fmt(v: number | null): string {
  return v === null ? '-' : v.toFixed(4);
}

/**
 * The reference figure: one row per image with original | adversarial |
 * difference (diverging colormap, symmetric around 0 at the largest |diff| of
 * the set), labelled with the classes, the certificate and the distance found.
 */
export function renderAttackFigure(rows: readonly AttackFigureRow[], opts: AttackFigureOptions): Uint8Array {
  const [c, h, w] = opts.chw;
  const [lo, hi] = opts.range ?? [0, 1];
  const zoom = opts.zoom ?? Math.max(1, Math.round(112 / h));
  const scale = 2;
  const pad = 12;
  const cellW = w * zoom;
  const cellH = h * zoom;
  const line = GLYPH_HEIGHT * scale;
  const labels = rows.map((r) => [
    `#${r.index}  ${r.predName} -> ${r.distance === null ? '(none found)' : r.advName}`,
    `certificate ${fmt(r.certificate)}  distance ${fmt(r.distance)}${r.violated ? '  VIOLATED' : ''}`,
  ]);
  let maxDiff = 0;
  for (const r of rows) for (let p = 0; p < r.original.length; p++) maxDiff = Math.max(maxDiff, Math.abs(r.adversarial[p] - r.original[p]));
  const headers = ['original', 'adversarial', `difference (+-${maxDiff.toFixed(3)})`];
  const width = Math.max(
    pad + 3 * (cellW + pad),
    pad * 2 + Math.max(0, ...labels.flat().map((s) => textWidth(s, scale))),
    pad * 2 + textWidth(opts.title ?? '', scale),
    pad + headers.reduce((s, t) => s + Math.max(cellW, textWidth(t, scale)) + pad, 0),
  );
  const colX: number[] = [];
  let x = pad;
  for (const t of headers) {
    colX.push(x);
    x += Math.max(cellW, textWidth(t, scale)) + pad;
  }
  const rowH = 2 * line + 4 + cellH + pad;
  const top = pad + (opts.title ? line + 6 : 0) + line + 6;
  const img = new Raster(width, top + rows.length * rowH + pad);
  if (opts.title) img.text(pad, pad, opts.title, INK, scale);
  headers.forEach((t, i) => img.text(colX[i], top - line - 4, t, GREY, scale));

  const gray = (v: number): number => Math.round(255 * Math.max(0, Math.min(1, (v - lo) / (hi - lo || 1))));
  const drawImage = (x0: number, y0: number, px: (p: number, ch: number) => Rgb): void => {
    for (let yy = 0; yy < h; yy++) {
      for (let xx = 0; xx < w; xx++) img.fillRect(x0 + xx * zoom, y0 + yy * zoom, zoom, zoom, px(yy * w + xx, 0));
    }
  };
  const toRgb = (a: Float32Array) => (p: number): Rgb => {
    if (c >= 3) return [gray(a[p]), gray(a[h * w + p]), gray(a[2 * h * w + p])];
    const g = gray(a[p]);
    return [g, g, g];
  };

  rows.forEach((r, i) => {
    const y0 = top + i * rowH;
    img.text(pad, y0, labels[i][0], r.violated ? RED : INK, scale);
    img.text(pad, y0 + line, labels[i][1], r.violated ? RED : INK, scale);
    const yi = y0 + 2 * line + 4;
    drawImage(colX[0], yi, toRgb(r.original));
    drawImage(colX[1], yi, toRgb(r.adversarial));
    drawImage(colX[2], yi, (p) => {
      // Channels summed for colour images: the sign and size of the change per pixel.
      let dsum = 0;
      for (let ch = 0; ch < c; ch++) dsum += r.adversarial[ch * h * w + p] - r.original[ch * h * w + p];
      return diverging(maxDiff > 0 ? dsum / c / maxDiff : 0);
    });
    for (const cx of colX) {
      img.line(cx - 1, yi - 1, cx + cellW, yi - 1, GREY);
      img.line(cx - 1, yi + cellH, cx + cellW, yi + cellH, GREY);
      img.line(cx - 1, yi - 1, cx - 1, yi + cellH, GREY);
      img.line(cx + cellW, yi - 1, cx + cellW, yi + cellH, GREY);
    }
  });
  return img.toPng();
}

/** One point of the certified-accuracy curve. */
export interface CraPoint {
  eps: number;
  /** Certified robust accuracy in [0, 1] (`CertifiedAccuracyPoint.value`). */
  cra: number;
}

/** Certified robust accuracy against epsilon: a line with points, axes and ticks. */
export function renderCraCurve(points: readonly CraPoint[], opts: { title?: string; accuracy?: number } = {}): Uint8Array {
  const scale = 2;
  const line = GLYPH_HEIGHT * scale;
  const W = 640;
  const H = 420;
  const left = 80;
  const right = 24;
  const top = 44 + (opts.title ? line + 8 : 0);
  const bottom = 64;
  const img = new Raster(W, H);
  if (opts.title) img.text(8, 10, opts.title, INK, scale);
  const pts = [...points].filter((p) => Number.isFinite(p.eps) && Number.isFinite(p.cra)).sort((a, b) => a.eps - b.eps);
  const xMax = Math.max(1e-9, ...pts.map((p) => p.eps)) * 1.05;
  const px = (e: number): number => left + (e / xMax) * (W - left - right);
  const py = (v: number): number => H - bottom - Math.max(0, Math.min(1, v)) * (H - top - bottom);
  // Axes and ticks.
  img.line(left, py(0), W - right, py(0), INK, 2);
  img.line(left, py(0), left, py(1), INK, 2);
  for (let t = 0; t <= 5; t++) {
    const v = t / 5;
    img.line(left - 6, py(v), left, py(v), INK);
    if (t > 0) img.line(left + 1, py(v), W - right, py(v), [225, 225, 225]);
    const s = `${Math.round(v * 100)}%`;
    img.text(left - 10 - textWidth(s, scale), py(v) - line / 2 + 2, s, INK, scale);
  }
  for (let t = 0; t <= 4; t++) {
    const e = (xMax / 1.05) * (t / 4);
    img.line(px(e), py(0), px(e), py(0) + 6, INK);
    const s = e.toFixed(2);
    img.text(px(e) - textWidth(s, scale) / 2, py(0) + 10, s, INK, scale);
  }
  img.text((W - textWidth('epsilon (L2)', scale)) / 2, H - line - 6, 'epsilon (L2)', INK, scale);
  img.text(8, top - line - 14, 'CRA', INK, scale);
  if (opts.accuracy !== undefined) {
    img.line(left, py(opts.accuracy), W - right, py(opts.accuracy), GREY);
    img.text(W - right - textWidth('accuracy', scale), py(opts.accuracy) - line, 'accuracy', GREY, scale);
  }
  const BLUE: Rgb = [31, 119, 180];
  for (let i = 1; i < pts.length; i++) img.line(px(pts[i - 1].eps), py(pts[i - 1].cra), px(pts[i].eps), py(pts[i].cra), BLUE, 3);
  for (const p of pts) img.fillRect(px(p.eps) - 4, py(p.cra) - 4, 9, 9, BLUE);
  return img.toPng();
}
