/**
 * A model file is untrusted input: the HTML report escapes every string it
 * takes from the model (class names, metadata keys and values, the file
 * name), so a crafted file cannot inject markup or script.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerSuite } from '@lip/test-support';
import { QUICK_ATTACK, runLip } from '@lip/test-support/cli';
import { writeIdxSplit } from '@lip/test-support/data';
import { gemmModel } from '@lip/test-support/onnx';
import { descendants, parseXml } from '@lip/test-support/xml';

const PAYLOADS = [
  '<script>alert(1)</script>',
  '"onerror="alert(2)',
  "'><img src=x onerror=alert(3)>",
  '</td></tr></table><iframe src="javascript:alert(4)">',
  '<!--',
  '`${alert(5)}`',
  '&lt;already-escaped&gt;',
];
/** Tags lip's report writes; anything else in index.html came from a model. */
const OWN_TAGS = new Set([
  '!DOCTYPE',
  'html',
  'head',
  'meta',
  'title',
  'style',
  'body',
  'h1',
  'h2',
  'section',
  'p',
  'code',
  'img',
  'table',
  'tr',
  'th',
  'td',
  'strong',
  'details',
  'summary',
  'h3',
  'figure',
  'figcaption',
  'div',
  'span',
]);
/** Elements of lip's SVG charts, and their attributes; a model string may only appear as escaped text or a title. */
const SVG_TAGS = new Set(['svg', 'title', 'rect', 'g', 'line', 'text', 'circle', 'polygon', 'polyline']);
const SVG_ATTRS = new Set([
  'xmlns',
  'width',
  'height',
  'viewBox',
  'font-family',
  'font-size',
  'font-weight',
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-width',
  'stroke-dasharray',
  'class',
  'x',
  'y',
  'x1',
  'y1',
  'x2',
  'y2',
  'cx',
  'cy',
  'r',
  'points',
  'text-anchor',
  'transform',
  'data-index',
]);

const tmp = tmpDirPerSuite('report-xss');
let data: string;
let model: string;

beforeAll(() => {
  data = tmp.path('data');
  writeIdxSplit(data, { n: 10 });
  const classNames = Array.from({ length: 10 }, (_, i) => `${PAYLOADS[i % PAYLOADS.length]} #${i}`);
  // A file name is model-controlled too (a shared download, say).
  model = tmp.path('<img src=x onerror=alert(6)>.onnx');
  // Seed 4: one of the 4 images attacked is classified right and PGD finds its adversarial (the scatter needs one).
  fs.writeFileSync(
    model,
    gemmModel({
      seed: 4,
      metadata: {
        class_names: JSON.stringify(classNames),
        architecture: PAYLOADS[0],
        producer_version: PAYLOADS[1],
        [PAYLOADS[2]]: PAYLOADS[3],
        notes: PAYLOADS.join(' '),
      },
    }),
  );
});

/** Every tag in `html` with its attribute names. */
function tags(html: string): { name: string; attrs: string[] }[] {
  const out: { name: string; attrs: string[] }[] = [];
  // Style contents are CSS, not markup.
  const body = html.replace(/<style>[\s\S]*?<\/style>/g, '<style></style>');
  for (const m of body.matchAll(/<\/?([!A-Za-z][A-Za-z0-9-]*)([^>]*)>/g)) {
    // name="value" pairs (values quoted by lip); a bare name is an attribute too.
    const attrs = [...m[2].matchAll(/\s([^\s="'/>]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?/g)].map((a) => a[1].toLowerCase());
    out.push({ name: m[1], attrs: m[1] === '!DOCTYPE' ? [] : attrs });
  }
  return out;
}

/** The report's `count` SVG files are well-formed, hold only the charts' own elements and attributes, and show the file name as text. */
function expectCleanSvgs(report: string, count: number): void {
  const svgs = fs.readdirSync(report).filter((f) => f.endsWith('.svg'));
  expect(svgs).toHaveLength(count);
  for (const f of svgs) {
    const svg = parseXml(fs.readFileSync(path.join(report, f), 'utf8'));
    for (const el of descendants(svg)) {
      expect(SVG_TAGS).toContain(el.name);
      for (const a of Object.keys(el.attrs)) expect(SVG_ATTRS).toContain(a);
    }
    expect(svg.children.find((c) => c.name === 'title')!.text).toContain(path.basename(model));
  }
}

function expectNoInjection(html: string): void {
  for (const t of tags(html)) {
    expect(OWN_TAGS).toContain(t.name);
    for (const a of t.attrs) expect(['lang', 'charset', 'name', 'content', 'id', 'src', 'alt', 'class']).toContain(a);
  }
  // Attribute values are quoted and contain no raw quote from a model.
  for (const m of html.matchAll(/\s(?:id|src|alt|class)="([^"]*)"/g)) expect(m[1]).not.toMatch(/[<>'`]/);
  // Escaped text may still read "onerror=", but never after a raw '<' (the tag check above covers attributes).
  expect(html).not.toMatch(/<script|<iframe|<img src=x|<!-- #/i);
  // The payloads are shown, escaped.
  expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
  expect(html).toContain('&#38;lt;already-escaped&#38;gt;');
}

describe('the HTML report escapes model strings', () => {
  it('lip verify --report and lip attack --report into one folder', async () => {
    const report = tmp.path('report');
    const v = await runLip(['verify', model, '--data', data, '--report', report]);
    expect({ code: v.code, stderr: v.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const afterVerify = fs.readFileSync(path.join(report, 'index.html'), 'utf8');
    expectNoInjection(afterVerify);
    expect(afterVerify).toContain('model metadata');
    expectCleanSvgs(report, 1);

    const a = await runLip(['attack', model, '--data', data, ...QUICK_ATTACK, '--n', '4', '--report', report]);
    expect({ code: a.code, stderr: a.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const html = fs.readFileSync(path.join(report, 'index.html'), 'utf8');
    expectNoInjection(html);
    // The CRA chart and the attack's scatter.
    expectCleanSvgs(report, 2);
    // The attack table shows the crafted class names (escaped) for labels and predictions.
    expect(html).toMatch(/<td>&#60;script&#62;alert\(1\)&#60;\/script&#62; #0<\/td>/);
    expect(html).toContain('&#34;onerror=&#34;alert(2) #1');
    // Both sections, and the figure files, are in the folder; the PNG names are slugs.
    expect(fs.readdirSync(report).sort()).toEqual(expect.arrayContaining(['index.html', 'report.json']));
    for (const f of fs.readdirSync(report)) expect(f).toMatch(/^[A-Za-z0-9_.-]+$/);
  });
});
