/** Loading MNIST-style datasets into one contiguous Float32Array. */
import * as path from 'path';
import { DEFAULT_IDX_FIX, readIdx } from '../data/idx';
import type { ImageArrays } from '../data/labeled';
import { DataError, assertArg } from '../errors';
import { DatasetName, DatasetSplit, assertDatasetSplit, datasetSpec, splitFiles } from './names';
import { LocateOptions, corruptFileFix, findIdxFile, locateDataset } from './locate';

export const IMAGE_HEIGHT = 28;
export const IMAGE_WIDTH = 28;
export const NUM_CLASSES = 10;

/**
 * A dataset split in memory, what the training loop reads (see `ImageArrays`).
 * Fashion-MNIST and MNIST are 28×28×1 in [0, 1] (byte / 255), CIFAR-10 32×32×3.
 */
export interface Dataset extends ImageArrays {
  /** Names of the classes, index = label (empty when the source names none). */
  classNames: string[];
}

export interface DatasetLimitOptions {
  /** Keep only the first `limit` samples (all when the split has fewer). A positive integer. */
  limit?: number;
}

export interface LoadDatasetOptions extends Omit<LocateOptions, 'split'>, DatasetLimitOptions {}

export interface LoadFromDirOptions extends DatasetLimitOptions {
  /** How to fix a bad file, appended to its error. */
  fix?: string;
}

/** Finds (see `locateDataset`, downloading if allowed) and loads one split of `name`. */
export async function loadDataset(name: DatasetName, split: DatasetSplit, opts: LoadDatasetOptions = {}): Promise<Dataset> {
  datasetSpec(name);
  assertDatasetSplit(split);
  assertLimit(opts.limit);
  const dir = await locateDataset(name, { ...opts, split });
  return loadDatasetFromDir(dir, name, split, { limit: opts.limit, fix: corruptFileFix(name, dir, opts) });
}

/** Loads one split of `name` from the IDX files (raw or .gz) in `dir`. Synchronous; never downloads. */
export function loadDatasetFromDir(dir: string, name: DatasetName, split: DatasetSplit, opts: LoadFromDirOptions = {}): Dataset {
  const spec = datasetSpec(name);
  assertDatasetSplit(split);
  assertLimit(opts.limit);
  const fix = opts.fix ?? DEFAULT_IDX_FIX;
  const source = path.resolve(dir);
  const bases = splitFiles(split);
  const imagesFile = findIdxFile(source, bases.images);
  const labelsFile = findIdxFile(source, bases.labels);
  for (const [base, file] of [
    [bases.images, imagesFile],
    [bases.labels, labelsFile],
  ] as const) {
    if (file === undefined) {
      throw new DataError(`${source} holds neither ${base} nor ${base}.gz; pass --data DIR pointing at a folder with the ${spec.name} IDX files`);
    }
  }

  const images = readIdx(imagesFile!, { fix });
  const labels = readIdx(labelsFile!, { fix });
  const [count, height, width] = images.shape;
  if (images.shape.length !== 3 || height !== IMAGE_HEIGHT || width !== IMAGE_WIDTH) {
    throw new DataError(`${imagesFile} holds an array of shape ${images.shape.join('×')}, expected N×${IMAGE_HEIGHT}×${IMAGE_WIDTH} images; ${fix}`);
  }
  if (labels.shape.length !== 1) {
    throw new DataError(`${labelsFile} holds an array of shape ${labels.shape.join('×')}, expected a vector of N labels; ${fix}`);
  }
  if (labels.shape[0] !== count) {
    throw new DataError(
      `${imagesFile} holds ${count} images but ${labelsFile} holds ${labels.shape[0]} labels: ` + `the two files do not belong together; ${fix}`,
    );
  }
  for (let i = 0; i < labels.data.length; i++) {
    if (labels.data[i]! >= NUM_CLASSES) {
      throw new DataError(`${labelsFile} has label ${labels.data[i]} at index ${i}, outside [0, ${NUM_CLASSES}); ${fix}`);
    }
  }

  const n = Math.min(count!, opts.limit ?? count!);
  const pixels = n * IMAGE_HEIGHT * IMAGE_WIDTH;
  const out = new Float32Array(pixels);
  const scale = new Float32Array(256);
  for (let v = 0; v < 256; v++) scale[v] = v / 255;
  const src = images.data;
  for (let i = 0; i < pixels; i++) out[i] = scale[src[i]!]!;

  return {
    images: out,
    labels: labels.data.slice(0, n),
    n,
    height: IMAGE_HEIGHT,
    width: IMAGE_WIDTH,
    channels: 1,
    classNames: [...spec.classNames],
    source,
  };
}

function assertLimit(limit: number | undefined): void {
  assertArg(limit === undefined || (Number.isInteger(limit) && limit > 0), () => `'limit' must be a positive integer, got ${limit}`);
}
