import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import { randomImages, tmpDirPerSuite } from '@lip/test-support';
import { parseXml, select } from '@lip/test-support/xml';
import { AttackReportInput, MAX_FIGURE_ROWS, escapeHtml, writeAttackReport, writeCraReport } from './report';
import { diverging, imagePng } from './images';

const EVIL = '<script>alert(1)</script>';
const HTML_VOID = new Set(['!DOCTYPE', 'meta', 'img', 'br']);

function readPng(file: string): PNG {
  return PNG.sync.read(fs.readFileSync(file));
}

/** Every non-void tag of `html` is closed in order (the gallery's nested figures and divs). */
function expectBalancedHtml(html: string): void {
  const stack: string[] = [];
  const body = html.replace(/<style>[\s\S]*?<\/style>/g, '');
  for (const m of body.matchAll(/<(\/?)([!A-Za-z][A-Za-z0-9-]*)[^>]*>/g)) {
    if (HTML_VOID.has(m[2])) continue;
    if (m[1]) expect(`</${stack.pop()}>`).toBe(`</${m[2]}>`);
    else stack.push(m[2]);
  }
  expect(stack).toEqual([]);
}

/** `src` values of the images in `html`, in order. */
function sources(html: string): string[] {
  return [...html.matchAll(/<img[^>]* src="([^"]*)"/g)].map((m) => m[1]);
}

type Results = AttackReportInput['results'];

describe('report', () => {
  const tmp = tmpDirPerSuite('report');

  it('writes the scatter and CRA charts as SVG, the examples as PNG, and an index.html that escapes strings from the model', () => {
    const dir = tmp.path('r1');
    const n = 3;
    const chw: [number, number, number] = [1, 28, 28];
    const images = randomImages(n, chw, 1);
    const adversarials = Float32Array.from(images, (v, p) => Math.min(1, Math.max(0, v + (p % 7 === 0 ? 0.2 : -0.05))));
    const classNames = [EVIL, 'Trouser', 'a "quoted" & <b>bold</b> name'];
    const files = writeAttackReport(dir, {
      attack: 'cw',
      model: '/models/m<1>.onnx',
      metadata: { class_names: JSON.stringify(classNames), producer: `lip ${EVIL}` },
      classNames,
      chw,
      images,
      adversarials,
      lipschitz: 1,
      certificateKind: 'multiclass',
      results: [
        { index: 7, label: 0, pred: 0, advPred: 2, certificate: 0.5, distance: 0.7, violated: false, found: true },
        { index: 8, label: 1, pred: 1, advPred: 0, certificate: 0.5, distance: 0.2, violated: true, found: true },
        { index: 9, label: 2, pred: 2, advPred: 2, certificate: 0.3, distance: null, violated: false, found: false },
      ],
    });
    files.push(
      ...writeCraReport(dir, {
        model: '/models/m<1>.onnx',
        metadata: { architecture: EVIL },
        cra: [
          { eps: 0, cra: 0.9 },
          { eps: 0.5, cra: 0.6 },
          { eps: 1, cra: 0.2 },
        ],
        accuracy: 0.9,
      }),
    );

    const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>bold');
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('Distance to adversarial');
    expect(html).toMatch(/1 certificate violation</);
    expectBalancedHtml(html);
    expect(files.every((f) => fs.existsSync(f))).toBe(true);
    // Atomic writes leave no temp files behind.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // The charts: SVG files that parse as XML, with the model's name escaped in them.
    const srcs = sources(html);
    expect(srcs.filter((s) => s.endsWith('.svg'))).toEqual(['attack-cw-m-1.svg', 'cra-m-1.svg']);
    const scatter = parseXml(fs.readFileSync(path.join(dir, 'attack-cw-m-1.svg'), 'utf8'));
    expect(select(scatter, 'title')[0].text).toBe('cw: certificate vs distance, m<1>.onnx');
    expect(select(scatter, 'circle', 'point').map((c) => c.attrs['data-index'])).toEqual(['7', '8']);
    expect(select(scatter, 'circle', 'point', 'violation').map((c) => c.attrs['data-index'])).toEqual(['8']);
    expect(select(scatter, 'line', 'identity')).toHaveLength(1);
    expect(html).toMatch(
      /<figcaption>One point per image with an adversarial \(2\)[^<]*<strong class="bad">1 point below it \(certificate violation, in red\)<\/strong>/,
    );
    const cra = parseXml(fs.readFileSync(path.join(dir, 'cra-m-1.svg'), 'utf8'));
    expect(select(cra, 'circle', 'point')).toHaveLength(3);
    // No bitmap-font figure any more: the PNGs are the example images, at the data's resolution.
    const pngs = srcs.filter((s) => s.endsWith('.png'));
    expect(pngs).toEqual([
      // The violation first, then the other adversarial, then the image with none found (its original alone).
      'attack-cw-m-1-1-original.png',
      'attack-cw-m-1-1-adversarial.png',
      'attack-cw-m-1-1-difference.png',
      'attack-cw-m-1-0-original.png',
      'attack-cw-m-1-0-adversarial.png',
      'attack-cw-m-1-0-difference.png',
      'attack-cw-m-1-2-original.png',
    ]);
    for (const f of pngs) expect([readPng(path.join(dir, f)).width, readPng(path.join(dir, f)).height]).toEqual([28, 28]);
    // The difference of the violation (image 1, pixels 784..): red where the pixel got brighter (784 + 0 is a multiple of 7), blue where darker.
    const diff = readPng(path.join(dir, 'attack-cw-m-1-1-difference.png'));
    const [r0, g0, b0] = diff.data.subarray(0, 3);
    const [r1, g1, b1] = diff.data.subarray(4, 7);
    expect([r0, g0 < 255, g0 === b0]).toEqual([255, true, true]);
    expect([b1, r1 < 255, r1 === g1]).toEqual([255, true, true]);
    expect(
      fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.png'))
        .sort(),
    ).toEqual([...pngs].sort());

    // A second run adds to the same report.
    writeAttackReport(dir, {
      attack: 'pgd',
      model: 'other.onnx',
      chw,
      images: images.subarray(0, 784),
      adversarials: images.subarray(0, 784),
      results: [{ index: 0, label: 0, pred: 0, advPred: 0, certificate: 0.1, distance: null, violated: false, found: false }],
    });
    const html2 = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expect(html2).toContain('pgd attack');
    expect(html2).toContain('cw attack');
    // No adversarial: no chart, and the report says why.
    expect(fs.existsSync(path.join(dir, 'attack-pgd-other.svg'))).toBe(false);
    expect(html2).toContain('No adversarial was found, so there is no distance to compare with the certificates.');
    for (const s of sources(html2)) expect(fs.existsSync(path.join(dir, s))).toBe(true);
  });

  it('lays a long set out as a grid of example cards, plots every adversarial, and says how many are shown', () => {
    const dir = tmp.path('long');
    const n = 45;
    const chw: [number, number, number] = [3, 8, 8];
    const images = randomImages(n, chw, 3);
    const adversarials = randomImages(n, chw, 4);
    const results: Results = Array.from({ length: n }, (_, i) => ({
      index: 100 + i,
      label: i % 10,
      pred: i % 10,
      advPred: (i + 1) % 10,
      certificate: 0.1 + (i % 9) / 20,
      distance: i % 5 === 4 ? null : 0.2 + (i % 7) / 10,
      violated: i === 30 || i === 41,
      found: i % 5 !== 4,
    }));
    writeAttackReport(dir, { attack: 'fmn', model: 'cifar.onnx', chw, images, adversarials, results });
    const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expectBalancedHtml(html);
    expect(html).toMatch(/\.gallery \{ display: grid; grid-template-columns: repeat\(auto-fill, minmax\(\d+px, 1fr\)\);/);
    const gallery = /<div class="gallery">([\s\S]*?)<\/div><\/figure><\/div>/.exec(html)![1];
    const cards = [...gallery.matchAll(/<figure class="example( bad)?"><figcaption><span>#(\d+):/g)].map((m) => [Number(m[2]), Boolean(m[1])]);
    expect(cards).toHaveLength(MAX_FIGURE_ROWS);
    expect(cards.slice(0, 3)).toEqual([
      [130, true],
      [141, true],
      [100, false],
    ]);
    expect(html).toContain(`${MAX_FIGURE_ROWS} of 45 images, violations first.`);
    // Every adversarial is plotted, not only the ones shown.
    const scatter = parseXml(fs.readFileSync(path.join(dir, 'attack-fmn-cifar.svg'), 'utf8'));
    expect(select(scatter, 'circle', 'point')).toHaveLength(results.filter((r) => r.found).length);
    expect(select(scatter, 'text', 'subtitle')[0].text).toBe('36 images with an adversarial; 2 below y = x (certificate violations)');
    // Colour images stay colour, at their own size.
    const png = readPng(path.join(dir, 'attack-fmn-cifar-30-original.png'));
    expect([png.width, png.height]).toEqual([8, 8]);
    const d = 3 * 64;
    expect([...png.data.subarray(0, 3)]).toEqual([0, 1, 2].map((ch) => Math.round(255 * images[30 * d + ch * 64])));
  });

  it('separates images already misclassified from adversarials found and none found, with the closest point reached', () => {
    const dir = tmp.path('outcomes');
    const chw: [number, number, number] = [1, 4, 4];
    const images = randomImages(4, chw, 2);
    writeAttackReport(dir, {
      attack: 'pgd',
      model: 'm.onnx',
      chw,
      images,
      adversarials: images,
      classNames: ['a', 'b', 'c'],
      results: [
        // Already wrong (label a, predicted b); the attack moved it to the true label: not an adversarial.
        { index: 0, label: 0, pred: 1, advPred: 0, certificate: 0.1, distance: 0.3, violated: false, found: true, outcome: 'misclassified', closest: null },
        { index: 1, label: 1, pred: 1, advPred: 2, certificate: 0.1, distance: 0.4, violated: false, found: true, outcome: 'adversarial', closest: null },
        {
          index: 2,
          label: 2,
          pred: 2,
          advPred: 2,
          certificate: 0.1,
          distance: null,
          violated: false,
          found: false,
          outcome: 'none',
          closest: { distance: 0.8, margin: 0.03 },
        },
        // No outcome given (a caller from before it existed): derived from label, pred and found.
        { index: 3, label: 2, pred: 0, advPred: 0, certificate: 0.1, distance: null, violated: false, found: false },
      ],
    });
    const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expect(html).toContain('4 images: 2 already misclassified, 1 adversarial found, 1 no adversarial found;');
    expect(html).not.toMatch(/fooled/);
    const outcomes = [...html.matchAll(/<tr><td>(\d)<\/td><td>\w<\/td><td>\w<\/td><td>([a-z ]+)<\/td>/g)].map((m) => [m[1], m[2]]);
    expect(outcomes).toEqual([
      ['0', 'already misclassified'],
      ['1', 'adversarial found'],
      ['2', 'no adversarial found'],
      ['3', 'already misclassified'],
    ]);
    expect(html).toMatch(/<td>no<\/td><td>0\.8000 \(margin 0\.0300\)<\/td><\/tr>/);
    // The already-misclassified adversarial is plotted hollow; its card names the label.
    const scatter = parseXml(fs.readFileSync(path.join(dir, 'attack-pgd-m.svg'), 'utf8'));
    expect(select(scatter, 'circle', 'point', 'misclassified').map((c) => c.attrs['data-index'])).toEqual(['0']);
    expect(html).toContain('#0: b (label a) &rarr; a');
  });

  it('still shows the sections of a report written before the SVG charts', () => {
    const dir = tmp.path('legacy');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'report.json'),
      JSON.stringify({
        sections: [
          { kind: 'cra', id: 'cra-old', png: 'cra-old.png', model: 'old.onnx', metadata: {}, points: [{ eps: 0, cra: 0.8 }], accuracy: 0.8, lipschitz: 1 },
          {
            kind: 'attack',
            id: 'attack-cw-old',
            png: 'attack-cw-old.png',
            attack: 'cw',
            model: 'old.onnx',
            metadata: {},
            shown: 1,
            lipschitz: 1,
            certificateKind: null,
            rows: [{ index: 3, label: '1', pred: '1', advPred: '2', certificate: 0.2, distance: 0.5, violated: false, found: true }],
          },
        ],
      }),
    );
    writeCraReport(dir, { model: 'new.onnx', cra: [{ eps: 0, cra: 0.5 }] });
    const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expect(sources(html)).toEqual(['cra-old.png', 'attack-cw-old.png', 'cra-new.svg']);
    expect(html).toContain('1 images: 0 already misclassified, 1 adversarial found, 0 no adversarial found;');
    expectBalancedHtml(html);
  });

  it('escapes every HTML-special character', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\``)).toBe('&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;');
  });

  it('maps differences to a diverging colormap and images to PNGs at their own size', () => {
    expect(diverging(0)).toEqual([255, 255, 255]);
    expect(diverging(1)).toEqual([255, 0, 0]);
    expect(diverging(-1)).toEqual([0, 0, 255]);
    expect(diverging(NaN)).toEqual([255, 255, 255]);
    const png = PNG.sync.read(Buffer.from(imagePng(Float32Array.from([-1, 0, 0.5, 1, 2, 0]), [1, 2, 3], [-1, 1])));
    expect([png.width, png.height]).toEqual([3, 2]);
    expect([0, 1, 2, 3, 4, 5].map((p) => png.data[p * 4])).toEqual([0, 128, 191, 255, 255, 128]);
  });
});
