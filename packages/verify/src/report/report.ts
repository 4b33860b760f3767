import * as fs from 'fs';
import * as path from 'path';
import { DataError } from '@lip/train';
import { writeFileAtomic } from '@lip/train/node';
import type { AttackOutcome } from '../attacks/run';
import { AttackFigureRow, CraPoint, renderAttackFigure, renderCraCurve } from './figures';

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"'`]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Rows per attack figure; the figure shows violations first. */
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
    index: number; label: number; pred: number; advPred: number; certificate: number;
    distance: number | null; violated: boolean; found: boolean;
    /** 'misclassified' (already wrong on the original), 'adversarial' (found) or 'none'; see `AttackOutcome`. Default: from label, pred and found. */
    outcome?: AttackOutcome;
  }[];
  lipschitz?: number;
  certificateKind?: string;
}

/** What `lip verify` contributes: the certified-accuracy curve. */
export interface CraReportInput {
  model: string;
  metadata?: Readonly<Record<string, string>>;
  /** Certified robust accuracy per epsilon (`VerifyResult.cra` as `{ eps, cra: value }`). */
  cra: readonly CraPoint[];
  accuracy?: number;
  lipschitz?: number;
}

/** The manifest kept next to index.html so that successive runs add to one report. */
interface Manifest {
  sections: Section[];
}

type Section =
  | { kind: 'attack'; id: string; png: string; attack: string; model: string; metadata: Record<string, string>; shown: number;
    lipschitz: number | null; certificateKind: string | null;
    rows: AttackRow[] }
  | { kind: 'cra'; id: string; png: string; model: string; metadata: Record<string, string>; points: CraPoint[]; accuracy: number | null; lipschitz: number | null };

/** One image of an attack section. `outcome` is absent from manifests written before it existed. */
interface AttackRow {
  index: number; label: string; pred: string; advPred: string; certificate: number; distance: number | null; violated: boolean; found: boolean;
  outcome?: AttackOutcome;
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
  return s.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'model';
}

function className(names: readonly string[] | undefined, k: number): string {
  return names && k >= 0 && k < names.length ? String(names[k]) : String(k);
}

function upsert(m: Manifest, s: Section): void {
  const at = m.sections.findIndex((x) => x.id === s.id);
  if (at >= 0) m.sections[at] = s;
  else m.sections.push(s);
}

/**
 * Adds an attack figure (PNG) to the report in `dir` and rewrites its
 * index.html. Files are written atomically. Returns the files written.
 */
export function writeAttackReport(dir: string, input: AttackReportInput): string[] {
  const manifest = readManifest(dir);
  const d = input.chw[0] * input.chw[1] * input.chw[2];
  const order = input.results.map((_, i) => i)
    .sort((a, b) => Number(input.results[b].violated) - Number(input.results[a].violated) || a - b)
    .slice(0, MAX_FIGURE_ROWS);
  const rows: AttackFigureRow[] = order.map((i) => {
    const r = input.results[i];
    return {
      index: r.index,
      original: input.images.subarray(i * d, (i + 1) * d),
      adversarial: input.adversarials.subarray(i * d, (i + 1) * d),
      predName: className(input.classNames, r.pred),
      advName: className(input.classNames, r.advPred),
      certificate: r.certificate,
      distance: r.distance,
      violated: r.violated,
    };
  });
  const id = `attack-${slug(input.attack)}-${slug(path.basename(input.model, '.onnx'))}`;
  const png = `${id}.png`;
  writeFileAtomic(path.join(dir, png), renderAttackFigure(rows, {
    chw: input.chw, range: input.range, title: `${input.attack} on ${path.basename(input.model)}`,
  }));
  upsert(manifest, {
    kind: 'attack', id, png, attack: input.attack, model: input.model, metadata: { ...(input.metadata ?? {}) }, shown: rows.length,
    lipschitz: input.lipschitz ?? null, certificateKind: input.certificateKind ?? null,
    rows: input.results.map((r) => ({
      index: r.index, label: className(input.classNames, r.label), pred: className(input.classNames, r.pred),
      advPred: className(input.classNames, r.advPred), certificate: r.certificate, distance: r.distance, violated: r.violated, found: r.found,
      outcome: r.outcome ?? (r.pred !== r.label ? 'misclassified' : r.found ? 'adversarial' : 'none'),
    })),
  });
  return [path.join(dir, png), ...writeIndex(dir, manifest)];
}

/** Adds the certified-accuracy-vs-epsilon curve to the report in `dir` and rewrites index.html. */
export function writeCraReport(dir: string, input: CraReportInput): string[] {
  const manifest = readManifest(dir);
  const id = `cra-${slug(path.basename(input.model, '.onnx'))}`;
  const png = `${id}.png`;
  writeFileAtomic(path.join(dir, png), renderCraCurve(input.cra, { title: `certified robust accuracy, ${path.basename(input.model)}`, accuracy: input.accuracy }));
  upsert(manifest, {
    kind: 'cra', id, png, model: input.model, metadata: { ...(input.metadata ?? {}) }, points: input.cra.map((p) => ({ eps: p.eps, cra: p.cra })),
    accuracy: input.accuracy ?? null, lipschitz: input.lipschitz ?? null,
  });
  return [path.join(dir, png), ...writeIndex(dir, manifest)];
}

function fmt(v: number | null): string {
  return v === null ? '&ndash;' : escapeHtml(v.toFixed(4));
}

function metadataTable(meta: Record<string, string>): string {
  const keys = Object.keys(meta).sort();
  if (keys.length === 0) return '';
  return `<details><summary>model metadata</summary><table>${keys.map((k) =>
    `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(meta[k])}</td></tr>`).join('')}</table></details>`;
}

/** Writes report.json and index.html from the manifest. */
function writeIndex(dir: string, m: Manifest): string[] {
  const parts: string[] = [];
  for (const s of m.sections) {
    if (s.kind === 'cra') {
      parts.push(`<section id="${escapeHtml(s.id)}"><h2>Certified robust accuracy &mdash; ${escapeHtml(path.basename(s.model))}</h2>`,
        `<p>Model <code>${escapeHtml(s.model)}</code>${s.lipschitz !== null ? `, Lipschitz constant ${escapeHtml(s.lipschitz)}` : ''}` +
        `${s.accuracy !== null ? `, accuracy ${escapeHtml((s.accuracy * 100).toFixed(2))}%` : ''}.</p>`,
        `<img src="${escapeHtml(s.png)}" alt="certified robust accuracy against epsilon">`,
        `<table><tr><th>epsilon</th><th>certified robust accuracy</th></tr>${s.points.map((p) =>
          `<tr><td>${escapeHtml(p.eps.toFixed(4))}</td><td>${escapeHtml((p.cra * 100).toFixed(2))}%</td></tr>`).join('')}</table>`,
        metadataTable(s.metadata), '</section>');
    } else {
      const violations = s.rows.filter((r) => r.violated).length;
      const outcomes = (['misclassified', 'adversarial', 'none'] as const)
        .map((o) => `${s.rows.filter((r) => rowOutcome(r) === o).length} ${OUTCOME_TEXT[o]}`).join(', ');
      parts.push(`<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.attack)} attack &mdash; ${escapeHtml(path.basename(s.model))}</h2>`,
        `<p>Model <code>${escapeHtml(s.model)}</code>${s.lipschitz !== null ? `, Lipschitz constant ${escapeHtml(s.lipschitz)}` : ''}` +
        `${s.certificateKind ? `, certificate ${escapeHtml(s.certificateKind)}` : ''}. ` +
        `${s.rows.length} images: ${escapeHtml(outcomes)}; ` +
        `<strong class="${violations ? 'bad' : 'good'}">${violations} certificate violation${violations === 1 ? '' : 's'}</strong>.` +
        `${s.shown < s.rows.length ? ` The figure shows ${s.shown} of ${s.rows.length} images, violations first.` : ''}</p>`,
        `<img src="${escapeHtml(s.png)}" alt="original, adversarial and difference per image">`,
        '<table><tr><th>Image #</th><th>label</th><th>prediction</th><th>outcome</th><th>adversarial prediction</th><th>Certificate</th>' +
          '<th>Distance to adversarial</th><th>violated</th></tr>',
        ...s.rows.map((r) => `<tr${r.violated ? ' class="bad"' : ''}><td>${escapeHtml(r.index)}</td><td>${escapeHtml(r.label)}</td><td>${escapeHtml(r.pred)}</td>` +
          `<td>${escapeHtml(OUTCOME_TEXT[rowOutcome(r)])}</td><td>${r.found ? escapeHtml(r.advPred) : '&ndash;'}</td><td>${fmt(r.certificate)}</td>` +
          `<td>${fmt(r.distance)}</td><td>${r.violated ? 'yes' : 'no'}</td></tr>`),
        '</table>', metadataTable(s.metadata), '</section>');
    }
  }
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lip verification report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
img { max-width: 100%; border: 1px solid #eee; }
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
