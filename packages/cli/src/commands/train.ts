import * as path from 'path';
import { Command, Option } from 'commander';
import {
  ARCHITECTURES,
  AUGMENTATIONS,
  BackendPreference,
  DEFAULT_AUGMENT_SHIFT,
  HEAD_NORMS,
  HeadNorm,
  Augmentation,
  DEFAULT_HKR_ALPHA,
  DEFAULT_MIN_MARGIN,
  InvalidArgumentError,
  LOSS_NAMES,
  LOSS_PARAMETERS,
} from '@lip/train';
import {
  consoleProgress,
  DATASET_PROVIDERS,
  dataOptionsFor,
  DEFAULT_ARCH,
  DEFAULT_TRAIN_BATCH_SIZE,
  DEFAULT_EPOCHS,
  DEFAULT_LEARNING_RATE,
  DEFAULT_LOSS,
  DEFAULT_LR_SCHEDULE,
  DEFAULT_SEED,
  LR_SCHEDULES,
  LrSchedule,
  TRAIN_RECIPES,
  train,
  TrainOptions,
} from '@lip/train/node';
import { finiteNumber, positiveInt, seedFlag, withSigintAbort } from '../flags';
import { setExitCode } from '../exit_code';

/** Exit code after Ctrl-C, as shells report a SIGINT death (128 + 2). */
const EXIT_INTERRUPTED = 130;

interface TrainFlags {
  recipe?: string;
  arch?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  lrSchedule?: LrSchedule;
  alpha?: string;
  minMargin?: string;
  loss?: string;
  seed?: string;
  limit?: string;
  data?: string;
  labels?: string;
  valData?: string;
  valLabels?: string;
  layout?: 'nhwc' | 'nchw';
  scale?: string;
  inputShape?: string;
  tau?: string;
  temperature?: string;
  penalty?: string;
  alphaMean?: string;
  offset?: string;
  out?: string;
  resume?: boolean;
  backend?: BackendPreference;
  workers?: string;
  augment?: Augmentation;
  augmentShift?: string;
  augmentEpochs?: string;
  ema?: string;
  headNorm?: HeadNorm;
}

/** `--input-shape H,W,C` as `[H, W, C]`. */
function inputShapeFlag(raw: string | undefined): [number, number, number] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(/[,x×]/).map((p) => p.trim());
  const dims = parts.map(Number);
  if (parts.length !== 3 || !parts.every((p) => /^\d+$/.test(p)) || !dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new InvalidArgumentError(`'--input-shape' must be H,W,C (three positive integers, e.g. 28,28,1), got '${raw}'`);
  }
  return dims as [number, number, number];
}

/** A flag holding an integer >= 0. */
function nonNegativeInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`'${flag}' must be an integer >= 0, got '${raw}'`);
  return n;
}

/** Flags to `train()` options. Flags not given stay undefined: defaults, or the checkpoint's settings with --resume. */
function trainOptions(flags: TrainFlags): TrainOptions {
  const data = flags.data !== undefined ? dataOptionsFor(flags.data) : {};
  const fileOnly: Array<[string, unknown]> = [
    ['--labels', flags.labels],
    ['--val-data', flags.valData],
    ['--val-labels', flags.valLabels],
    ['--layout', flags.layout],
    ['--scale', flags.scale],
    ['--input-shape', flags.inputShape],
  ];
  for (const [flag, value] of fileOnly) {
    if (value !== undefined && data.dataset !== undefined && data.dataset !== 'files') {
      throw new InvalidArgumentError(`'${flag}' is for data files; --data ${flags.data} is the ${data.dataset} dataset, which needs none`);
    }
  }
  return {
    ...data,
    labelsPath: flags.labels,
    valDataPath: flags.valData,
    valLabelsPath: flags.valLabels,
    layout: flags.layout,
    scale: finiteNumber('--scale', flags.scale, 0, false),
    inputShape: inputShapeFlag(flags.inputShape),
    tau: finiteNumber('--tau', flags.tau, 0, false),
    temperature: finiteNumber('--temperature', flags.temperature, 0, false),
    penalty: finiteNumber('--penalty', flags.penalty, 0, false),
    alphaMean: finiteNumber('--alpha-mean', flags.alphaMean, 0, true),
    offset: finiteNumber('--offset', flags.offset, 0, true),
    recipe: flags.recipe,
    arch: flags.arch,
    epochs: positiveInt('--epochs', flags.epochs),
    batchSize: positiveInt('--batch-size', flags.batchSize),
    lr: finiteNumber('--lr', flags.lr, 0, false),
    lrSchedule: flags.lrSchedule,
    alpha: finiteNumber('--alpha', flags.alpha, 0, true),
    minMargin: finiteNumber('--min-margin', flags.minMargin, 0, false),
    loss: flags.loss,
    seed: seedFlag(flags.seed),
    limit: positiveInt('--limit', flags.limit),
    outDir:
      flags.out ?? path.join('runs', flags.arch ?? (flags.recipe !== undefined ? TRAIN_RECIPES.get(flags.recipe)?.settings.arch : undefined) ?? DEFAULT_ARCH),
    backend: flags.backend,
    workers: positiveInt('--workers', flags.workers),
    augment: flags.augment,
    augmentShift: flags.augmentShift === undefined ? undefined : nonNegativeInt('--augment-shift', flags.augmentShift),
    augmentEpochs: positiveInt('--augment-epochs', flags.augmentEpochs),
    ema: finiteNumber('--ema', flags.ema, 0, false),
    headNorm: flags.headNorm,
    resume: flags.resume === true,
  };
}

/** Defaults of the losses with options of their own, for the help. */
const { lse_hkr: LSE, soft_hkr: SOFT, margin_cce: MARGIN } = LOSS_PARAMETERS;

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('Train a 1-Lipschitz network (on Fashion-MNIST by default, or your own data), with a checkpoint after every epoch')
    .addOption(
      new Option(
        '--recipe <name>',
        `named settings, which the options given override: ${[...TRAIN_RECIPES].map(([name, r]) => `${name} (${r.summary})`).join('; ')}`,
      ).choices([...TRAIN_RECIPES.keys()]),
    )
    .option('--arch <name>', `architecture: ${[...ARCHITECTURES.keys()].join(', ')} (default: ${DEFAULT_ARCH})`)
    .option('--epochs <n>', `total epochs; with --resume, the epoch to reach (default: ${DEFAULT_EPOCHS})`)
    .option('--batch-size <n>', `images per step (default: ${DEFAULT_TRAIN_BATCH_SIZE})`)
    .option('--lr <x>', `Adam learning rate (default: ${DEFAULT_LEARNING_RATE})`)
    .addOption(
      new Option(
        '--lr-schedule <name>',
        `learning rate over the run: constant, or linear/cosine decay to 2% of --lr at the last step (default: ${DEFAULT_LR_SCHEDULE})`,
      ).choices(LR_SCHEDULES),
    )
    .option(
      '--alpha <x>',
      `weight of the hinge term: hkr's (default: ${DEFAULT_HKR_ALPHA}); lse_hkr, soft_hkr: (1 - alpha) KR + alpha hinge, in [0, 1] (default: ${LSE.alpha})`,
    )
    .option('--min-margin <x>', `hinge margin (default: ${DEFAULT_MIN_MARGIN}; lse_hkr, soft_hkr: ${LSE.minMargin})`)
    .option('--tau <x>', 'temperature of --loss tau_cce (required for it)')
    .option(
      '--temperature <x>',
      `lse_hkr: scales the logits (default: ${LSE.temperature}); soft_hkr: of its softmax (default: ${SOFT.temperature}); ` +
        `margin_cce: divides the logits (default: ${MARGIN.temperature})`,
    )
    .option(
      '--penalty <x>',
      `lse_hkr: its soft maximum of the other classes exceeds their maximum by at most penalty * min margin / 2 (default: ${LSE.penalty})`,
    )
    .option('--alpha-mean <x>', `soft_hkr: weight of the old value in its moving mean of |logits| (default: ${SOFT.alphaMean})`)
    .option(
      '--offset <x>',
      `margin_cce: subtracted from the true class logit; sqrt(2) * eps aims at certified radius eps (default: ${MARGIN.offset?.toFixed(4)})`,
    )
    .option('--loss <name>', `loss: ${LOSS_NAMES.join(', ')} (default: ${DEFAULT_LOSS}; README "lip train" lists them with their references)`)
    .option('--seed <n>', `seed of the weights and the shuffles (default: ${DEFAULT_SEED})`)
    .option('--limit <n>', 'use only the first N images of each split')
    .option(
      '--data <name|path>',
      `a dataset (${[...DATASET_PROVIDERS.keys()].join(', ')}; default fashion-mnist, searched, see README), a folder of its files, ` +
        'or your own data: .npy images (with --labels), .npz, IDX or CIFAR-10 files, or an ImageFolder (<class>/<image>.png|jpg)',
    )
    .option('--labels <file>', 'labels of an .npy or IDX images file (.npy or IDX)')
    .option('--val-data <path>', 'validation data, any --data format (default: the test split of --data when it has one, else none)')
    .option('--val-labels <file>', 'labels of an .npy or IDX --val-data')
    .addOption(new Option('--layout <order>', 'axis order of 4-D image arrays (default: told from the shape)').choices(['nhwc', 'nchw']))
    .option('--scale <x>', 'multiplies every pixel value (default: 1/255 for 8-bit data, 1 otherwise)')
    .option('--input-shape <H,W,C>', 'shape of one image, to lay out .npy images stored as flat rows [N, H*W*C]')
    .option('--out <dir>', 'checkpoint folder (default: runs/<arch>)')
    .option('--resume', 'continue the checkpoint in --out up to --epochs')
    .addOption(new Option('--backend <name>', 'tfjs backend (default: the fastest that loads)').choices(['tensorflow', 'wasm', 'cpu']))
    .option('--workers <n>', 'data-parallel worker threads, each with its own backend (default: the number of cores)')
    .addOption(
      new Option(
        '--augment <kind>',
        'label-preserving augmentation of the training batches: shift (random shifts, zero fill), shift-flip (and horizontal mirrors; not for mnist) (default: none)',
      ).choices([...AUGMENTATIONS]),
    )
    .option('--augment-shift <k>', `largest shift of --augment, in pixels each way (default: ${DEFAULT_AUGMENT_SHIFT})`)
    .option('--augment-epochs <n>', 'augment only epochs 1 to n, then train on the images as they are (default: every epoch)')
    .option('--ema <decay>', 'keep an exponential moving average of the weights (e.g. 0.999): validation and the checkpoint (so lip export) use it')
    .addOption(
      new Option(
        '--head-norm <kind>',
        'last layer: spectral (1-Lipschitz) or lln (each class row at unit norm, Singla et al. 2022; certified with the head-aware certificate) (default: spectral)',
      ).choices([...HEAD_NORMS]),
    )
    .action(async (flags: TrainFlags, cmd: Command) => {
      const options = trainOptions(flags);
      // First Ctrl-C: stop after the current step, keeping the last complete epoch's checkpoint.
      // Second: the default SIGINT death (the checkpoint on disk is crash-safe).
      const result = await withSigintAbort((signal) => train(options, { ...consoleProgress(process.stderr), signal }));
      result.model.dispose();
      const { epochs } = result.trainState;
      if (result.interrupted) {
        process.stderr.write(
          epochs.length === 0
            ? `stopped before the first epoch ended: no checkpoint in ${options.outDir}\n`
            : `stopped: ${options.outDir} holds the checkpoint of epoch ${epochs.length}; continue with --resume --out ${options.outDir}\n`,
        );
        setExitCode(cmd, EXIT_INTERRUPTED);
        return;
      }
      const last = epochs[epochs.length - 1];
      const accuracy = last?.val_acc !== undefined ? `val_acc ${last.val_acc.toFixed(4)}` : `acc ${last?.acc.toFixed(4)} (no validation data)`;
      const summary = last ? `epoch ${last.epoch}, ${accuracy}` : 'no epoch';
      process.stdout.write(`checkpoint: ${options.outDir} (${summary})\n`);
    });
}
