import * as path from 'path';
import { Command, Option } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { EnginePolicy, InvalidArgumentError, Progress, createProgress, progressMode, requireEngine } from '@lip/core';
import { onePerClass } from '@lip/train';
import { defaultWorkers } from '@lip/train/node';
import {
  loadVerifyData,
  metadataJson,
  modelInputRange,
  openSession,
  readOnnxModel,
  resolveModelInput,
  resolveTransform,
  toModelInput,
  writeAttackReport,
} from '@lip/verify';
import { ATTACK_NAMES, AttackName, AttackProgress, AttackRunOptions, AttackRunResult, DEFAULT_PGD_EPS, runAttack } from '@lip/verify/attacks';
import { dimsFlag, nonNegativeInt, positiveInt, positiveNumber } from '../flags';
import { humanOutput, outputFlag, writeOutput } from '../output';
import { setExitCode } from '../exit_code';
import { DATA_HELP, INPUT_SHAPE_HELP, engineOption } from './verify';

/** The reference notebook's CW settings (foolbox's own defaults are 9 x 10000). */
export const DEFAULT_CW_BINARY_SEARCH_STEPS = 6;
export const DEFAULT_CW_STEPS = 8000;
/** Images attacked when neither --n nor --one-per-class is given. */
export const DEFAULT_ATTACK_N = 10;
/** Exit code when an adversarial is closer than its certificate. */
export const EXIT_CERTIFICATE_VIOLATED = 3;

interface AttackFlags {
  attack: string;
  n?: string;
  onePerClass?: boolean;
  steps?: string;
  binarySearchSteps?: string;
  eps?: string;
  maxQueries?: string;
  batchSize?: string;
  workers?: string;
  seed?: string;
  lipschitz?: string;
  data: string;
  labels?: string;
  layout?: 'nchw' | 'nhwc';
  inputShape?: string;
  json?: string;
  report?: string;
  backend: string;
  engine?: EnginePolicy;
}

/** Model class names (metadata `class_names`) when valid, else the data set's. */
export function classNamesOf(metadata: unknown, fallback: readonly string[]): string[] {
  return Array.isArray(metadata) && metadata.every((s) => typeof s === 'string') ? (metadata as string[]) : [...fallback];
}

/**
 * Feeds an attack's progress to `progress` (@lip/core's display): the phase,
 * and the batch when there are several, as label. cw's throttled ticks within
 * a unit (`detail`) only move the terminal bar; a log gets a line per
 * completed phase and per binary-search step, so it stays short.
 */
export function attackProgressListener(progress: Progress): (p: AttackProgress & { batch?: number; batches?: number }) => void {
  return (p) =>
    progress.update(p.done, p.total, {
      label: `${p.phase}${p.batches !== undefined && p.batches > 1 ? ` (batch ${p.batch}/${p.batches})` : ''}`,
      detail: p.detail,
      milestone: /binary search/.test(p.phase),
    });
}

/** The line that reports the worker count (printed once the attack starts, since it changes the speed, never the results). */
export function workersLine(workers: number, given: number | undefined): string {
  return `workers: ${workers}${given === undefined ? ' (one per core; --workers to change)' : ''}\n`;
}

/** The reference notebook's table; images the model already got wrong are marked. */
export function formatAttackTable(r: AttackRunResult): string {
  const lines = ['Image #     Certificate     Distance to adversarial'];
  for (const x of r.results) {
    // Where nothing was found, how far the attack got: a weak attack stops short, a robust image resists at a distance.
    const dist =
      x.distance !== null
        ? x.distance.toFixed(4)
        : x.closest
          ? `none found (closest ${x.closest.distance.toFixed(4)}, margin left ${x.closest.margin.toFixed(4)})`
          : 'none found';
    const notes = [x.outcome === 'misclassified' ? 'already misclassified' : '', x.violated ? 'VIOLATED' : ''].filter((t) => t !== '');
    lines.push(`${String(x.index).padEnd(12)}${x.certificate.toFixed(4).padEnd(16)}${dist}${notes.map((t) => `   ${t}`).join('')}`);
  }
  return lines.join('\n');
}

/** The three outcomes, e.g. `1 already misclassified, 7 adversarials found, 2 with no adversarial found`. */
export function formatAttackOutcomes(r: Pick<AttackRunResult, 'misclassified' | 'found' | 'notFound'>): string {
  return `${r.misclassified} already misclassified, ${r.found} adversarial${r.found === 1 ? '' : 's'} found, ` + `${r.notFound} with no adversarial found`;
}

/** Where L comes from, as lip verify prints it (empty for the metadata claim). */
function lipschitzNote(r: AttackRunResult): string {
  if (r.lipschitzSource === 'bound') return ', the certified bound';
  if (r.lipschitzSource === 'user') return r.lipschitzProven ? ', --lipschitz' : ', --lipschitz: YOUR CLAIM, NOT A PROOF';
  return '';
}

/** The JSON written by --json (the adversarial images are left out). */
export function attackJson(r: AttackRunResult): Record<string, unknown> {
  const { adversarials: _omit, ...rest } = r;
  return { ...rest, violationTolerance: 1e-5 };
}

export function registerAttack(program: Command): void {
  program
    .command('attack')
    .description('L2 attacks on an exported ONNX model; every adversarial is re-checked in onnxruntime against its certificate')
    .argument('<model>', 'the .onnx file')
    .addOption(new Option('--attack <name>', 'attack').choices([...ATTACK_NAMES]).default('cw'))
    .option('--n <N>', `attack the first N test images (default ${DEFAULT_ATTACK_N})`)
    .option('--one-per-class', 'attack the first test image of each class')
    .option('--steps <S>', `optimization steps (cw: per binary-search step, default ${DEFAULT_CW_STEPS})`)
    .option('--binary-search-steps <B>', `cw: binary-search steps over c (default ${DEFAULT_CW_BINARY_SEARCH_STEPS})`)
    .option('--eps <E>', `pgd: L2 radius of the ball searched (default 36/255 = ${DEFAULT_PGD_EPS.toFixed(4)}, the first radius lip verify certifies)`)
    .option('--max-queries <Q>', 'hsja: model queries per image (default 20000)')
    .option('--batch-size <B>', 'images per attack batch (default 100)')
    .option(
      '--workers <n>',
      'threads for cw, pgd, deepfool and fmn, each with its own tfjs backend; the results do not depend on it ' + '(default: the number of cores)',
    )
    .option('--seed <S>', 'seed of random starts (pgd, hsja)')
    .option(
      '--lipschitz <L>',
      'Lipschitz constant for the certificates, as lip verify takes it (default: the metadata ' +
        'lipschitz_constant; never below the certified bound; where the graph has no bound, your claim)',
    )
    .option('--data <name|path>', DATA_HELP, 'fashion-mnist')
    .option('--labels <file>', 'labels of an .npy or IDX images file (.npy or IDX)')
    .addOption(new Option('--layout <order>', 'axis order of 4-D image arrays in the data (default: told from the shape)').choices(['nchw', 'nhwc']))
    .option('--input-shape <dims>', INPUT_SHAPE_HELP)
    .option('--json <FILE>', "write the results as JSON ('-': to stdout, the table then goes to stderr)")
    .option('--report <DIR>', 'write figures and index.html into DIR')
    .addOption(new Option('--backend <name>', 'tfjs backend for gradient attacks').choices(['wasm', 'cpu']).default('wasm'))
    .addOption(engineOption())
    .action(async (file: string, flags: AttackFlags, cmd: Command) => {
      const attack = flags.attack as AttackName;
      const json = outputFlag('--json', flags.json);
      const n = positiveInt('--n', flags.n);
      if (n !== undefined && flags.onePerClass) throw new InvalidArgumentError("'--n' and '--one-per-class' cannot be used together");
      const opts: AttackRunOptions = {
        attack,
        steps: positiveInt('--steps', flags.steps) ?? (attack === 'cw' ? DEFAULT_CW_STEPS : undefined),
        binarySearchSteps: positiveInt('--binary-search-steps', flags.binarySearchSteps) ?? (attack === 'cw' ? DEFAULT_CW_BINARY_SEARCH_STEPS : undefined),
        eps: positiveNumber('--eps', flags.eps),
        maxQueries: positiveInt('--max-queries', flags.maxQueries),
        batchSize: positiveInt('--batch-size', flags.batchSize),
        seed: nonNegativeInt('--seed', flags.seed),
        lipschitz: positiveNumber('--lipschitz', flags.lipschitz),
      };
      const workersFlag = positiveInt('--workers', flags.workers);
      const inputShape = dimsFlag('--input-shape', flags.inputShape);
      // A named engine that is not installed fails here, before the data are read.
      requireEngine(flags.engine);

      const model = readOnnxModel(file, inputShape ? { inputShape } : {});
      const data = await loadVerifyData(flags.data, {
        split: 'test',
        limit: flags.onePerClass ? undefined : (n ?? DEFAULT_ATTACK_N),
        labels: flags.labels,
        layout: flags.layout,
      });
      // The images in the model's input layout; a flat input is fed [C, H, W] and flattened by the session.
      const input = resolveModelInput(model, data, inputShape);
      const chw: [number, number, number] =
        input.shape.length === 3 ? [input.shape[0], input.shape[1], input.shape[2]] : [data.channels, data.height, data.width];
      opts.inputShape = input.shape;
      const fed = toModelInput(data.images, data.n, data, input, resolveTransform({}, data.channels)).images;
      const d = chw[0] * chw[1] * chw[2];
      const indices = flags.onePerClass ? onePerClass(data.labels) : Array.from({ length: data.n }, (_, i) => i);
      const images = new Float32Array(indices.length * d);
      indices.forEach((idx, i) => images.set(fed.subarray(idx * d, (idx + 1) * d), i * d));
      const labels = indices.map((idx) => data.labels[idx]);

      if (attack !== 'hsja') {
        if (!(await tf.setBackend(flags.backend))) throw new InvalidArgumentError(`'--backend' ${flags.backend} could not be initialized`);
        opts.workers = workersFlag ?? defaultWorkers();
      }
      const session = await openSession(model, { engine: flags.engine });
      const progress = createProgress({ mode: progressMode(process.stderr, { json: json !== undefined }) });
      const showProgress = attackProgressListener(progress);
      // Printed at the first progress report: the model has been checked by then,
      // so a bad model gives its one error line and nothing else.
      let announced = opts.workers === undefined;
      let result: AttackRunResult;
      try {
        result = await runAttack(model, session, images, labels, indices, chw, {
          ...opts,
          onWarning: (m) => progress.log(`warning: ${m}`),
          onProgress: (p) => {
            if (!announced) {
              announced = true;
              progress.log(workersLine(opts.workers!, workersFlag).trimEnd());
            }
            showProgress(p);
          },
        });
      } finally {
        progress.stop();
        await session.close();
      }

      const out = humanOutput(json);
      out.write(`${formatAttackTable(result)}\n`);
      out.write(
        `${attack}: ${result.results.length} images: ${formatAttackOutcomes(result)}; ` +
          `${result.violations} certificate violation${result.violations === 1 ? '' : 's'} ` +
          `(L = ${result.lipschitz}${lipschitzNote(result)}, ${result.certificateKind}), ${result.seconds.toFixed(1)} s` +
          `${result.gradientSteps ? ` (${result.gradientSteps} gradient steps)` : ''}\n`,
      );
      if (json) writeOutput(json, `${JSON.stringify(attackJson(result), null, 2)}\n`);
      if (flags.report) {
        const classNames = classNamesOf(metadataJson(model, 'class_names'), data.classNames);
        // The report draws [C, H, W] images: NHWC ones are transposed back.
        const toChw = (x: Float32Array): Float32Array =>
          input.layout === 'nhwc'
            ? toModelInput(x, indices.length, data, { layout: 'nchw', shape: [data.channels, data.height, data.width] }, resolveTransform({}, data.channels))
                .images
            : x;
        const files = writeAttackReport(flags.report, {
          attack,
          model: model.source,
          metadata: model.metadata,
          classNames,
          chw: [data.channels, data.height, data.width],
          range: modelInputRange(model) ?? [0, 1],
          images: toChw(images),
          adversarials: toChw(result.adversarials),
          results: result.results,
          lipschitz: result.lipschitz,
          certificateKind: result.certificateKind,
        });
        process.stderr.write(`report: ${path.resolve(files.find((f) => f.endsWith('index.html')) ?? flags.report)}\n`);
      }
      if (result.violations > 0) {
        const why =
          result.lipschitzProven === false
            ? `your --lipschitz ${result.lipschitz} is below the model's real Lipschitz constant`
            : 'the certified bound should make this impossible: please report it with the model file';
        process.stderr.write(
          `certificate violated: ${result.violations} adversarial${result.violations === 1 ? ' is' : 's are'} closer than ` + `the certificate; ${why}.\n`,
        );
        setExitCode(cmd, EXIT_CERTIFICATE_VIOLATED);
      }
    });
}
