import * as path from 'path';
import { Command, Option } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { EnginePolicy, createProgress, requireEngine, withOutputLock } from '@lip/core';
import { ExportResult, exportCheckpoint } from '@lip/export';
import { ARCHITECTURES, BackendPreference, DEFAULT_EPSILONS, DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN, onePerClass } from '@lip/train';
import {
  consoleProgress,
  defaultWorkers,
  DEFAULT_SEED,
  hasCheckpoint,
  LR_SCHEDULES,
  LrSchedule,
  readTrainState,
  RecipeSettings,
  recipeSettings,
  train,
  TrainOptions,
  writeFileAtomic,
} from '@lip/train/node';
import {
  LipschitzBound,
  OnnxModel,
  VerifyData,
  VerifyResult,
  lipschitzBound,
  loadVerifyData,
  metadataJson,
  modelInputRange,
  openSession,
  readOnnxModel,
  verifyModel,
  writeAttackReport,
  writeCraReport,
} from '@lip/verify';
import { AttackRunResult, runAttack } from '@lip/verify/attacks';
import { positiveInt, positiveNumber, seedFlag, withSigintAbort } from '../flags';
import { setExitCode } from '../exit_code';
import {
  DEFAULT_CW_BINARY_SEARCH_STEPS,
  DEFAULT_CW_STEPS,
  EXIT_CERTIFICATE_VIOLATED,
  attackJson,
  attackProgressListener,
  classNamesOf,
  formatAttackOutcomes,
  formatAttackTable,
} from './attack';
import { formatBoundTable } from './bound';
import { DEFAULT_EPS_SPEC, craCurve, engineOption, formatVerifyTable, parseEpsList, verifyJson, verifyProgress } from './verify';

/** Where the demo writes by default (with --full: its own folder, since a checkpoint keeps its schedule). */
export const DEFAULT_DEMO_OUT = path.join('runs', 'demo');
export const DEFAULT_DEMO_FULL_OUT = path.join('runs', 'demo-full');

/** Training settings of a demo run: a `lip train` recipe's (architecture, schedule, loss). */
export type DemoSchedule = RecipeSettings;

/** The default schedule: `lip train --recipe fast` (0.87 test accuracy within 3 minutes of training on 2 cores; README "lip train"). */
export const DEMO_SCHEDULE: DemoSchedule = recipeSettings('fast');

/** The reference notebook's schedule (`--full`, `lip train --recipe reference`): seed network, HKR, Adam lr 1e-4, batch 4096, 100 epochs. */
export const REFERENCE_SCHEDULE: DemoSchedule = recipeSettings('reference');

/** `HKR multiclass (alpha 100, min_margin 0.25)`, `tau-CCE (tau 5)`: the loss of `schedule`, for the step header. */
export function lossDescription(schedule: DemoSchedule): string {
  if (schedule.loss === 'hkr') {
    return `HKR multiclass (alpha ${schedule.alpha ?? DEFAULT_HKR_ALPHA}, min_margin ${schedule.minMargin ?? DEFAULT_MIN_MARGIN})`;
  }
  if (schedule.loss === 'tau_cce') return `tau-CCE (tau ${schedule.tau})`;
  return `the ${schedule.loss} loss`;
}

/** Exit code after Ctrl-C during training (128 + SIGINT). */
const EXIT_INTERRUPTED = 130;

export interface DemoFlags {
  out?: string;
  full?: boolean;
  arch?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  lrSchedule?: LrSchedule;
  limit?: string;
  seed?: string;
  cwSteps?: string;
  cwBinarySteps?: string;
  backend?: BackendPreference;
  workers?: string;
  data?: string;
  engine?: EnginePolicy;
}

/** The files a demo run writes under `--out`. */
export interface DemoPaths {
  checkpoint: string;
  onnx: string;
  verifyJson: string;
  boundJson: string;
  attackJson: string;
  summary: string;
  reportDir: string;
  report: string;
}

export function demoPaths(out: string): DemoPaths {
  const reportDir = path.join(out, 'report');
  return {
    checkpoint: path.join(out, 'checkpoint'),
    onnx: path.join(out, 'model.onnx'),
    verifyJson: path.join(out, 'verify.json'),
    boundJson: path.join(out, 'bound.json'),
    attackJson: path.join(out, 'attack-cw.json'),
    summary: path.join(out, 'demo.json'),
    reportDir,
    report: path.join(reportDir, 'index.html'),
  };
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `12m05s`, `41.2s`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.round(seconds - 60 * m)).padStart(2, '0')}s`;
}

/** Step header on stdout, so that a transcript (`npm run demo > demo.log`) reads as the notebook. */
function header(step: number, title: string): void {
  process.stdout.write(`\n[${step}/5] ${title}\n`);
}

/** What a demo run does, from its flags (each checked; the first bad one throws). */
export interface DemoSettings {
  schedule: DemoSchedule;
  /** First `limit` images of each split; undefined for all. */
  limit: number | undefined;
  seed: number;
  cwSteps: number;
  cwBinarySteps: number;
  /** Training and attack threads; undefined for the default. */
  workers: number | undefined;
  dataDir: string | undefined;
  backend: BackendPreference | undefined;
  engine: EnginePolicy | undefined;
  out: string;
  paths: DemoPaths;
}

export function demoSettings(flags: DemoFlags): DemoSettings {
  const base = flags.full ? REFERENCE_SCHEDULE : DEMO_SCHEDULE;
  const schedule: DemoSchedule = {
    ...base,
    arch: flags.arch ?? base.arch,
    epochs: positiveInt('--epochs', flags.epochs) ?? base.epochs,
    batchSize: positiveInt('--batch-size', flags.batchSize) ?? base.batchSize,
    lr: positiveNumber('--lr', flags.lr) ?? base.lr,
    lrSchedule: flags.lrSchedule ?? base.lrSchedule,
  };
  const out = flags.out ?? (flags.full ? DEFAULT_DEMO_FULL_OUT : DEFAULT_DEMO_OUT);
  return {
    schedule,
    limit: positiveInt('--limit', flags.limit),
    seed: seedFlag(flags.seed) ?? DEFAULT_SEED,
    cwSteps: positiveInt('--cw-steps', flags.cwSteps) ?? DEFAULT_CW_STEPS,
    cwBinarySteps: positiveInt('--cw-binary-steps', flags.cwBinarySteps) ?? DEFAULT_CW_BINARY_SEARCH_STEPS,
    workers: positiveInt('--workers', flags.workers),
    dataDir: flags.data,
    backend: flags.backend,
    engine: flags.engine,
    out,
    paths: demoPaths(out),
  };
}

/** Validation accuracy and seconds of each epoch of the checkpoint. */
export interface DemoTraining {
  valAcc: number[];
  seconds: number[];
}

/** Trains, or continues the checkpoint already in `options.outDir` (same settings) up to `epochs`. Null when interrupted. */
async function trainOrContinue(options: TrainOptions): Promise<DemoTraining | null> {
  const resume = hasCheckpoint(options.outDir);
  if (resume) {
    const done = readTrainState(options.outDir).epochs.length;
    process.stderr.write(`continuing the checkpoint in ${options.outDir} (${done} epoch${done === 1 ? '' : 's'} done)\n`);
  }
  const result = await withSigintAbort((signal) => train({ ...options, resume }, { ...consoleProgress(process.stderr), signal }));
  result.model.dispose();
  const { epochs } = result.trainState;
  if (result.interrupted) {
    process.stderr.write(
      `stopped: ${options.outDir} holds ${epochs.length} complete epoch${epochs.length === 1 ? '' : 's'}; ` +
        'run the demo again with the same options to continue\n',
    );
    return null;
  }
  return { valAcc: epochs.map((e) => e.val_acc ?? Number.NaN), seconds: epochs.map((e) => e.seconds) };
}

/** Step 1: trains `schedule.arch` with the schedule's loss into `paths.checkpoint` (or continues it). Null when interrupted. */
export async function trainDemoModel(s: DemoSettings): Promise<DemoTraining | null> {
  const { schedule, limit } = s;
  header(
    1,
    `Training the ${schedule.arch} network on Fashion-MNIST with ${lossDescription(schedule)}: ` +
      `${schedule.epochs} epoch${schedule.epochs === 1 ? '' : 's'}, batch ${schedule.batchSize}, Adam lr ${schedule.lr} (${schedule.lrSchedule})` +
      `${limit ? `, first ${limit} images` : ''} -> ${s.paths.checkpoint}`,
  );
  return trainOrContinue({
    ...schedule,
    seed: s.seed,
    limit,
    dataDir: s.dataDir,
    outDir: s.paths.checkpoint,
    backend: s.backend,
    ...(s.workers === undefined ? {} : { workers: s.workers }),
  });
}

/** Step 2: exports the checkpoint to `paths.onnx`. */
export async function exportDemoModel(paths: DemoPaths): Promise<ExportResult> {
  header(2, `Exporting to ONNX -> ${paths.onnx}`);
  const exported = await exportCheckpoint(paths.checkpoint, paths.onnx);
  process.stdout.write(
    `wrote ${exported.path} (${exported.bytes} bytes, ${exported.metadata.profile} profile, ` + `Lipschitz constant ${exported.metadata.lipschitz_constant})\n`,
  );
  return exported;
}

/** The exported model, its Lipschitz bound and its results on the test set. */
export interface DemoVerification {
  model: OnnxModel;
  bound: LipschitzBound;
  verified: VerifyResult;
}

/** Step 3: the bound from the weights (`paths.boundJson`), then accuracy and certificates on the test set in onnxruntime (`paths.verifyJson`). */
export async function verifyDemoModel(s: DemoSettings): Promise<DemoVerification> {
  const { paths, limit } = s;
  header(3, `Verifying on the Fashion-MNIST test set${limit ? ` (first ${limit} images)` : ''}: accuracy, certified robust accuracy, Lipschitz bound`);
  const model = readOnnxModel(paths.onnx);
  const bound = lipschitzBound(model);
  for (const w of bound.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`lip bound ${paths.onnx}\n${formatBoundTable(bound)}\n\n`);
  const { head: _head, ...boundRest } = bound;
  writeFileAtomic(paths.boundJson, `${JSON.stringify({ model: paths.onnx, ...boundRest }, null, 2)}\n`);
  const eps = parseEpsList(DEFAULT_EPS_SPEC);
  const progress = verifyProgress(256);
  let verified: VerifyResult;
  try {
    verified = await verifyModel(paths.onnx, {
      data: 'fashion-mnist',
      dataDir: s.dataDir,
      split: 'test',
      n: limit,
      eps: eps.map((e) => e.value),
      batchSize: 256,
      engine: s.engine,
      onProgress: (done, total) => progress.update(done, total),
      onWarning: (m) => progress.log(`warning: ${m}`),
    });
  } finally {
    progress.stop();
  }
  const labels = eps.map((e) => e.label);
  process.stdout.write(`lip verify ${paths.onnx}\n${formatVerifyTable(verified, labels)}\n`);
  writeFileAtomic(paths.verifyJson, `${JSON.stringify(verifyJson(verified, labels), null, 2)}\n`);
  return { model, bound, verified };
}

/** The first test image of each class, as the notebook attacks them. */
export interface DemoImages {
  /** Image indices in the test split, one per class in class order. */
  indices: number[];
  labels: number[];
  /** The images, NHWC, one after the other. */
  images: Float32Array;
  chw: [number, number, number];
  classNames: string[];
}

/** The first image of each class of `data`. */
export function onePerClassImages(data: Pick<VerifyData, 'images' | 'labels' | 'channels' | 'height' | 'width' | 'classNames'>): DemoImages {
  const chw: [number, number, number] = [data.channels, data.height, data.width];
  const d = chw[0] * chw[1] * chw[2];
  const indices = onePerClass(data.labels);
  const images = new Float32Array(indices.length * d);
  indices.forEach((idx, i) => images.set(data.images.subarray(idx * d, (idx + 1) * d), i * d));
  return { indices, labels: indices.map((i) => data.labels[i]), images, chw, classNames: data.classNames };
}

/** The test images the attack runs on (see `onePerClassImages`). */
export async function loadDemoImages(s: DemoSettings): Promise<DemoImages> {
  return onePerClassImages(await loadVerifyData('fashion-mnist', { split: 'test', limit: s.limit, dataDir: s.dataDir }));
}

/** Step 4: CW on `images` (`paths.attackJson`). */
export async function attackDemoModel(s: DemoSettings, model: OnnxModel, images: DemoImages): Promise<AttackRunResult> {
  header(4, `CW attack (L2, ${s.cwBinarySteps} binary-search steps x ${s.cwSteps} steps) on the 10 one-per-class test images`);
  // The backend training left active; the attack needs gradients, which every tfjs backend has.
  process.stderr.write(`tfjs backend: ${tf.getBackend()}\n`);
  const session = await openSession(model, { engine: s.engine });
  const progress = createProgress();
  let attack: AttackRunResult;
  try {
    attack = await runAttack(model, session, images.images, images.labels, images.indices, images.chw, {
      attack: 'cw',
      steps: s.cwSteps,
      binarySearchSteps: s.cwBinarySteps,
      workers: s.workers ?? defaultWorkers(),
      onProgress: attackProgressListener(progress),
    });
  } finally {
    progress.stop();
    await session.close();
  }
  writeFileAtomic(s.paths.attackJson, `${JSON.stringify(attackJson(attack), null, 2)}\n`);
  process.stdout.write(
    `cw: ${attack.results.length} images: ${formatAttackOutcomes(attack)}; ${attack.violations} certificate ` +
      `violation${attack.violations === 1 ? '' : 's'}, ${formatDuration(attack.seconds)}\n`,
  );
  return attack;
}

/** Step 5: the notebook's table on stdout, the CRA curve and the adversarials in `paths.reportDir`. */
export function writeDemoReport(paths: DemoPaths, v: DemoVerification, images: DemoImages, attack: AttackRunResult): void {
  header(5, 'Results');
  const { model, verified } = v;
  const classNames = classNamesOf(metadataJson(model, 'class_names'), images.classNames);
  process.stdout.write(`${formatAttackTable(attack)}\n`);
  writeCraReport(paths.reportDir, {
    model: paths.onnx,
    metadata: verified.metadata,
    cra: craCurve(verified),
    accuracy: verified.accuracy,
    lipschitz: verified.lipschitzUsed,
  });
  writeAttackReport(paths.reportDir, {
    attack: 'cw',
    model: paths.onnx,
    metadata: model.metadata,
    classNames,
    chw: images.chw,
    range: modelInputRange(model) ?? [0, 1],
    images: images.images,
    adversarials: attack.adversarials,
    results: attack.results,
    lipschitz: attack.lipschitz,
    certificateKind: attack.certificateKind,
  });
}

/** Runs `step` and records its duration in seconds under `name` in `timings` (also when it throws). */
async function timed<T>(timings: Record<string, number>, name: string, step: () => T | Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await step();
  } finally {
    timings[name] = (Date.now() - t0) / 1000;
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the reference notebook "HKR multiclass and fooling" end to end, trained with `lip train --recipe fast` (--full: the notebook\'s own schedule): ' +
        'train, export, verify, CW attack, report',
    )
    .option(
      '--out <dir>',
      `folder for the checkpoint, the ONNX file, the JSON results and the report (default ${DEFAULT_DEMO_OUT}; ` + `--full: ${DEFAULT_DEMO_FULL_OUT})`,
    )
    .option(
      '--full',
      `the reference schedule: the ${REFERENCE_SCHEDULE.arch} network, Adam lr ${REFERENCE_SCHEDULE.lr}, batch ${REFERENCE_SCHEDULE.batchSize}, ` +
        `${REFERENCE_SCHEDULE.epochs} epochs, HKR alpha ${REFERENCE_SCHEDULE.alpha}, min_margin ${REFERENCE_SCHEDULE.minMargin} (about an hour or more)`,
    )
    .addOption(
      new Option('--arch <name>', `architecture (default ${DEMO_SCHEDULE.arch}; --full: ${REFERENCE_SCHEDULE.arch}, the notebook's)`).choices([
        ...ARCHITECTURES.keys(),
      ]),
    )
    .option('--epochs <n>', `training epochs (default ${DEMO_SCHEDULE.epochs}; --full: ${REFERENCE_SCHEDULE.epochs})`)
    .option('--batch-size <n>', `images per step (default ${DEMO_SCHEDULE.batchSize}; --full: ${REFERENCE_SCHEDULE.batchSize})`)
    .option('--lr <x>', `Adam learning rate (default ${DEMO_SCHEDULE.lr}; --full: ${REFERENCE_SCHEDULE.lr})`)
    .addOption(
      new Option('--lr-schedule <name>', `learning rate over the run (default ${DEMO_SCHEDULE.lrSchedule}; --full: ${REFERENCE_SCHEDULE.lrSchedule})`).choices(
        LR_SCHEDULES,
      ),
    )
    .option('--limit <n>', 'use only the first N images of each split (a quick run)')
    .option('--seed <n>', `seed of the weights and the shuffles (default ${DEFAULT_SEED})`)
    .option('--cw-steps <n>', `CW steps per binary-search step (default ${DEFAULT_CW_STEPS}, the reference's)`)
    .option('--cw-binary-steps <n>', `CW binary-search steps over c (default ${DEFAULT_CW_BINARY_SEARCH_STEPS}, the reference's)`)
    .addOption(new Option('--backend <name>', 'tfjs backend (default: the fastest that loads)').choices(['tensorflow', 'wasm', 'cpu']))
    .option('--workers <n>', 'threads for training (data-parallel) and for the CW attack (default: the number of cores)')
    .option('--data <dir>', 'folder holding the Fashion-MNIST IDX files (default: searched, see README)')
    .addOption(engineOption())
    .action(async (flags: DemoFlags, cmd: Command) => {
      const settings = demoSettings(flags);
      // A named engine that is not installed fails before an hour of training, not after.
      requireEngine(settings.engine);
      // One demo per --out folder (`<out>.lock` beside it): a second one stops here, naming this one's pid.
      await withOutputLock(settings.out, { what: 'output folder', hint: 'use another --out' }, async () => {
        const started = Date.now();
        const timings: Record<string, number> = {};
        const trained = await timed(timings, 'train', () => trainDemoModel(settings));
        if (trained === null) {
          setExitCode(cmd, EXIT_INTERRUPTED);
          return;
        }
        await timed(timings, 'export', () => exportDemoModel(settings.paths));
        const verification = await timed(timings, 'verify', () => verifyDemoModel(settings));
        const images = await loadDemoImages(settings);
        const attack = await timed(timings, 'attack', () => attackDemoModel(settings, verification.model, images));
        await timed(timings, 'report', () => writeDemoReport(settings.paths, verification, images, attack));
        writeDemoSummary(demoSummary({ settings, trained, verification, attack, timings, totalSeconds: (Date.now() - started) / 1000 }));
        if (attack.violations > 0) {
          process.stderr.write(
            `certificate violated: ${attack.violations} adversarial${attack.violations === 1 ? ' is' : 's are'} closer than the certificate\n`,
          );
          setExitCode(cmd, EXIT_CERTIFICATE_VIOLATED);
        }
      });
    });
}

/** `demo.json`: what the run did and measured. */
export interface DemoSummary {
  settings: DemoSchedule & { limit: number | null; seed: number; cwSteps: number; cwBinarySteps: number };
  valAccuracyPerEpoch: number[];
  epochSeconds: number[];
  testImages: number;
  accuracy: number;
  cra: { eps: number; label: string; value: number }[];
  medianCertificate: number;
  lipschitzClaimed: number | null;
  lipschitzBound: number;
  /** `misclassified`: images the model already got wrong; `found`: adversarials found for the others. */
  cw: { misclassified: number; found: number; violations: number; medianDistance: number | null; medianCertificate: number | null; seconds: number };
  seconds: Record<string, number> & { total: number };
  paths: DemoPaths;
}

/** `demo.json` of a run that took `totalSeconds`, `timings` of its steps. */
export function demoSummary(r: {
  settings: DemoSettings;
  trained: DemoTraining;
  verification: DemoVerification;
  attack: AttackRunResult;
  timings: Record<string, number>;
  totalSeconds: number;
}): DemoSummary {
  const {
    settings: s,
    verification: { verified: v, bound },
    attack,
  } = r;
  const labels = DEFAULT_EPS_SPEC.split(',');
  return {
    settings: {
      ...s.schedule,
      limit: s.limit ?? null,
      seed: s.seed,
      cwSteps: s.cwSteps,
      cwBinarySteps: s.cwBinarySteps,
    },
    valAccuracyPerEpoch: r.trained.valAcc,
    epochSeconds: r.trained.seconds,
    testImages: v.n,
    accuracy: v.accuracy,
    cra: v.cra.map((p, i) => ({ eps: p.eps, label: labels[i] ?? String(DEFAULT_EPSILONS[i]), value: p.value })),
    medianCertificate: v.medianCertificate ?? NaN,
    lipschitzClaimed: v.lipschitzClaimed,
    lipschitzBound: bound.total,
    cw: {
      misclassified: attack.misclassified,
      found: attack.found,
      violations: attack.violations,
      medianDistance: median(attack.results.filter((x) => x.distance !== null).map((x) => x.distance!)),
      medianCertificate: median(attack.results.map((x) => x.certificate)),
      seconds: attack.seconds,
    },
    seconds: { ...r.timings, total: r.totalSeconds },
    paths: s.paths,
  };
}

/** The closing step: `paths.summary`, and its headline lines on stdout. */
export function writeDemoSummary(summary: DemoSummary): void {
  writeFileAtomic(summary.paths.summary, `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`\n${formatSummary(summary)}\n`);
}

/** The closing lines: the headline figures, the time, and where everything is. */
export function formatSummary(s: DemoSummary): string {
  const cra = s.cra.map((p) => `${p.label}: ${p.value.toFixed(4)}`).join(', ');
  const steps = ['train', 'export', 'verify', 'attack'].filter((k) => k in s.seconds).map((k) => `${k} ${formatDuration(s.seconds[k])}`);
  const cw = s.cw.medianDistance === null ? 'no adversarial found' : `median CW distance ${s.cw.medianDistance.toFixed(4)}`;
  return [
    `test accuracy ${s.accuracy.toFixed(4)} on ${s.testImages} images; certified robust accuracy ${cra}`,
    `Lipschitz bound ${s.lipschitzBound.toPrecision(6)} (claimed ${s.lipschitzClaimed ?? 'none'}); median certificate ${s.medianCertificate.toFixed(4)}; ` +
      `one-per-class: median certificate ${s.cw.medianCertificate?.toFixed(4) ?? '-'}, ${cw}, ${s.cw.violations} violation${s.cw.violations === 1 ? '' : 's'}`,
    `total ${formatDuration(s.seconds.total)} (${steps.join(', ')})`,
    '',
    `checkpoint: ${path.resolve(s.paths.checkpoint)}`,
    `onnx:       ${path.resolve(s.paths.onnx)}`,
    `report:     ${path.resolve(s.paths.report)}`,
  ].join('\n');
}
