import * as path from 'path';
import { Command, Option } from 'commander';
import {
  DATASET_NAMES,
  ENGINE_ENV_VAR,
  ENGINE_POLICIES,
  EnginePolicy,
  InvalidArgumentError,
  Progress,
  ProgressOptions,
  createProgress,
  engineLabel,
  progressMode,
} from '@lip/core';
import { VerifyResult, certifiedRobustAccuracy, verifyModel, writeCraReport } from '@lip/verify';
import { dimsFlag, numberListFlag, positiveFraction, positiveInt, positiveNumber } from '../flags';
import { humanOutput, outputFlag, writeOutput } from '../output';
import { NO_CACHE_HELP, boundCacheText } from './bound';

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
  labels?: string;
  layout?: 'nchw' | 'nhwc';
  scale?: string;
  mean?: string;
  std?: string;
  inputShape?: string;
  engine?: EnginePolicy;
  /** False with --no-cache. */
  cache: boolean;
}

/** `--engine` of the commands that run the model in onnxruntime (verify, attack, demo); absent: LIP_ENGINE, else auto. */
export function engineOption(): Option {
  return new Option(
    '--engine <name>',
    `onnxruntime engine: auto (onnxruntime-node when installed, else onnxruntime-web), node or web ` + `(default: $${ENGINE_ENV_VAR}, else auto)`,
  ).choices([...ENGINE_POLICIES]);
}

/** What `--data` accepts, for the help of verify and attack. */
export const DATA_HELP =
  `${DATASET_NAMES.join(' | ')}, or a data file or folder: IDX files (any shape), .npy images with --labels, ` +
  '.npz, CIFAR-10 binary, or an ImageFolder (<class>/<image>.png|jpg)';

/** The model's input layout and the shape of one image, when the graph leaves it open (help of verify and attack). */
export const INPUT_SHAPE_HELP =
  'shape of one image as the model reads it, e.g. 1,28,28 (NCHW) or 28,28,1 (NHWC); ' +
  'needed only when the graph declares symbolic dims that leave the layout open';

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
  const [h, w, c] = r.imageShape;
  const rows: [string, string][] = [
    ['images', `${r.n} (${r.data}, ${r.split}; ${h}x${w}x${c}, fed as [N, ${r.preprocessing.inputShape.join(', ')}])`],
    ['accuracy', r.accuracy.toFixed(4)],
  ];
  if (r.meanCertificate === null || r.medianCertificate === null) {
    rows.push(['certificates', 'NONE: no certified Lipschitz bound; pass --lipschitz L to certify with your own claim']);
  } else {
    rows.push(['mean certificate', r.meanCertificate.toFixed(4)], ['median certificate', r.medianCertificate.toFixed(4)]);
  }
  if (r.certificateKind === 'head-aware' && r.meanCertificateMulticlass !== null) {
    rows.push(['  (multiclass mean)', r.meanCertificateMulticlass.toFixed(4)]);
  }
  r.cra.forEach((p, i) => {
    const label = epsLabels[i] ?? String(p.eps);
    const shown = label === p.eps.toString() ? label : `${label} = ${p.eps.toFixed(4)}`;
    rows.push([`CRA eps=${shown}`, p.value.toFixed(4)]);
  });
  rows.push(['Lipschitz used', lipschitzUsedText(r)]);
  rows.push(['Lipschitz claimed', r.lipschitzClaimed === null ? 'none' : fmtL(r.lipschitzClaimed)]);
  rows.push([
    'Lipschitz bound',
    r.lipschitzBound === null ? 'not computed' : `${fmtL(r.lipschitzBound)}${r.boundCache?.used ? `, ${boundCacheText(r.boundCache)}` : ''}`,
  ]);
  if (r.certificateKind !== null) rows.push(['certificate', certificateDescription(r)]);
  const p = r.preprocessing;
  if (p.certificateFactor !== 1) {
    const steps = [p.scale !== null ? `x ${p.scale}` : '', p.mean ? `- [${p.mean.join(', ')}]` : '', p.std ? `/ [${p.std.join(', ')}]` : '']
      .filter((t) => t !== '')
      .join(' ');
    rows.push([
      'preprocessing',
      `${steps} outside the graph: certificates and --eps in the data's units = model-space radius ` +
        `x ${p.certificateFactor.toPrecision(6)} (min std / scale)`,
    ]);
  }
  rows.push(['throughput', `${r.imagesPerSecond.toFixed(0)} images/s (${engineLabel(r.engine)})`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n');
}

/** `1 (metadata)`, `2.5 (--lipschitz: YOUR CLAIM, NOT A PROOF)`, `none`. */
function lipschitzUsedText(r: VerifyResult): string {
  if (r.lipschitzUsed === null) return 'none (no certified bound)';
  const source =
    r.lipschitzSource === 'metadata'
      ? 'metadata'
      : r.lipschitzSource === 'bound'
        ? 'certified bound'
        : r.lipschitzProven
          ? '--lipschitz, at least the certified bound'
          : '--lipschitz: YOUR CLAIM, NOT A PROOF';
  return `${fmtL(r.lipschitzUsed)} (${source})`;
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

/**
 * The progress of `lip verify` over its batches, on stderr: a bar on a terminal,
 * else `verify: batch 2/4 (512/1000 images)` at each tenth of the images.
 */
export function verifyProgress(batchSize: number, opts: ProgressOptions = {}): Progress {
  return createProgress({
    title: 'verify',
    lines: 'tenths',
    counts: (done, total) => `batch ${Math.ceil(done / batchSize)}/${Math.ceil(total / batchSize)} (${done}/${total} images)`,
    ...opts,
  });
}

/** Certified accuracy on a fine grid (plus the requested radii) for the report curve. */
export function craCurve(r: VerifyResult): { eps: number; cra: number }[] {
  const { labels, predictions, certificates } = r.details;
  if (certificates === null) return [];
  const correct = Array.from(labels, (l, i) => predictions[i] === l);
  const sorted = Float64Array.from(certificates).sort();
  const p95 = sorted.length > 0 ? sorted[Math.floor(0.95 * (sorted.length - 1))] : 0;
  const top = Math.max(...r.cra.map((p) => p.eps), Number.isFinite(p95) ? p95 : 0, 1e-3);
  const grid = Array.from({ length: 41 }, (_, i) => (top * i) / 40);
  const eps = [...new Set([...grid, ...r.cra.map((p) => p.eps)])].sort((a, b) => a - b);
  const cra = certifiedRobustAccuracy(correct, certificates, eps);
  return eps.map((e, i) => ({ eps: e, cra: cra[i] }));
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('accuracy, certificates and certified robust accuracy of an ONNX model, with its Lipschitz constant checked against the weights')
    .argument('<model>', 'the .onnx file')
    .option('--data <name|path>', DATA_HELP, 'fashion-mnist')
    .option('--labels <file>', 'labels of an .npy or IDX images file (.npy or IDX)')
    .addOption(new Option('--layout <order>', 'axis order of 4-D image arrays in the data (default: told from the shape)').choices(['nchw', 'nhwc']))
    .option(
      '--scale <x>',
      'multiplies the stored values (e.g. 1/255) before --mean/--std; certificates and --eps are then in the ' +
        'stored units (default: 8-bit data read as x/255, other data as stored)',
    )
    .option('--mean <LIST>', 'per-channel mean subtracted outside the graph, comma-separated (e.g. 0.485,0.456,0.406)')
    .option('--std <LIST>', 'per-channel std divided by outside the graph; certificates are scaled back by min(std) / scale')
    .option('--input-shape <dims>', INPUT_SHAPE_HELP)
    .addOption(new Option('--split <split>', 'data split').choices(['test', 'train']).default('test'))
    .option('--n <N>', 'use the first N images (default: the whole split)')
    .option('--eps <LIST>', 'radii for certified robust accuracy: numbers or fractions, comma-separated', DEFAULT_EPS_SPEC)
    .option('--threads <T>', 'onnxruntime threads (default: onnxruntime decides)')
    .addOption(engineOption())
    .option('--batch-size <B>', 'images per onnxruntime call (default 256)')
    .option(
      '--lipschitz <L>',
      'Lipschitz constant to certify with (default: the metadata lipschitz_constant; never below the certified ' +
        'bound; where the graph has no bound, your claim, reported as such)',
    )
    .option('--no-cache', NO_CACHE_HELP)
    .option('--json <FILE>', "write the results as JSON ('-': to stdout, the table then goes to stderr)")
    .option('--report <DIR>', 'add the certified-accuracy curve to the report in DIR (index.html)')
    .action(async (file: string, flags: VerifyFlags) => {
      const eps = parseEpsList(flags.eps);
      const json = outputFlag('--json', flags.json);
      const batchSize = positiveInt('--batch-size', flags.batchSize) ?? 256;
      const progress = verifyProgress(batchSize, { mode: progressMode(process.stderr, { json: json !== undefined }) });
      let result: VerifyResult;
      try {
        result = await verifyModel(file, {
          data: flags.data,
          split: flags.split as 'test' | 'train',
          n: positiveInt('--n', flags.n),
          eps: eps.map((e) => e.value),
          threads: positiveInt('--threads', flags.threads),
          engine: flags.engine,
          lipschitz: positiveNumber('--lipschitz', flags.lipschitz),
          labels: flags.labels,
          layout: flags.layout,
          scale: positiveFraction('--scale', flags.scale),
          mean: numberListFlag('--mean', flags.mean, false),
          std: numberListFlag('--std', flags.std, true),
          inputShape: dimsFlag('--input-shape', flags.inputShape),
          batchSize,
          boundCache: flags.cache,
          // The bound runs on a worker thread while the model runs.
          boundWorker: true,
          onProgress: (done, total) => progress.update(done, total),
          onWarning: (m) => progress.log(`warning: ${m}`),
        });
      } finally {
        progress.stop();
      }
      const labels = eps.map((e) => e.label);
      humanOutput(json).write(`${formatVerifyTable(result, labels)}\n`);
      if (json) writeOutput(json, `${JSON.stringify(verifyJson(result, labels), null, 2)}\n`);
      if (flags.report && result.lipschitzUsed === null) {
        process.stderr.write('report: not written, there are no certificates to plot (pass --lipschitz L)\n');
      } else if (flags.report) {
        const files = writeCraReport(flags.report, {
          model: file,
          metadata: result.metadata,
          cra: craCurve(result),
          accuracy: result.accuracy,
          lipschitz: result.lipschitzUsed,
        });
        process.stderr.write(`report: ${path.resolve(files.find((f) => f.endsWith('index.html')) ?? flags.report)}\n`);
      }
    });
}
