/**
 * Datasets by name, for `train({ dataset })` and `lip train --data NAME`:
 * one table of providers. A provider says how to load each split; the
 * training loop only sees the `Dataset` it returns, so adding a dataset
 * (`registerDataset`) needs no change to the loop.
 */
import { assertArg } from '../errors';
import { CIFAR10_CLASS_NAMES, CIFAR10_NAME, loadCifar10 } from './cifar10';
import { DATASETS, DatasetSplit } from './datasets';
import { Dataset, LoadDatasetOptions, loadDataset } from './load';

/** A named dataset. */
export interface DatasetProvider {
  /** One line for `--help` and error messages. */
  readonly description: string;
  /** Names of the classes, index = label. */
  readonly classNames: readonly string[];
  /** `[H, W, C]` of one image. */
  readonly inputShape: readonly [number, number, number];
  /** Loads one split: finds (or downloads) the files; `opts.dataDir` is where to look first (`--data DIR`). */
  load(split: DatasetSplit, opts: LoadDatasetOptions): Promise<Dataset>;
}

/** Dataset name -> provider. */
export const DATASET_PROVIDERS: Map<string, DatasetProvider> = new Map<string, DatasetProvider>([
  [
    'fashion-mnist',
    {
      description: 'Fashion-MNIST: 28×28 grey images of clothes, 10 classes (60,000 train, 10,000 test)',
      classNames: DATASETS['fashion-mnist'].classNames,
      inputShape: [28, 28, 1],
      load: (split, opts) => loadDataset('fashion-mnist', split, opts),
    },
  ],
  [
    'mnist',
    {
      description: 'MNIST: 28×28 grey handwritten digits, 10 classes (60,000 train, 10,000 test)',
      classNames: DATASETS.mnist.classNames,
      inputShape: [28, 28, 1],
      load: (split, opts) => loadDataset('mnist', split, opts),
    },
  ],
  [
    CIFAR10_NAME,
    {
      description: 'CIFAR-10: 32×32 colour images, 10 classes (50,000 train, 10,000 test), binary version',
      classNames: CIFAR10_CLASS_NAMES,
      inputShape: [32, 32, 3],
      load: (split, opts) => loadCifar10(split, opts),
    },
  ],
]);

/** Adds (or replaces) a named dataset. */
export function registerDataset(name: string, provider: DatasetProvider): void {
  assertArg(typeof name === 'string' && name.length > 0, () => `'name' must be a non-empty string, got ${JSON.stringify(name)}`);
  DATASET_PROVIDERS.set(name, provider);
}

/** The provider of `name`; an `InvalidArgumentError` listing the known names otherwise. */
export function datasetProvider(name: string): DatasetProvider {
  const provider = DATASET_PROVIDERS.get(name);
  assertArg(provider !== undefined, () => `'dataset' must be one of ${[...DATASET_PROVIDERS.keys()].join(', ')}, got ${JSON.stringify(name)}`);
  return provider;
}
