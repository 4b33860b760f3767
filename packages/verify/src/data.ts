/**
 * The labelled images `lip verify` and `lip attack` read: a built-in dataset
 * by name (Fashion-MNIST, MNIST: found on disk or downloaded, see
 * `locateDataset`), or any file or folder `@lip/core`'s `readLabeledData`
 * reads (IDX of any shape, `.npy` images with a labels file, `.npz`, CIFAR-10
 * binary, an ImageFolder of PNG/JPEG). Images come back NHWC.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  ArrayLayout,
  DATASETS,
  DATASET_NAMES,
  DataFormat,
  Dataset,
  DatasetName,
  DatasetSplit,
  InvalidArgumentError,
  corruptFileFix,
  locateDataset,
  readLabeledData,
} from '@lip/core';

export interface VerifyDataOptions {
  /** Which split, where the data holds both. Default 'test'. */
  split?: DatasetSplit;
  /** Keep the first `limit` images. */
  limit?: number;
  /** Folder searched first for a named dataset. */
  dataDir?: string;
  /** Labels file of an `.npy` or IDX images file. */
  labels?: string;
  /** Axis order of 4-D image arrays. Default: told from the shape. */
  layout?: ArrayLayout;
  /** Multiplies the values as stored. Default: 1/255 for 8-bit data, 1 otherwise. */
  scale?: number;
  /** Awaited before a named dataset is downloaded (see @lip/core's `LocateOptions`). */
  beforeDownload?: Promise<unknown>;
}

/** Labelled images, NHWC (see @lip/core's `ImageArrays`); `source` is the absolute path of what was read. */
export interface VerifyData extends Dataset {
  /** What was read: a named dataset, or the file format. */
  format: DataFormat | 'dataset';
}

const FORMATS = 'an IDX file or folder, .npy images (with --labels), .npz, CIFAR-10 binary, or an ImageFolder (<class>/<image>.png|jpg)';

/** Loads the images named by `data` (see the module doc). */
export async function loadVerifyData(data: string, opts: VerifyDataOptions = {}): Promise<VerifyData> {
  const split = opts.split ?? 'test';
  if ((DATASET_NAMES as readonly string[]).includes(data)) {
    for (const [name, value] of [
      ['labels', opts.labels],
      ['layout', opts.layout],
    ] as const) {
      if (value !== undefined) throw new InvalidArgumentError(`'${name}' is for data files; '${data}' is a built-in dataset, which needs none`);
    }
    const name = data as DatasetName;
    const dir = await locateDataset(name, { dataDir: opts.dataDir, split, beforeDownload: opts.beforeDownload });
    const read = await readLabeledData(dir, { split, limit: opts.limit, scale: opts.scale, fix: corruptFileFix(name, dir, { dataDir: opts.dataDir }) });
    return { ...read, classNames: [...DATASETS[name].classNames], format: 'dataset' };
  }
  if (!fs.existsSync(data)) {
    throw new InvalidArgumentError(`'data' must be ${DATASET_NAMES.join(', ')}, or ${FORMATS}; ${path.resolve(data)} does not exist`);
  }
  const read = await readLabeledData(data, { split, limit: opts.limit, scale: opts.scale, labels: opts.labels, layout: opts.layout });
  return { ...read, classNames: read.classNames ?? [] };
}
