/**
 * The data of a run, whatever its source: `train()` asks this module for a
 * training split and an optional validation split, as `Dataset`s in memory,
 * and never looks at where they came from.
 *
 * | `config.dataset` | source |
 * |---|---|
 * | a registered name (`fashion-mnist`, `mnist`, `cifar10`, `registerDataset`) | its provider: found (`dataDir` first) or downloaded; validation is its test split |
 * | `'files'` | `dataPath` read by @lip/core's `readLabeledData` (.npy pair, .npz, IDX, CIFAR-10 batches, ImageFolder); validation: `valDataPath`, else the source's test split when it has one |
 * | `'memory'` | `options.data` of `train()`: tensors, typed arrays or a tf.data dataset (data/in_memory.ts) |
 */
import * as fs from 'fs';
import * as path from 'path';
import { LabeledImages, arraysToLabeledImages, readIdxArray, readLabeledData, readNpy } from '@lip/core';
import { Dataset, TrainData, classCount, toDataset } from '../data';
import { datasetProvider, findDataset } from '../data/node';
import { DataError, InvalidArgumentError, LipError, assertArg } from '../errors';
import { FILES_DATASET, MEMORY_DATASET, TrainConfig, TrainOptions } from './config';

/** The splits of a run and the names of its classes. */
export interface TrainDataSets {
  train: Dataset;
  /** Evaluated after each epoch; null when the source has no validation split. */
  validation: Dataset | null;
  /** One name per class (index = label); their count is the model's output size. */
  classNames: string[];
}

function fromLabeled(data: LabeledImages): Dataset {
  return {
    images: data.images,
    labels: data.labels,
    n: data.n,
    height: data.height,
    width: data.width,
    channels: data.channels,
    classNames: data.classNames ?? [],
    source: data.source,
  };
}

/** The first `limit` samples of `ds` (views, no copy). */
function firstSamples(ds: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= ds.n) return ds;
  const per = ds.height * ds.width * ds.channels;
  return { ...ds, images: ds.images.subarray(0, limit * per), labels: ds.labels.subarray(0, limit), n: limit };
}

const isFile = (p: string): boolean => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * Reads images + labels with `readLabeledData`; with `inputShape`, an `.npy`
 * of flat rows `[N, H·W·C]` is laid out as `[N, H, W, C]` first.
 */
async function readFiles(dataPath: string, labelsPath: string | undefined, split: 'train' | 'test', config: TrainConfig): Promise<LabeledImages> {
  const opts = { labels: labelsPath, split, layout: config.layout, scale: config.scale, limit: config.limit };
  const shape = config.inputShape;
  if (shape !== undefined && dataPath.toLowerCase().endsWith('.npy') && labelsPath !== undefined) {
    const images = readNpy(dataPath);
    if (images.shape.length === 2) {
      const [n, d] = images.shape as [number, number];
      const per = shape[0] * shape[1] * shape[2];
      if (d !== per) {
        throw new DataError(
          `${path.resolve(dataPath)} holds rows of ${d} values, but the input shape [${shape.join(', ')}] needs ${per}; ` +
            'pass the shape of one image (--input-shape H,W,C)',
        );
      }
      const labels = labelsPath.toLowerCase().endsWith('.npy') ? readNpy(labelsPath) : readIdxArray(labelsPath);
      return arraysToLabeledImages({ ...images, shape: [n, ...shape] }, labels, {
        imagesWhere: path.resolve(dataPath),
        labelsWhere: path.resolve(labelsPath),
        source: path.resolve(dataPath),
        format: 'npy',
        fix: 'pass intact .npy files (numpy.save)',
        layout: 'nhwc',
        limit: config.limit,
        scale: config.scale,
      });
    }
  }
  const data = await readLabeledData(dataPath, opts);
  if (shape !== undefined && !(data.height === shape[0] && data.width === shape[1] && data.channels === shape[2])) {
    throw new DataError(
      `${data.source} holds images of shape [${data.height}, ${data.width}, ${data.channels}], ` +
        `not the input shape [${shape.join(', ')}]; leave --input-shape out (it is read from the data) or pass the data's`,
    );
  }
  return data;
}

/** True when two reads returned the same samples (a source without splits answers both the same). */
function sameSamples(a: LabeledImages, b: LabeledImages): boolean {
  if (a.source !== b.source || a.n !== b.n || a.images.length !== b.images.length) return false;
  for (let i = 0; i < a.labels.length; i++) if (a.labels[i] !== b.labels[i]) return false;
  for (let i = 0; i < a.images.length; i++) if (a.images[i] !== b.images[i]) return false;
  return true;
}

/**
 * The test split of a files source, when it has one: IDX `t10k-`/`test`
 * files, `x_test`/`y_test` arrays, CIFAR-10's `test_batch.bin`. An image
 * folder, or a single file pair, has none.
 */
async function testSplitOf(train: LabeledImages, config: TrainConfig): Promise<LabeledImages | null> {
  const source = config.dataPath!;
  if (train.format === 'image-folder' || (isFile(source) && !source.toLowerCase().endsWith('.npz'))) return null;
  let test: LabeledImages;
  try {
    test = await readFiles(source, config.labelsPath, 'test', config);
  } catch (err) {
    if (err instanceof LipError) return null;
    throw err;
  }
  return sameSamples(train, test) ? null : test;
}

/** The classes' names: given, else the source's, else `'0'`, `'1'`, ... */
function classNamesOf(sets: Dataset[], given: readonly string[] | undefined): string[] {
  const named = given ?? (sets[0]!.classNames.length > 0 ? sets[0]!.classNames : undefined);
  const count = classCount(sets, named);
  return named !== undefined ? [...named] : Array.from({ length: count }, (_, i) => String(i));
}

/** Loads the run's splits (see the module doc). */
export async function loadTrainData(config: TrainConfig, data?: TrainData): Promise<TrainDataSets> {
  if (config.dataset === MEMORY_DATASET) {
    assertArg(
      data !== undefined && data !== null && typeof data === 'object',
      () => `'data' is required: this run trains on data passed in memory ({ train, validation? }); pass it again to resume`,
    );
    const train = firstSamples(await toDataset(data.train, 'data.train'), config.limit);
    const validation = data.validation === undefined ? null : firstSamples(await toDataset(data.validation, 'data.validation'), config.limit);
    const sets = validation === null ? [train] : [train, validation];
    for (const v of sets.slice(1)) assertSameShape(train, v, 'data.validation');
    return { train, validation, classNames: classNamesOf(sets, data.classNames) };
  }
  assertArg(
    data === undefined,
    () =>
      `'data' is for a run on data in memory, but this run's data is ${config.dataset === FILES_DATASET ? config.dataPath : `the ${config.dataset} dataset`}; leave 'data' out`,
  );
  if (config.dataset === FILES_DATASET) {
    assertArg(
      typeof config.dataPath === 'string' && config.dataPath.length > 0,
      () => `'dataPath' must be a data file or folder, got ${JSON.stringify(config.dataPath)}`,
    );
    const train = await readFiles(config.dataPath, config.labelsPath, 'train', config);
    const test =
      config.valDataPath !== undefined ? await readFiles(config.valDataPath, config.valLabelsPath, 'test', config) : await testSplitOf(train, config);
    const trainSet = fromLabeled(train);
    const validation = test === null ? null : fromLabeled(test);
    if (validation !== null) assertSameShape(trainSet, validation, config.valDataPath ?? `the test split of ${train.source}`);
    return { train: trainSet, validation, classNames: classNamesOf(validation === null ? [trainSet] : [trainSet, validation], undefined) };
  }
  const provider = datasetProvider(config.dataset);
  const opts = { dataDir: config.dataDir, limit: config.limit };
  const train = await provider.load('train', opts);
  const validation = await provider.load(config.valSplit, opts);
  return { train, validation, classNames: [...provider.classNames] };
}

function assertSameShape(train: Dataset, other: Dataset, what: string): void {
  if (train.height !== other.height || train.width !== other.width || train.channels !== other.channels) {
    throw new DataError(
      `${what} holds images of shape [${other.height}, ${other.width}, ${other.channels}] but the training data ` +
        `[${train.height}, ${train.width}, ${train.channels}]; pass validation data of the same shape`,
    );
  }
}

/**
 * `lip train --data VALUE` as `train()` options: a registered dataset name;
 * a folder holding Fashion-MNIST-named IDX files (`train-images-idx3-ubyte`
 * ..., as before: that dataset, read from there); else any path
 * `readLabeledData` reads.
 */
export function dataOptionsFor(value: string): Pick<TrainOptions, 'dataset' | 'dataDir' | 'dataPath'> {
  assertArg(typeof value === 'string' && value.length > 0, () => `'data' must be a dataset name or a path, got ${JSON.stringify(value)}`);
  try {
    datasetProvider(value);
    return { dataset: value };
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
  }
  try {
    if (findDataset('fashion-mnist', { dataDir: value, download: false }) !== undefined) return { dataset: 'fashion-mnist', dataDir: value };
  } catch {
    // not a folder of that dataset's files: read it as data files
  }
  return { dataset: FILES_DATASET, dataPath: value };
}
