import { DEFAULT_TICK_COUNT, niceDomain, niceTicks, tickDecimals } from './ticks';
import { el, escapeHtml, estimateTextWidth, fitText, num, svgDocument, text } from './svg';

/** One attacked image for which an adversarial was found. */
export interface ScatterPoint {
  /** Index of the image in the data set (shown next to violations and in tooltips). */
  index: number;
  /** Certified L2 radius. */
  certificate: number;
  /** L2 distance of the adversarial found. */
  distance: number;
  /** Closer than the certificate (`AttackImageResult.violated`). */
  violated: boolean;
  /** The model was already wrong on the original (outcome 'misclassified'): drawn hollow. */
  misclassified?: boolean;
}

/** One point of the certified-accuracy curve. */
export interface CraPoint {
  eps: number;
  /** Certified robust accuracy in [0, 1] (`CertifiedAccuracyPoint.value`). */
  cra: number;
}

const BLUE = '#1f77b4';
const RED = '#d62728';
const GREY = '#666';
const GRID = '#e6e6e6';
const PAD = 16;
const TITLE_SIZE = 16;
const SUBTITLE_SIZE = 12;
const TICK_SIZE = 11;
const LABEL_SIZE = 12;
/** Violations labelled with their image index; more would overlap. */
const MAX_POINT_LABELS = 12;

/** A linear map from `domain` to `range` (pixels). */
function linear(domain: readonly [number, number], range: readonly [number, number]): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

function tickLabels(ticks: readonly number[], format?: (v: number) => string): string[] {
  const decimals = tickDecimals(ticks);
  return ticks.map((t) => (format ? format(t) : t.toFixed(decimals)));
}

interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
  xDomain: [number, number];
  yDomain: [number, number];
  xLabel: string;
  yLabel: string;
  yFormat?: (v: number) => string;
}

/** Grid, axes, ticks on round values and axis labels of a plot area; ticks are `<g class="tick x|y">` with their value as text. */
function axes(f: Frame): string[] {
  const sx = linear(f.xDomain, [f.left, f.left + f.width]);
  const sy = linear(f.yDomain, [f.top + f.height, f.top]);
  const bottom = f.top + f.height;
  const xTicks = niceTicks(f.xDomain[0], f.xDomain[1], DEFAULT_TICK_COUNT);
  const yTicks = niceTicks(f.yDomain[0], f.yDomain[1], DEFAULT_TICK_COUNT);
  const xText = tickLabels(xTicks);
  const yText = tickLabels(yTicks, f.yFormat);
  const out: string[] = [];
  out.push(
    el('g', { class: 'grid', stroke: GRID, 'stroke-width': 1 }, [
      ...xTicks.map((t) => el('line', { x1: sx(t), y1: f.top, x2: sx(t), y2: bottom })),
      ...yTicks.map((t) => el('line', { x1: f.left, y1: sy(t), x2: f.left + f.width, y2: sy(t) })),
    ]),
  );
  out.push(
    el('g', { class: 'axes', stroke: '#222', 'stroke-width': 1 }, [
      el('line', { class: 'axis x', x1: f.left, y1: bottom, x2: f.left + f.width, y2: bottom }),
      el('line', { class: 'axis y', x1: f.left, y1: f.top, x2: f.left, y2: bottom }),
    ]),
  );
  xTicks.forEach((t, i) =>
    out.push(
      el('g', { class: 'tick x' }, [
        el('line', { x1: sx(t), y1: bottom, x2: sx(t), y2: bottom + 5, stroke: '#222' }),
        text(sx(t), bottom + 18, xText[i], { 'text-anchor': 'middle', 'font-size': TICK_SIZE }),
      ]),
    ),
  );
  yTicks.forEach((t, i) =>
    out.push(
      el('g', { class: 'tick y' }, [
        el('line', { x1: f.left - 5, y1: sy(t), x2: f.left, y2: sy(t), stroke: '#222' }),
        text(f.left - 8, sy(t) + 4, yText[i], { 'text-anchor': 'end', 'font-size': TICK_SIZE }),
      ]),
    ),
  );
  out.push(text(f.left + f.width / 2, bottom + 40, f.xLabel, { class: 'axis-label x', 'text-anchor': 'middle', 'font-size': LABEL_SIZE }));
  const yMid = f.top + f.height / 2;
  out.push(
    text(PAD + LABEL_SIZE, yMid, f.yLabel, {
      class: 'axis-label y',
      'text-anchor': 'middle',
      'font-size': LABEL_SIZE,
      transform: `rotate(-90 ${PAD + LABEL_SIZE} ${yMid})`,
    }),
  );
  return out;
}

/** Room left of the plot area for the rotated y label and the widest y tick label. */
function leftMargin(yDomain: readonly [number, number], format?: (v: number) => string): number {
  const labels = tickLabels(niceTicks(yDomain[0], yDomain[1], DEFAULT_TICK_COUNT), format);
  return PAD + LABEL_SIZE + 10 + Math.max(...labels.map((s) => estimateTextWidth(s, TICK_SIZE))) + 10;
}

/** Title (bold) and subtitle lines fitted to `width`; returns the markup and the y below them. */
function heading(width: number, title: string, subtitle: string): { markup: string[]; bottom: number } {
  const t = fitText(title, width - 2 * PAD, TITLE_SIZE, true);
  const s = fitText(subtitle, width - 2 * PAD, SUBTITLE_SIZE);
  return {
    markup: [
      text(PAD, PAD + TITLE_SIZE, t.text, { class: 'title', 'font-size': t.fontSize, 'font-weight': 'bold' }),
      text(PAD, PAD + TITLE_SIZE + 8 + SUBTITLE_SIZE, s.text, { class: 'subtitle', 'font-size': s.fontSize, fill: GREY }),
    ],
    bottom: PAD + TITLE_SIZE + 8 + SUBTITLE_SIZE + 20,
  };
}

function fmt4(v: number): string {
  return v.toFixed(4);
}

/** A `<title>` child: the viewer's tooltip on hover. */
function tooltip(s: string): string {
  return el('title', {}, escapeHtml(s));
}

/** The scatter's subtitle: how many points, how many violations. */
export function scatterSummary(points: readonly ScatterPoint[]): string {
  const shown = points.filter((p) => Number.isFinite(p.certificate) && Number.isFinite(p.distance));
  const violations = shown.filter((p) => p.violated).length;
  const dropped = points.length - shown.length;
  return (
    `${shown.length} image${shown.length === 1 ? '' : 's'} with an adversarial; ` +
    `${violations} below y = x (certificate violation${violations === 1 ? '' : 's'})` +
    `${dropped ? `; ${dropped} with a non-finite value not drawn` : ''}`
  );
}

/**
 * Certificate (x) against the distance of the adversarial found (y), one point
 * per image, with the line y = x. A sound certificate keeps every point on or
 * above the line; points below it are violations, drawn red and labelled with
 * their image index. Both axes share one domain, so y = x is the diagonal.
 */
export function renderCertificateScatter(points: readonly ScatterPoint[], opts: { title: string }): string {
  const shown = points.filter((p) => Number.isFinite(p.certificate) && Number.isFinite(p.distance));
  const values = shown.flatMap((p) => [p.certificate, p.distance]);
  const domain = niceDomain(
    values.reduce((a, b) => Math.min(a, b), 0),
    values.reduce((a, b) => Math.max(a, b), 0),
  );
  const size = 360;
  const left = leftMargin(domain);
  const anyMisclassified = shown.some((p) => p.misclassified);
  const legend: { key: string; label: string }[] = [
    { key: 'adversarial', label: 'adversarial found' },
    ...(anyMisclassified ? [{ key: 'misclassified', label: 'already misclassified' }] : []),
    { key: 'violation', label: 'below y = x: violation' },
    { key: 'identity', label: 'y = x' },
  ];
  const legendX = left + size + 24;
  const width = Math.max(560, legendX + 26 + Math.max(...legend.map((l) => estimateTextWidth(l.label, LABEL_SIZE))) + PAD);
  const head = heading(width, opts.title, scatterSummary(points));
  const top = head.bottom;
  const height = top + size + 56;
  const sx = linear(domain, [left, left + size]);
  const sy = linear(domain, [top + size, top]);
  const [lo, hi] = domain;

  const body = [...head.markup];
  body.push(
    el('polygon', {
      class: 'violation-region',
      points: `${num(sx(lo))},${num(sy(lo))} ${num(sx(hi))},${num(sy(lo))} ${num(sx(hi))},${num(sy(hi))}`,
      fill: RED,
      'fill-opacity': 0.06,
    }),
  );
  body.push(
    ...axes({
      left,
      top,
      width: size,
      height: size,
      xDomain: domain,
      yDomain: domain,
      xLabel: 'certificate (certified L2 radius)',
      yLabel: 'L2 distance of the adversarial found',
    }),
  );
  body.push(text(sx(hi) - 6, sy(lo) - 8, 'certificate violated', { 'text-anchor': 'end', 'font-size': TICK_SIZE, fill: RED }));
  body.push(
    el('line', {
      class: 'identity',
      x1: sx(lo),
      y1: sy(lo),
      x2: sx(hi),
      y2: sy(hi),
      stroke: GREY,
      'stroke-width': 1.5,
      'stroke-dasharray': '6 4',
    }),
  );
  // Violations drawn last (on top), hollow points above filled ones; smaller dots when there are many.
  const rank = (p: ScatterPoint): number => (p.violated ? 2 : p.misclassified ? 1 : 0);
  const ordered = [...shown].sort((a, b) => rank(a) - rank(b));
  const radius = shown.length > 50 ? 3 : 4;
  for (const p of ordered) {
    const cx = sx(p.certificate);
    const cy = sy(p.distance);
    const tip = tooltip(
      `#${p.index}: certificate ${fmt4(p.certificate)}, distance ${fmt4(p.distance)}` +
        `${p.violated ? ' (violation)' : ''}${p.misclassified ? ' (already misclassified)' : ''}`,
    );
    const cls = `point${p.violated ? ' violation' : ''}${p.misclassified ? ' misclassified' : ''}`;
    const colour = p.violated ? RED : BLUE;
    body.push(
      el(
        'circle',
        {
          class: cls,
          'data-index': p.index,
          cx,
          cy,
          r: p.violated ? radius + 1.5 : radius,
          fill: p.misclassified ? '#fff' : colour,
          'fill-opacity': p.misclassified ? 1 : 0.8,
          stroke: p.violated ? '#7f0000' : colour,
          'stroke-width': 1.5,
        },
        tip,
      ),
    );
  }
  const dots = ordered.map((p) => ({ index: p.index, violated: p.violated, x: sx(p.certificate), y: sy(p.distance) }));
  const labelBoxes: Box[] = [];
  body.push(
    ...dots
      .filter((p) => p.violated)
      .slice(0, MAX_POINT_LABELS)
      .map((p) => {
        const at = placeLabel(
          `#${p.index}`,
          p,
          labelBoxes,
          dots.filter((q) => q !== p),
          { x0: left, y0: top, x1: left + size, y1: top + size },
        );
        return text(at.x, at.y, `#${p.index}`, { class: 'point-label', 'font-size': TICK_SIZE, fill: RED, 'text-anchor': at.anchor });
      }),
  );

  const rows: string[] = [];
  legend.forEach((l, i) => {
    const y = top + 10 + i * 22;
    const mark =
      l.key === 'identity'
        ? el('line', { x1: legendX, y1: y, x2: legendX + 16, y2: y, stroke: GREY, 'stroke-width': 1.5, 'stroke-dasharray': '6 4' })
        : el('circle', {
            cx: legendX + 8,
            cy: y,
            r: l.key === 'violation' ? 5.5 : 4,
            'stroke-width': 1.5,
            fill: l.key === 'misclassified' ? '#fff' : l.key === 'violation' ? RED : BLUE,
            stroke: l.key === 'violation' ? '#7f0000' : BLUE,
          });
    rows.push(mark, text(legendX + 26, y + 4, l.label, { 'font-size': LABEL_SIZE }));
  });
  body.push(el('g', { class: 'legend' }, rows));
  return svgDocument(width, height, opts.title, body);
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function overlaps(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/**
 * Where to write a point's label: right, left, above or below it, the first
 * place inside `plot` that overlaps no label placed before (`placed`, updated)
 * and no other of `points`; else the first inside and clear of labels; else
 * right of it.
 */
function placeLabel(
  label: string,
  p: { x: number; y: number },
  placed: Box[],
  points: readonly { x: number; y: number }[],
  plot: Box,
): { x: number; y: number; anchor: 'start' | 'end' | 'middle' } {
  const w = estimateTextWidth(label, TICK_SIZE);
  const h = TICK_SIZE;
  const candidates = [
    { x: p.x + 8, y: p.y + 4, anchor: 'start' as const, box: { x0: p.x + 8, y0: p.y - 7, x1: p.x + 8 + w, y1: p.y - 7 + h } },
    { x: p.x - 8, y: p.y + 4, anchor: 'end' as const, box: { x0: p.x - 8 - w, y0: p.y - 7, x1: p.x - 8, y1: p.y - 7 + h } },
    { x: p.x, y: p.y - 9, anchor: 'middle' as const, box: { x0: p.x - w / 2, y0: p.y - 9 - h + 2, x1: p.x + w / 2, y1: p.y - 7 } },
    { x: p.x, y: p.y + 18, anchor: 'middle' as const, box: { x0: p.x - w / 2, y0: p.y + 8, x1: p.x + w / 2, y1: p.y + 8 + h } },
  ];
  const dot = (q: { x: number; y: number }): Box => ({ x0: q.x - 6, y0: q.y - 6, x1: q.x + 6, y1: q.y + 6 });
  const inside = (b: Box): boolean => b.x0 >= plot.x0 && b.x1 <= plot.x1 && b.y0 >= plot.y0 && b.y1 <= plot.y1;
  const clearOfLabels = candidates.filter((c) => inside(c.box) && !placed.some((b) => overlaps(b, c.box)));
  const free = clearOfLabels.find((c) => !points.some((q) => overlaps(dot(q), c.box))) ?? clearOfLabels[0] ?? candidates[0];
  placed.push(free.box);
  return free;
}

/** Certified robust accuracy against epsilon: a line with points, and the clean accuracy dashed. */
export function renderCraChart(points: readonly CraPoint[], opts: { title: string; accuracy?: number | null }): string {
  const accuracy = typeof opts.accuracy === 'number' && Number.isFinite(opts.accuracy) ? opts.accuracy : null;
  const pts = points.filter((p) => Number.isFinite(p.eps) && Number.isFinite(p.cra)).sort((a, b) => a.eps - b.eps);
  const xDomain = niceDomain(
    pts.reduce((a, p) => Math.min(a, p.eps), 0),
    pts.reduce((a, p) => Math.max(a, p.eps), 0),
  );
  const yDomain: [number, number] = [0, 1];
  const percent = (v: number): string => `${Math.round(v * 100)}%`;
  const width = 640;
  const head = heading(
    width,
    opts.title,
    `${pts.length} radi${pts.length === 1 ? 'us' : 'i'}` + `${accuracy !== null ? `; clean accuracy ${(accuracy * 100).toFixed(2)}%` : ''}`,
  );
  const left = leftMargin(yDomain, percent);
  const top = head.bottom;
  const plotW = width - left - PAD - 8;
  const plotH = 280;
  const height = top + plotH + 56;
  const sx = linear(xDomain, [left, left + plotW]);
  const sy = linear(yDomain, [top + plotH, top]);
  const clamp = (v: number): number => Math.max(0, Math.min(1, v));

  const body = [...head.markup];
  body.push(
    ...axes({ left, top, width: plotW, height: plotH, xDomain, yDomain, xLabel: 'ε (L2 radius)', yLabel: 'certified robust accuracy', yFormat: percent }),
  );
  if (accuracy !== null) {
    const y = sy(clamp(accuracy));
    body.push(el('line', { class: 'accuracy', x1: left, y1: y, x2: left + plotW, y2: y, stroke: GREY, 'stroke-dasharray': '6 4' }));
    body.push(text(left + plotW - 4, y - 6, `clean accuracy ${(accuracy * 100).toFixed(2)}%`, { 'text-anchor': 'end', 'font-size': TICK_SIZE, fill: GREY }));
  }
  if (pts.length > 1) {
    body.push(
      el('polyline', {
        class: 'curve',
        points: pts.map((p) => `${num(sx(p.eps))},${num(sy(clamp(p.cra)))}`).join(' '),
        fill: 'none',
        stroke: BLUE,
        'stroke-width': 2.5,
      }),
    );
  }
  for (const p of pts) {
    body.push(
      el('circle', { class: 'point', cx: sx(p.eps), cy: sy(clamp(p.cra)), r: 3.5, fill: BLUE }, tooltip(`ε ${fmt4(p.eps)}: ${(p.cra * 100).toFixed(2)}%`)),
    );
  }
  return svgDocument(width, height, opts.title, body);
}
