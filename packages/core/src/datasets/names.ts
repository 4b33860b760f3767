/** The datasets `lip` knows: file names, class names, official mirrors and checksums. */
import { assertArg } from '../errors';

export type DatasetName = 'fashion-mnist' | 'mnist';
export type DatasetSplit = 'train' | 'test';

export const DATASET_NAMES: readonly DatasetName[] = ['fashion-mnist', 'mnist'];
export const DATASET_SPLITS: readonly DatasetSplit[] = ['train', 'test'];

/** Fashion-MNIST labels 0..9 (Xiao, Rasul and Vollgraf 2017). */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
export const MNIST_CLASS_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export interface DatasetSpec {
  name: DatasetName;
  classNames: readonly string[];
  /** Official mirror; files are `<mirror>/<file>.gz`. */
  mirror: string;
  /** md5 of each file as the mirror serves it (`train-images-idx3-ubyte.gz` ...). */
  md5: Readonly<Record<string, string>>;
  /** Debian package that installs it under /usr/share/datasets/<name>, if any. */
  debianPackage?: string;
}

export const DATASETS: Readonly<Record<DatasetName, DatasetSpec>> = {
  'fashion-mnist': {
    name: 'fashion-mnist',
    classNames: FASHION_MNIST_CLASS_NAMES,
    mirror: 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
    md5: {
      'train-images-idx3-ubyte.gz': '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
      'train-labels-idx1-ubyte.gz': '25c81989df183df01b3e8a0aad5dffbe',
      't10k-images-idx3-ubyte.gz': 'bef4ecab320f06d8554ea6380940ec79',
      't10k-labels-idx1-ubyte.gz': 'bb300cfdad3c16e7a12a480ee83cd310',
    },
    debianPackage: 'dataset-fashion-mnist',
  },
  mnist: {
    name: 'mnist',
    classNames: MNIST_CLASS_NAMES,
    mirror: 'https://storage.googleapis.com/cvdf-datasets/mnist/',
    md5: {
      'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
      'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
      't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
      't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c',
    },
  },
};

/** Base names (without `.gz`) of one split's files. */
export interface SplitFiles {
  images: string;
  labels: string;
}

/** `train-images-idx3-ubyte` / `t10k-images-idx3-ubyte` and their labels. */
export function splitFiles(split: DatasetSplit): SplitFiles {
  const prefix = split === 'train' ? 'train' : 't10k';
  return { images: `${prefix}-images-idx3-ubyte`, labels: `${prefix}-labels-idx1-ubyte` };
}

/** Validates a dataset name from user input. */
export function datasetSpec(name: string): DatasetSpec {
  assertArg((DATASET_NAMES as readonly string[]).includes(name), () => `'name' must be one of ${DATASET_NAMES.map((n) => `'${n}'`).join(', ')}, got '${name}'`);
  return DATASETS[name as DatasetName];
}

/** Validates a split from user input. */
export function assertDatasetSplit(split: string): asserts split is DatasetSplit {
  assertArg(
    (DATASET_SPLITS as readonly string[]).includes(split),
    () => `'split' must be one of ${DATASET_SPLITS.map((s) => `'${s}'`).join(', ')}, got '${split}'`,
  );
}
