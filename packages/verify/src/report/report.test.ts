import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { escapeHtml, writeAttackReport, writeCraReport } from './report';
import { renderCraCurve } from './figures';
import { Raster, diverging } from './raster';
import { randomImages } from '../../test/models';

const EVIL = '<script>alert(1)</script>';

function readPng(file: string): PNG {
  return PNG.sync.read(fs.readFileSync(file));
}

function inkPixels(png: PNG): number {
  let ink = 0;
  for (let p = 0; p < png.width * png.height; p++) if (png.data[p * 4] < 128 && png.data[p * 4 + 1] < 128) ink++;
  return ink;
}

describe('report', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-report-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('writes the attack figure, the CRA curve and an index.html that escapes strings from the model', () => {
    const dir = path.join(tmp, 'r1');
    const n = 3;
    const chw: [number, number, number] = [1, 28, 28];
    const images = randomImages(n, chw, 1);
    const adversarials = Float32Array.from(images, (v, p) => Math.min(1, Math.max(0, v + (p % 7 === 0 ? 0.2 : -0.05))));
    const classNames = [EVIL, 'Trouser', 'a "quoted" & <b>bold</b> name'];
    const files = writeAttackReport(dir, {
      attack: 'cw', model: '/models/m<1>.onnx', metadata: { class_names: JSON.stringify(classNames), producer: `lip ${EVIL}` }, classNames, chw,
      images, adversarials, lipschitz: 1, certificateKind: 'multiclass',
      results: [
        { index: 7, label: 0, pred: 0, advPred: 2, certificate: 0.5, distance: 0.7, violated: false, found: true },
        { index: 8, label: 1, pred: 1, advPred: 0, certificate: 0.5, distance: 0.2, violated: true, found: true },
        { index: 9, label: 2, pred: 2, advPred: 2, certificate: 0.3, distance: null, violated: false, found: false },
      ],
    });
    writeCraReport(dir, { model: '/models/m<1>.onnx', metadata: { architecture: EVIL }, cra: [{ eps: 0, cra: 0.9 }, { eps: 0.5, cra: 0.6 }, { eps: 1, cra: 0.2 }], accuracy: 0.9 });

    const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>bold');
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('Distance to adversarial');
    expect(html).toMatch(/1 certificate violation</);
    const pngs = fs.readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
    expect(pngs).toHaveLength(2);
    for (const f of pngs) {
      expect(html).toContain(`src="${f}"`);
      const png = readPng(path.join(dir, f));
      expect(png.width).toBeGreaterThan(200);
      expect(inkPixels(png)).toBeGreaterThan(500);
    }
    expect(files.every((f) => fs.existsSync(f))).toBe(true);
    // Atomic writes leave no temp files behind.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // The figure: three image columns per row, rows about 3 x 112 px wide.
    const fig = readPng(path.join(dir, pngs.find((f) => f.startsWith('attack-'))!));
    expect(fig.width).toBeGreaterThanOrEqual(3 * 112);
    expect(fig.height).toBeGreaterThanOrEqual(3 * 112);

    // A second run adds to the same report.
    writeAttackReport(dir, {
      attack: 'pgd', model: 'other.onnx', chw, images: images.subarray(0, 784), adversarials: images.subarray(0, 784),
      results: [{ index: 0, label: 0, pred: 0, advPred: 0, certificate: 0.1, distance: null, violated: false, found: false }],
    });
    const html2 = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expect(html2).toContain('pgd attack');
    expect(html2).toContain('cw attack');
  });

  it('separates images already misclassified from adversarials found and none found', () => {
    const dir = path.join(tmp, 'outcomes');
    const chw: [number, number, number] = [1, 4, 4];
    const images = randomImages(4, chw, 2);
    writeAttackReport(dir, {
      attack: 'pgd', model: 'm.onnx', chw, images, adversarials: images, classNames: ['a', 'b', 'c'],
      results: [
        // Already wrong (label a, predicted b); the attack moved it to the true label: not an adversarial.
        { index: 0, label: 0, pred: 1, advPred: 0, certificate: 0.1, distance: 0.3, violated: false, found: true, outcome: 'misclassified' },
        { index: 1, label: 1, pred: 1, advPred: 2, certificate: 0.1, distance: 0.4, violated: false, found: true, outcome: 'adversarial' },
        { index: 2, label: 2, pred: 2, advPred: 2, certificate: 0.1, distance: null, violated: false, found: false, outcome: 'none' },
        // No outcome given (a caller from before it existed): derived from label, pred and found.
        { index: 3, label: 2, pred: 0, advPred: 0, certificate: 0.1, distance: null, violated: false, found: false },
      ],
    });
    const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
    expect(html).toContain('4 images: 2 already misclassified, 1 adversarial found, 1 no adversarial found;');
    expect(html).not.toMatch(/fooled/);
    const outcomes = [...html.matchAll(/<tr><td>(\d)<\/td><td>\w<\/td><td>\w<\/td><td>([a-z ]+)<\/td>/g)].map((m) => [m[1], m[2]]);
    expect(outcomes).toEqual([['0', 'already misclassified'], ['1', 'adversarial found'], ['2', 'no adversarial found'], ['3', 'already misclassified']]);
  });

  it('escapes every HTML-special character', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\``)).toBe('&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;');
  });

  it('draws text with the bitmap font and maps differences to a diverging colormap', () => {
    const r = new Raster(40, 12);
    r.text(1, 1, 'Ab1');
    let ink = 0;
    for (let p = 0; p < 40 * 12; p++) if (r.data[p * 3] === 0) ink++;
    expect(ink).toBeGreaterThan(20);
    expect(diverging(0)).toEqual([255, 255, 255]);
    expect(diverging(1)).toEqual([255, 0, 0]);
    expect(diverging(-1)).toEqual([0, 0, 255]);
    expect(renderCraCurve([]).length).toBeGreaterThan(100);
  });
});
