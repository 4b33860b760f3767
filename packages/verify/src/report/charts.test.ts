import { parseXml, select, XmlElement } from '@lip/test-support/xml';
import { ScatterPoint, renderCertificateScatter, renderCraChart } from './charts';
import { MIN_TITLE_FONT_SIZE, estimateTextWidth, fitText } from './svg';

const POINTS: ScatterPoint[] = [
  { index: 7, certificate: 0.5, distance: 0.7, violated: false },
  { index: 8, certificate: 0.5, distance: 0.2, violated: true },
  { index: 11, certificate: 0.12, distance: 0.31, violated: false, misclassified: true },
  { index: 12, certificate: 0.83, distance: 0.87, violated: false },
];

function viewBox(svg: XmlElement): { width: number; height: number } {
  const [x, y, width, height] = svg.attrs.viewBox.split(/\s+/).map(Number);
  expect([x, y]).toEqual([0, 0]);
  expect([Number(svg.attrs.width), Number(svg.attrs.height)]).toEqual([width, height]);
  return { width, height };
}

/** The pixel map of an axis, read back from its ticks (`<g class="tick x|y">`: a line at the tick, its value as text). */
function axisScale(svg: XmlElement, axis: 'x' | 'y', parse = Number): { values: number[]; labels: string[]; toPixel: (v: number) => number } {
  const ticks = select(svg, 'g', 'tick', axis).map((g) => {
    const line = g.children.find((c) => c.name === 'line')!;
    const label = g.children.find((c) => c.name === 'text')!.text;
    return { label, value: parse(label), at: Number(axis === 'x' ? line.attrs.x1 : line.attrs.y1) };
  });
  expect(ticks.length).toBeGreaterThanOrEqual(3);
  const first = ticks[0];
  const last = ticks[ticks.length - 1];
  const toPixel = (v: number): number => first.at + ((v - first.value) / (last.value - first.value)) * (last.at - first.at);
  // Linear: every tick sits where the first and last place it.
  for (const t of ticks) expect(t.at).toBeCloseTo(toPixel(t.value), 1);
  return { values: ticks.map((t) => t.value), labels: ticks.map((t) => t.label), toPixel };
}

/** Round values: equally spaced by 1, 2 or 5 times a power of ten, each a multiple of the step, printed without float noise. */
function expectRoundTicks(values: readonly number[], labels: readonly string[]): void {
  const step = values[1] - values[0];
  const m = Number((step / 10 ** Math.floor(Math.log10(step) + 1e-12)).toPrecision(6));
  expect([1, 2, 5]).toContain(m);
  values.forEach((v, i) => {
    expect(v).toBeCloseTo(values[0] + i * step, 9);
    expect(Math.abs(v / step - Math.round(v / step))).toBeLessThan(1e-9);
    expect(labels[i]).toMatch(/^-?\d+(\.\d{1,6})?%?$/);
  });
}

function expectTitleFits(svg: XmlElement, bold = true): XmlElement {
  const { width } = viewBox(svg);
  const [title] = select(svg, 'text', 'title');
  const fontSize = Number(title.attrs['font-size']);
  expect(fontSize).toBeGreaterThanOrEqual(MIN_TITLE_FONT_SIZE);
  expect(Number(title.attrs.x)).toBeGreaterThan(0);
  expect(Number(title.attrs.x) + estimateTextWidth(title.text, fontSize, bold)).toBeLessThanOrEqual(width);
  return title;
}

describe('certificate against distance scatter', () => {
  const svg = parseXml(renderCertificateScatter(POINTS, { title: 'cw: certificate vs distance, m.onnx' }));

  it('is well-formed SVG with one point per image with an adversarial, where the scale puts it', () => {
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const circles = select(svg, 'circle', 'point');
    expect(circles.map((c) => Number(c.attrs['data-index'])).sort((a, b) => a - b)).toEqual([7, 8, 11, 12]);
    const x = axisScale(svg, 'x');
    const y = axisScale(svg, 'y');
    for (const p of POINTS) {
      const c = circles.find((e) => Number(e.attrs['data-index']) === p.index)!;
      expect(Number(c.attrs.cx)).toBeCloseTo(x.toPixel(p.certificate), 1);
      expect(Number(c.attrs.cy)).toBeCloseTo(y.toPixel(p.distance), 1);
    }
    // A known point: image 7 at certificate 0.5, distance 0.7, on the shared domain [0, 1] of a 360 px square.
    const seven = circles.find((e) => e.attrs['data-index'] === '7')!;
    expect(Number(seven.attrs.cx) - x.toPixel(0)).toBeCloseTo(0.5 * 360, 1);
    expect(y.toPixel(0) - Number(seven.attrs.cy)).toBeCloseTo(0.7 * 360, 1);
    // Every point is inside the axes.
    expect(Math.max(...POINTS.flatMap((p) => [p.certificate, p.distance]))).toBeLessThanOrEqual(Math.max(...x.values));
  });

  it('puts the axis ticks on round values, the same on both axes', () => {
    const x = axisScale(svg, 'x');
    const y = axisScale(svg, 'y');
    expect(x.values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(x.labels).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect(y.values).toEqual(x.values);
    expectRoundTicks(x.values, x.labels);
  });

  it('draws y = x across the whole plot', () => {
    const x = axisScale(svg, 'x');
    const y = axisScale(svg, 'y');
    const [line] = select(svg, 'line', 'identity');
    const fromPixelX = (px: number): number => x.values[0] + (px - x.toPixel(x.values[0])) / (x.toPixel(1) - x.toPixel(0));
    const fromPixelY = (py: number): number => y.values[0] + (py - y.toPixel(y.values[0])) / (y.toPixel(1) - y.toPixel(0));
    const a = [fromPixelX(Number(line.attrs.x1)), fromPixelY(Number(line.attrs.y1))];
    const b = [fromPixelX(Number(line.attrs.x2)), fromPixelY(Number(line.attrs.y2))];
    expect(a[0]).toBeCloseTo(a[1], 3);
    expect(b[0]).toBeCloseTo(b[1], 3);
    expect(Math.min(a[0], b[0])).toBeCloseTo(Math.min(...x.values), 3);
    expect(Math.max(a[0], b[0])).toBeCloseTo(Math.max(...x.values), 3);
  });

  it('highlights and labels the points below y = x, and counts them in the subtitle', () => {
    const violations = select(svg, 'circle', 'point', 'violation');
    expect(violations.map((c) => c.attrs['data-index'])).toEqual(['8']);
    const others = select(svg, 'circle', 'point').filter((c) => !c.attrs.class.includes('violation'));
    expect(others).toHaveLength(3);
    for (const o of others) {
      expect(violations[0].attrs.stroke).not.toBe(o.attrs.stroke);
      expect(Number(violations[0].attrs.r)).toBeGreaterThan(Number(o.attrs.r));
    }
    expect(select(svg, 'text', 'point-label').map((t) => t.text)).toEqual(['#8']);
    expect(select(svg, 'text', 'subtitle')[0].text).toBe('4 images with an adversarial; 1 below y = x (certificate violation)');
    // The already-misclassified image is drawn hollow.
    expect(select(svg, 'circle', 'point', 'misclassified').map((c) => [c.attrs['data-index'], c.attrs.fill])).toEqual([['11', '#fff']]);
  });

  it('fits its title, shrinking then shortening a long one, and escapes it', () => {
    expect(expectTitleFits(svg).text).toBe('cw: certificate vs distance, m.onnx');
    const long = `cw: certificate vs distance, <b>${'a-very-long-model-file-name-'.repeat(6)}&.onnx`;
    const doc = parseXml(renderCertificateScatter(POINTS, { title: long }));
    const title = expectTitleFits(doc);
    expect(title.text).toMatch(/^cw: certificate vs distance, <b>a-very.*….*name-&\.onnx$/);
    expect(select(doc, 'title')[0].text).toBe(long);
    const medium = 'cw: certificate vs distance, a-model-name-a-bit-too-long-for-sixteen-px.onnx';
    const m = expectTitleFits(parseXml(renderCertificateScatter(POINTS, { title: medium })));
    expect(m.text).toBe(medium);
    expect(Number(m.attrs['font-size'])).toBeLessThan(16);
  });

  it('draws no point for non-finite values and says so', () => {
    const doc = parseXml(renderCertificateScatter([...POINTS, { index: 99, certificate: NaN, distance: 1, violated: false }], { title: 't' }));
    expect(select(doc, 'circle', 'point')).toHaveLength(4);
    expect(select(doc, 'text', 'subtitle')[0].text).toMatch(/; 1 with a non-finite value not drawn$/);
  });
});

describe('fitText', () => {
  it('keeps text that fits and never returns text wider than asked', () => {
    expect(fitText('short', 200, 16)).toEqual({ text: 'short', fontSize: 16 });
    for (const n of [10, 40, 80, 200]) {
      for (const width of [60, 200, 500]) {
        const t = fitText('Wm'.repeat(n), width, 16, true);
        expect(estimateTextWidth(t.text, t.fontSize, true)).toBeLessThanOrEqual(width);
        expect(t.fontSize).toBeGreaterThanOrEqual(MIN_TITLE_FONT_SIZE);
      }
    }
  });
});

describe('certified accuracy chart', () => {
  const points = [
    { eps: 0, cra: 0.9 },
    { eps: 36 / 255, cra: 0.71 },
    { eps: 0.5, cra: 0.33 },
    { eps: 1, cra: 0.05 },
  ];
  const svg = parseXml(renderCraChart(points, { title: 'Certified robust accuracy, m.onnx', accuracy: 0.9 }));

  it('draws one point per radius where the scales put it, with round ticks and percent on y', () => {
    const x = axisScale(svg, 'x');
    const y = axisScale(svg, 'y', (s) => Number(s.replace('%', '')) / 100);
    expect(y.labels).toEqual(['0%', '20%', '40%', '60%', '80%', '100%']);
    expect(x.values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expectRoundTicks(x.values, x.labels);
    const circles = select(svg, 'circle', 'point');
    expect(circles).toHaveLength(points.length);
    circles.forEach((c, i) => {
      expect(Number(c.attrs.cx)).toBeCloseTo(x.toPixel(points[i].eps), 1);
      expect(Number(c.attrs.cy)).toBeCloseTo(y.toPixel(points[i].cra), 1);
    });
    expect(select(svg, 'polyline', 'curve')[0].attrs.points.split(' ')).toHaveLength(points.length);
    const [accuracy] = select(svg, 'line', 'accuracy');
    expect(Number(accuracy.attrs.y1)).toBeCloseTo(y.toPixel(0.9), 1);
    expectTitleFits(svg);
  });

  it('draws empty axes when there is no point', () => {
    const doc = parseXml(renderCraChart([], { title: 'none' }));
    expect(select(doc, 'circle', 'point')).toHaveLength(0);
    expect(select(doc, 'g', 'tick', 'x').length).toBeGreaterThan(1);
  });
});
