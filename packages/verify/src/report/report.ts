/**
 * The HTML report (`lip verify --report DIR`, `lip attack --report DIR`,
 * `lip demo`): index.html with SVG charts and PNG example images, rebuilt from
 * report.json on every run so that successive runs add sections to one report.
 * Every file is written atomically; every string from a model (class names,
 * metadata, the file name) is escaped.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError, writeFileAtomic } from '@lip/core';
import type { AttackOutcome } from '../attacks/run';
import { CraPoint, ScatterPoint, renderCertificateScatter, renderCraChart } from './charts';
import { differencePng, imagePng, largestChange } from './images';
import { escapeHtml } from './svg';

export { escapeHtml };

/** Example images shown per attack section (violations first, then the other adversarials found). */
export const MAX_FIGURE_ROWS = 20;

/** What one attack run contributes to a report. */
export interface AttackReportInput {
  attack: string;
  /** Model file and metadata (class names, Lipschitz constant, ...). */
  model: string;
  metadata?: Readonly<Record<string, string>>;
  classNames?: readonly string[];
  chw: readonly [number, number, number];
  range?: readonly [number, number];
  images: Float32Array;
  adversarials: Float32Array;
  results: readonly {
    index: number;
    label: number;
    pred: number;
    advPred: number;
    certificate: number;
    distance: number | null;
    violated: boolean;
    found: boolean;
    /** 'misclassified' (already wrong on the original), 'adversarial' (found) or 'none'; see `AttackOutcome`. Default: from label, pred and found. */
    outcome?: AttackOutcome;
    /** Where none was found, the attack's closest point to the decision boundary (`AttackImageResult.closest`). */
    closest?: { distance: number; margin: number } | null;
  }[];
  /** null or absent: not known (no claim in the metadata). */
  lipschitz?: number | null;
  certificateKind?: string;
}

/** What `lip verify` contributes: the certified-accuracy curve. */
export interface CraReportInput {
  model: string;
  metadata?: Readonly<Record<string, string>>;
  /** Certified robust accuracy per epsilon (`VerifyResult.cra` as `{ eps, cra: value }`). */
  cra: readonly CraPoint[];
  /** Clean accuracy in [0, 1]; null, absent or NaN (no images): not shown. */
  accuracy?: number | null;
  lipschitz?: number | null;
}

/** The manifest kept next to index.html so that successive runs add to one report. */
interface Manifest {
  sections: Section[];
}

type Section = AttackSection | CraSection;

/** Files of one example card; `adversarial` and `difference` are null when no adversarial was found. */
interface Example {
  row: number;
  original: string;
  adversarial: string | null;
  difference: string | null;
}

interface AttackSection {
  kind: 'attack';
  id: string;
  attack: string;
  model: string;
  metadata: Record<string, string>;
  shown: number;
  lipschitz: number | null;
  certificateKind: string | null;
  rows: AttackRow[];
  /** The certificate-vs-distance SVG; null when no adversarial was found. */
  scatter?: string | null;
  examples?: Example[];
  /** |adversarial - original| at full colour in the difference images. */
  differenceScale?: number;
  /** Manifests written before the SVG report: the one PNG figure. */
  png?: string;
}

interface CraSection {
  kind: 'cra';
  id: string;
  model: string;
  metadata: Record<string, string>;
  points: CraPoint[];
  accuracy: number | null;
  lipschitz: number | null;
  svg?: string;
  /** Manifests written before the SVG report. */
  png?: string;
}

/** One image of an attack section. `outcome` and `closest` are absent from manifests written before they existed. */
interface AttackRow {
  index: number;
  label: string;
  pred: string;
  advPred: string;
  certificate: number;
  distance: number | null;
  violated: boolean;
  found: boolean;
  outcome?: AttackOutcome;
  closest?: { distance: number; margin: number } | null;
}

const MANIFEST = 'report.json';

/** The row's outcome; when not given (an older manifest), from its label, prediction and `found`. */
function rowOutcome(r: AttackRow): AttackOutcome {
  return r.outcome ?? (r.label !== r.pred ? 'misclassified' : r.found ? 'adversarial' : 'none');
}

const OUTCOME_TEXT: Record<AttackOutcome, string> = {
  misclassified: 'already misclassified',
  adversarial: 'adversarial found',
  none: 'no adversarial found',
};

function readManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) return { sections: [] };
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
    if (!m || !Array.isArray(m.sections)) throw new Error('no sections');
    return m;
  } catch (err) {
    throw new DataError(`'${file}' is not a report manifest (${(err as Error).message}); choose an empty --report folder or delete it.`);
  }
}

/** A file-name-safe slug. */
function slug(s: string): string {
  return (
    s
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'model'
  );
}

function className(names: readonly string[] | undefined, k: number): string {
  return names && k >= 0 && k < names.length ? String(names[k]) : String(k);
}

function upsert(m: Manifest, s: Section): void {
  const at = m.sections.findIndex((x) => x.id === s.id);
  if (at >= 0) m.sections[at] = s;
  else m.sections.push(s);
}

/** Positions of the images to show: violations, then other adversarials found, then the rest; at most MAX_FIGURE_ROWS. */
function examplePositions(results: AttackReportInput['results']): number[] {
  const rank = (r: AttackReportInput['results'][number]): number => (r.violated ? 0 : r.found ? 1 : 2);
  return results
    .map((_, i) => i)
    .sort((a, b) => rank(results[a]) - rank(results[b]) || a - b)
    .slice(0, MAX_FIGURE_ROWS);
}

/**
 * Adds an attack section to the report in `dir`: the certificate-vs-distance
 * chart (SVG), example images (PNG) and the table, and rewrites index.html.
 * Returns the files written.
 */
export function writeAttackReport(dir: string, input: AttackReportInput): string[] {
  const manifest = readManifest(dir);
  const d = input.chw[0] * input.chw[1] * input.chw[2];
  const id = `attack-${slug(input.attack)}-${slug(path.basename(input.model, '.onnx'))}`;
  const written: string[] = [];
  const write = (name: string, data: string | Uint8Array): string => {
    writeFileAtomic(path.join(dir, name), data);
    written.push(path.join(dir, name));
    return name;
  };
  const rows: AttackRow[] = input.results.map((r) => ({
    index: r.index,
    label: className(input.classNames, r.label),
    pred: className(input.classNames, r.pred),
    advPred: className(input.classNames, r.advPred),
    certificate: r.certificate,
    distance: r.distance,
    violated: r.violated,
    found: r.found,
    outcome: r.outcome ?? (r.pred !== r.label ? 'misclassified' : r.found ? 'adversarial' : 'none'),
    closest: r.closest ?? null,
  }));

  const points: ScatterPoint[] = rows.flatMap((r) =>
    r.found && r.distance !== null
      ? [{ index: r.index, certificate: r.certificate, distance: r.distance, violated: r.violated, misclassified: rowOutcome(r) === 'misclassified' }]
      : [],
  );
  const scatter =
    points.length > 0
      ? write(`${id}.svg`, renderCertificateScatter(points, { title: `${input.attack}: certificate vs distance, ${path.basename(input.model)}` }))
      : null;

  const positions = examplePositions(input.results);
  const pixels = (a: Float32Array, i: number): Float32Array => a.subarray(i * d, (i + 1) * d);
  const differenceScale = largestChange(
    positions.filter((i) => input.results[i].found).map((i) => ({ original: pixels(input.images, i), adversarial: pixels(input.adversarials, i) })),
    input.chw,
  );
  const examples: Example[] = positions.map((i) => {
    const found = input.results[i].found;
    const original = pixels(input.images, i);
    const adversarial = pixels(input.adversarials, i);
    return {
      row: i,
      original: write(`${id}-${i}-original.png`, imagePng(original, input.chw, input.range)),
      adversarial: found ? write(`${id}-${i}-adversarial.png`, imagePng(adversarial, input.chw, input.range)) : null,
      difference: found ? write(`${id}-${i}-difference.png`, differencePng(original, adversarial, input.chw, differenceScale)) : null,
    };
  });

  upsert(manifest, {
    kind: 'attack',
    id,
    attack: input.attack,
    model: input.model,
    metadata: { ...(input.metadata ?? {}) },
    shown: examples.length,
    lipschitz: input.lipschitz ?? null,
    certificateKind: input.certificateKind ?? null,
    rows,
    scatter,
    examples,
    differenceScale,
  });
  return [...written, ...writeIndex(dir, manifest)];
}

/** Adds the certified-accuracy-vs-epsilon chart to the report in `dir` and rewrites index.html. */
export function writeCraReport(dir: string, input: CraReportInput): string[] {
  const manifest = readManifest(dir);
  const id = `cra-${slug(path.basename(input.model, '.onnx'))}`;
  const svg = `${id}.svg`;
  writeFileAtomic(
    path.join(dir, svg),
    renderCraChart(input.cra, { title: `Certified robust accuracy, ${path.basename(input.model)}`, accuracy: input.accuracy }),
  );
  upsert(manifest, {
    kind: 'cra',
    id,
    svg,
    model: input.model,
    metadata: { ...(input.metadata ?? {}) },
    points: input.cra.map((p) => ({ eps: p.eps, cra: p.cra })),
    accuracy: input.accuracy ?? null,
    lipschitz: input.lipschitz ?? null,
  });
  return [path.join(dir, svg), ...writeIndex(dir, manifest)];
}

function fmt(v: number | null): string {
  return v === null ? '&ndash;' : escapeHtml(v.toFixed(4));
}

function metadataTable(meta: Record<string, string>): string {
  const keys = Object.keys(meta).sort();
  if (keys.length === 0) return '';
  return `<details><summary>model metadata</summary><table>${keys
    .map((k) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(meta[k])}</td></tr>`)
    .join('')}</table></details>`;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The chart of an attack section and its caption (what a point is, how many are below y = x). */
function scatterFigure(s: AttackSection): string {
  const found = s.rows.filter((r) => r.found && r.distance !== null);
  if (!s.scatter) return `<p>No adversarial was found, so there is no distance to compare with the certificates.</p>`;
  const violations = found.filter((r) => r.violated).length;
  const ratios = found.filter((r) => r.certificate > 0 && Number.isFinite(r.certificate)).map((r) => r.distance! / r.certificate);
  return (
    `<figure class="chart"><img src="${escapeHtml(s.scatter)}" alt="certificate against the distance of the adversarial found, one point per image">` +
    `<figcaption>One point per image with an adversarial (${found.length}): its certificate (x) against the L2 distance of the adversarial ` +
    'found (y). A sound certificate keeps every point on or above the line y = x; ' +
    `<strong class="${violations ? 'bad' : 'good'}">${plural(violations, 'point')} below it (certificate violation${violations === 1 ? '' : 's'}` +
    `${violations ? ', in red' : ''})</strong>.` +
    `${ratios.length ? ` Median distance / certificate: ${escapeHtml(median(ratios).toFixed(2))}.` : ''}</figcaption></figure>`
  );
}

/** The example cards: original, adversarial and difference of each image shown, in a grid. */
function gallery(s: AttackSection): string {
  const examples = s.examples ?? [];
  if (examples.length === 0) return '';
  const cards = examples.map((e) => {
    const r = s.rows[e.row];
    const wrong = r.label !== r.pred ? ` (label ${escapeHtml(r.label)})` : '';
    const head = r.found
      ? `#${escapeHtml(r.index)}: ${escapeHtml(r.pred)}${wrong} &rarr; ${escapeHtml(r.advPred)}`
      : `#${escapeHtml(r.index)}: ${escapeHtml(r.pred)}${wrong}, no adversarial found`;
    const numbers = `certificate ${fmt(r.certificate)}${r.found ? `, distance ${fmt(r.distance)}` : ''}${r.violated ? ', <strong>violation</strong>' : ''}`;
    const panel = (file: string, what: string): string =>
      `<div><img class="px" src="${escapeHtml(file)}" alt="${what} of image ${escapeHtml(r.index)}"><span>${what}</span></div>`;
    return (
      `<figure class="example${r.violated ? ' bad' : ''}"><figcaption><span>${head}</span><span>${numbers}</span></figcaption>` +
      `<div class="panels">${panel(e.original, 'original')}${e.adversarial ? panel(e.adversarial, 'adversarial') : ''}` +
      `${e.difference ? panel(e.difference, 'difference') : ''}</div></figure>`
    );
  });
  const scale = s.differenceScale ?? 0;
  return (
    `<h3>Examples</h3><p>${s.shown < s.rows.length ? `${s.shown} of ${s.rows.length} images, violations first. ` : ''}` +
    'Original, adversarial, and their difference (adversarial &minus; original, channels averaged: red brighter, blue darker, ' +
    `full colour at &plusmn;${escapeHtml(scale.toFixed(3))}, the largest change shown).</p>` +
    `<div class="gallery">${cards.join('')}</div>`
  );
}

function attackSection(s: AttackSection): string[] {
  const violations = s.rows.filter((r) => r.violated).length;
  const outcomes = (['misclassified', 'adversarial', 'none'] as const)
    .map((o) => `${s.rows.filter((r) => rowOutcome(r) === o).length} ${OUTCOME_TEXT[o]}`)
    .join(', ');
  const closest = (r: AttackRow): string => (r.closest ? `${fmt(r.closest.distance)} (margin ${escapeHtml(r.closest.margin.toFixed(4))})` : '&ndash;');
  return [
    `<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.attack)} attack &mdash; ${escapeHtml(path.basename(s.model))}</h2>`,
    `<p>Model <code>${escapeHtml(s.model)}</code>${s.lipschitz !== null ? `, Lipschitz constant ${escapeHtml(s.lipschitz)}` : ''}` +
      `${s.certificateKind ? `, certificate ${escapeHtml(s.certificateKind)}` : ''}. ` +
      `${s.rows.length} images: ${escapeHtml(outcomes)}; ` +
      `<strong class="${violations ? 'bad' : 'good'}">${violations} certificate violation${violations === 1 ? '' : 's'}</strong>.</p>`,
    s.png && !s.examples ? `<img src="${escapeHtml(s.png)}" alt="original, adversarial and difference per image">` : `${scatterFigure(s)}\n${gallery(s)}`,
    '<table><tr><th>Image #</th><th>label</th><th>prediction</th><th>outcome</th><th>adversarial prediction</th><th>Certificate</th>' +
      '<th>Distance to adversarial</th><th>violated</th><th>closest point reached (none found)</th></tr>',
    ...s.rows.map(
      (r) =>
        `<tr${r.violated ? ' class="bad"' : ''}><td>${escapeHtml(r.index)}</td><td>${escapeHtml(r.label)}</td><td>${escapeHtml(r.pred)}</td>` +
        `<td>${escapeHtml(OUTCOME_TEXT[rowOutcome(r)])}</td><td>${r.found ? escapeHtml(r.advPred) : '&ndash;'}</td><td>${fmt(r.certificate)}</td>` +
        `<td>${fmt(r.distance)}</td><td>${r.violated ? 'yes' : 'no'}</td><td>${closest(r)}</td></tr>`,
    ),
    '</table>',
    metadataTable(s.metadata),
    '</section>',
  ];
}

function craSection(s: CraSection): string[] {
  const figure = s.svg ?? s.png ?? '';
  return [
    `<section id="${escapeHtml(s.id)}"><h2>Certified robust accuracy &mdash; ${escapeHtml(path.basename(s.model))}</h2>`,
    `<p>Model <code>${escapeHtml(s.model)}</code>${s.lipschitz !== null ? `, Lipschitz constant ${escapeHtml(s.lipschitz)}` : ''}` +
      `${s.accuracy !== null && Number.isFinite(s.accuracy) ? `, accuracy ${escapeHtml((s.accuracy * 100).toFixed(2))}%` : ''}.</p>`,
    `<figure class="chart"><img src="${escapeHtml(figure)}" alt="certified robust accuracy against epsilon"></figure>`,
    `<table><tr><th>epsilon</th><th>certified robust accuracy</th></tr>${s.points
      .map((p) => `<tr><td>${escapeHtml(p.eps.toFixed(4))}</td><td>${escapeHtml((p.cra * 100).toFixed(2))}%</td></tr>`)
      .join('')}</table>`,
    metadataTable(s.metadata),
    '</section>',
  ];
}

/** Writes report.json and index.html from the manifest. */
function writeIndex(dir: string, m: Manifest): string[] {
  const parts = m.sections.flatMap((s) => (s.kind === 'cra' ? craSection(s) : attackSection(s)));
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lip verification report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
img { max-width: 100%; height: auto; }
figure { margin: 1em 0; }
.chart figcaption { max-width: 680px; font-size: 0.9em; color: #444; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px; }
.example { margin: 0; padding: 8px; border: 1px solid #ddd; border-radius: 4px; }
.example figcaption span { display: block; font-size: 0.85em; overflow-wrap: anywhere; }
.example.bad { border-color: #b00; background: #fff5f5; }
.panels { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px; margin-top: 6px; }
.panels span { display: block; text-align: center; font-size: 0.75em; color: #666; }
img.px { width: 100%; image-rendering: pixelated; border: 1px solid #ccc; }
.bad { color: #b00; }
.good { color: #070; }
section { margin-bottom: 3em; }
</style>
</head>
<body>
<h1>lip verification report</h1>
${parts.join('\n')}
</body>
</html>
`;
  writeFileAtomic(path.join(dir, MANIFEST), JSON.stringify(m, null, 2));
  writeFileAtomic(path.join(dir, 'index.html'), html);
  return [path.join(dir, MANIFEST), path.join(dir, 'index.html')];
}
