/**
 * Library errors quote the option they reject first (`'outDir' /tmp/run
 * already holds a checkpoint`), which is right for a library caller; at the
 * command line the user typed a flag, so the CLI prints the flag instead
 * (`'--out' /tmp/run already holds ...`). One table per command: the library
 * option each flag sets.
 */
const OPTION_FLAGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  train: {
    arch: '--arch',
    epochs: '--epochs',
    batchSize: '--batch-size',
    lr: '--lr',
    lrSchedule: '--lr-schedule',
    alpha: '--alpha',
    minMargin: '--min-margin',
    loss: '--loss',
    seed: '--seed',
    limit: '--limit',
    dataDir: '--data',
    outDir: '--out',
    resume: '--resume',
    backend: '--backend',
    workers: '--workers',
    dataset: '--data',
    dataPath: '--data',
    labelsPath: '--labels',
    valDataPath: '--val-data',
    valLabelsPath: '--val-labels',
    layout: '--layout',
    scale: '--scale',
    inputShape: '--input-shape',
    tau: '--tau',
    temperature: '--temperature',
    penalty: '--penalty',
    alphaMean: '--alpha-mean',
    offset: '--offset',
    recipe: '--recipe',
    augment: '--augment',
    augmentShift: '--augment-shift',
    augmentEpochs: '--augment-epochs',
    ema: '--ema',
    headNorm: '--head-norm',
  },
  demo: {
    arch: '--arch',
    epochs: '--epochs',
    batchSize: '--batch-size',
    lr: '--lr',
    lrSchedule: '--lr-schedule',
    seed: '--seed',
    limit: '--limit',
    dataDir: '--data',
    outDir: '--out',
    backend: '--backend',
    workers: '--workers',
    engine: '--engine',
  },
  export: { outPath: '--output', opset: '--opset' },
  verify: {
    data: '--data',
    split: '--split',
    n: '--n',
    eps: '--eps',
    threads: '--threads',
    batchSize: '--batch-size',
    lipschitz: '--lipschitz',
    labels: '--labels',
    layout: '--layout',
    scale: '--scale',
    mean: '--mean',
    std: '--std',
    inputShape: '--input-shape',
    engine: '--engine',
  },
  bound: {},
  attack: {
    attack: '--attack',
    data: '--data',
    n: '--n',
    steps: '--steps',
    binarySearchSteps: '--binary-search-steps',
    eps: '--eps',
    maxQueries: '--max-queries',
    batchSize: '--batch-size',
    workers: '--workers',
    seed: '--seed',
    lipschitz: '--lipschitz',
    backend: '--backend',
    labels: '--labels',
    layout: '--layout',
    inputShape: '--input-shape',
    engine: '--engine',
  },
};

/** `message` with each quoted option replaced by the flag of `command` that sets it (unchanged when there is none). */
export function nameFlags(command: string | undefined, message: string): string {
  const flags = command === undefined ? undefined : OPTION_FLAGS[command];
  return message.replace(/'([A-Za-z]+)'/g, (quoted, option: string) =>
    flags !== undefined && Object.prototype.hasOwnProperty.call(flags, option) ? `'${flags[option]}'` : quoted,
  );
}
