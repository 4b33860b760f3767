import * as path from 'path';
import { Command, Option } from 'commander';
import { DATASET_NAMES, InvalidArgumentError } from '@lip/train';
import { VerifyResult, certifiedRobustAccuracy, verifyModel, writeCraReport } from '@lip/verify';
import { positiveInt, positiveNumber } from '../flags';
import { humanOutput, outputFlag, writeOutput } from '../output';

/** The --eps default, as the user would type it. */
export const DEFAULT_EPS_SPEC = '36/255,72/255,108/255,0.25,0.5,1.0';

interface VerifyFlags {
  data: string;
  split: string;
  n?: string;
  eps: string;
  threads?: string;
  json?: string;
  lipschitz?: string;
  report?: string;
  batchSize?: string;
}



/** Parses `--eps`: comma-separated numbers or fractions (`36/255`), each > 0. Keeps the text as a label. */
export function parseEpsList(raw: string): { value: number; label: string }[] {
  const items = raw.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === '')) {
    throw new InvalidArgumentError(`'--eps' must be a comma-separated list such as ${DEFAULT_EPS_SPEC}, got '${raw}'`);
  }
  return items.map((s) => {
    const m = /^([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)(?:\/([0-9]*\.?[0-9]+(?:e[-+]?\d+)?))?$/i.exec(s);
    const value = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
    if (!m || !Number.isFinite(value) || value < 0) {
      throw new InvalidArgumentError(`'--eps' entry '${s}' is not a number > 0 or a fraction like 36/255`);
    }
    if (value === 0) {
      throw new InvalidArgumentError(`'--eps' entry '${s}' must be > 0 (a radius of 0 certifies nothing; see the accuracy line)`);
    }
    return { value, label: s };
  });
}

/** The result table printed by `lip verify`. */
export function formatVerifyTable(r: VerifyResult, epsLabels: readonly string[]): string {
  const rows: [string, string][] = [
    ['images', `${r.n} (${r.data}, ${r.split})`],
    ['accuracy', r.accuracy.toFixed(4)],
    ['mean certificate', r.meanCertificate.toFixed(4)],
    ['median certificate', r.medianCertificate.toFixed(4)],
  ];
  if (r.certificateKind === 'head-aware' && r.meanCertificateMulticlass !== null) {
    rows.push(['  (multiclass mean)', r.meanCertificateMulticlass.toFixed(4)]);
  }
  r.cra.forEach((p, i) => {
    const label = epsLabels[i] ?? String(p.eps);
    const shown = label === p.eps.toString() ? label : `${label} = ${p.eps.toFixed(4)}`;
    rows.push([`CRA eps=${shown}`, p.value.toFixed(4)]);
  });
  const source = r.lipschitzSource === 'metadata' ? 'metadata' : r.lipschitzSource === 'override' ? '--lipschitz' : 'certified bound';
  rows.push(['Lipschitz used', `${fmtL(r.lipschitzUsed)} (${source})`]);
  rows.push(['Lipschitz claimed', r.lipschitzClaimed === null ? 'none' : fmtL(r.lipschitzClaimed)]);
  rows.push(['Lipschitz bound', r.lipschitzBound === null ? 'not computed' : fmtL(r.lipschitzBound)]);
  rows.push(['certificate', certificateDescription(r)]);
  rows.push(['throughput', `${r.imagesPerSecond.toFixed(0)} images/s (onnxruntime)`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n');
}

function fmtL(l: number): string {
  return Number.isInteger(l) ? String(l) : l.toPrecision(8);
}

function certificateDescription(r: VerifyResult): string {
  if (r.certificateKind === 'binary') return 'binary |f| / L';
  if (r.certificateKind === 'multiclass') return 'multiclass (top1 - top2) / (sqrt(2) L)';
  return `head-aware min_j (f_y - f_j) / (||w_y - w_j|| L_body), L_body = ${fmtL(r.headBodyLipschitz ?? NaN)}`;
}

/** The JSON written by --json: the result without per-image arrays. */
export function verifyJson(r: VerifyResult, epsLabels: readonly string[]): Record<string, unknown> {
  const { details: _omit, ...rest } = r;
  return { ...rest, cra: r.cra.map((p, i) => ({ ...p, label: epsLabels[i] ?? String(p.eps) })) };
}

/** A progress bar over batches on stderr: redrawn in place on a terminal, a few lines otherwise. */
export function batchProgress(stream: NodeJS.WriteStream, batchSize: number): { update: (done: number, total: number) => void; end: () => void } {
  let drawn = false;
  let lastTenth = -1;
  return {
    update: (done, total) => {
      const batches = Math.ceil(total / batchSize);
      const batch = Math.ceil(done / batchSize);
      if (stream.isTTY) {
        const width = 30;
        const filled = Math.round((width * done) / Math.max(total, 1));
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] batch ${batch}/${batches} (${done}/${total} images)\x1b[K`);
        drawn = true;
      } else {
        const tenth = Math.floor((10 * done) / Math.max(total, 1));
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          stream.write(`verify: batch ${batch}/${batches} (${done}/${total} images)\n`);
        }
      }
    },
    end: () => {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}

/** Certified accuracy on a fine grid (plus the requested radii) for the report curve. */
export function craCurve(r: VerifyResult): { eps: number; cra: number }[] {
  const { labels, predictions, certificates } = r.details;
  const correct = Array.from(labels, (l, i) => predictions[i] === l);
  const sorted = Float64Array.from(certificates).sort();
  const p95 = sorted.length > 0 ? sorted[Math.floor(0.95 * (sorted.length - 1))] : 0;
  const top = Math.max(...r.cra.map((p) => p.eps), Number.isFinite(p95) ? p95 : 0, 1e-3);
  const grid = Array.from({ length: 41 }, (_, i) => (top * i) / 40);
  const eps = [...new Set([...grid, ...r.cra.map((p) => p.eps)])].sort((a, b) => a - b);
  return eps.map((e) => ({ eps: e, cra: certifiedRobustAccuracy(correct, certificates, e) }));
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('accuracy, certificates and certified robust accuracy of an ONNX model, with its Lipschitz constant checked against the weights')
    .argument('<model>', 'the .onnx file')
    .option('--data <name|DIR>', `${DATASET_NAMES.join(' | ')} | a folder of IDX files`, 'fashion-mnist')
    .addOption(new Option('--split <split>', 'data split').choices(['test', 'train']).default('test'))
    .option('--n <N>', 'use the first N images (default: the whole split)')
    .option('--eps <LIST>', 'radii for certified robust accuracy: numbers or fractions, comma-separated', DEFAULT_EPS_SPEC)
    .option('--threads <T>', 'onnxruntime threads (default: onnxruntime decides)')
    .option('--batch-size <B>', 'images per onnxruntime call (default 256)')
    .option('--lipschitz <L>', 'Lipschitz constant to certify with (default: the metadata lipschitz_constant; never below the certified bound)')
    .option('--json <FILE>', "write the results as JSON ('-': to stdout, the table then goes to stderr)")
    .option('--report <DIR>', 'add the certified-accuracy curve to the report in DIR (index.html)')
    .action(async (file: string, flags: VerifyFlags) => {
      const eps = parseEpsList(flags.eps);
      const json = outputFlag('--json', flags.json);
      const batchSize = positiveInt('--batch-size', flags.batchSize) ?? 256;
      const bar = batchProgress(process.stderr, batchSize);
      let result: VerifyResult;
      try {
        result = await verifyModel(file, {
          data: flags.data,
          split: flags.split as 'test' | 'train',
          n: positiveInt('--n', flags.n),
          eps: eps.map((e) => e.value),
          threads: positiveInt('--threads', flags.threads),
          lipschitz: positiveNumber('--lipschitz', flags.lipschitz),
          batchSize,
          onProgress: bar.update,
          onWarning: (m) => { bar.end(); process.stderr.write(`warning: ${m}\n`); },
        });
      } finally {
        bar.end();
      }
      const labels = eps.map((e) => e.label);
      humanOutput(json).write(`${formatVerifyTable(result, labels)}\n`);
      if (json) writeOutput(json, `${JSON.stringify(verifyJson(result, labels), null, 2)}\n`);
      if (flags.report) {
        const files = writeCraReport(flags.report, {
          model: file, metadata: result.metadata, cra: craCurve(result), accuracy: result.accuracy, lipschitz: result.lipschitzUsed,
        });
        process.stderr.write(`report: ${path.resolve(files.find((f) => f.endsWith('index.html')) ?? flags.report)}\n`);
      }
    });
}
