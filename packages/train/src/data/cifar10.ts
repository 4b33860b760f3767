/**
 * CIFAR-10 (Krizhevsky 2009), binary version: finding it on disk or
 * downloading it, then reading one split with @lip/core's `readCifar10`.
 *
 * Search order, as for the IDX datasets (locate.ts): `dataDir` (--data),
 * `$LIP_DATA_DIR/cifar10` then `$LIP_DATA_DIR`, the cache `<cache>/cifar10`,
 * `/usr/share/datasets/cifar10`; in each, the batches directly or in
 * `cifar-10-batches-bin/`. Then the official archive
 * (`cifar-10-binary.tar.gz`, md5-checked) is downloaded into the cache, its
 * batches extracted to `<cache>/cifar10/cifar-10-batches-bin/`, and the
 * archive removed.
 */
import * as fs from 'fs';
import * as path from 'path';
// The archive's folder and files, as @lip/core's reader expects them.
import { CIFAR10_BIN_FOLDER, CIFAR10_META_FILE, CIFAR10_TEST_FILE, findCifar10, folderProblem, readCifar10 } from '@lip/core';
import { DataError, assertArg } from '../errors';
import { DatasetSplit, DATASET_SPLITS } from './datasets';
import { downloadFile } from './download';
import { DEFAULT_SYSTEM_DATA_DIR, LocateOptions, datasetCacheDir } from './locate';
import type { Dataset, DatasetLimitOptions } from './load';
import { extractTarGz } from './tar';

export const CIFAR10_NAME = 'cifar10';
/** CIFAR-10 labels 0..9, as `batches.meta.txt` lists them. */
export const CIFAR10_CLASS_NAMES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** The official mirror and the md5 of its binary archive. */
export const CIFAR10_MIRROR = 'https://www.cs.toronto.edu/~kriz/';
export const CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
/** The archive is 170 MB. */
const CIFAR10_MAX_ARCHIVE_BYTES = 256 * 2 ** 20;
const TRAIN_BATCH = /^data_batch_[1-5]\.bin$/;

/** Options of `locateCifar10` and `loadCifar10`; `checksums` maps the archive name to its md5. */
export type Cifar10Options = Omit<LocateOptions, 'split'> & DatasetLimitOptions & { split?: DatasetSplit };

/** Why `dir` does not hold the batches of `splits`, or undefined when it does. */
function cifarProblem(dir: string, splits: readonly DatasetSplit[]): string | undefined {
  const notFolder = folderProblem(dir);
  if (notFolder !== undefined) return notFolder;
  const found = findCifar10(dir);
  const missing = splits.filter((s) => (found?.[s].length ?? 0) === 0).map((s) => (s === 'train' ? 'data_batch_<k>.bin' : CIFAR10_TEST_FILE));
  return missing.length === 0 ? undefined : `missing ${missing.join(', ')} (directly or in ${CIFAR10_BIN_FOLDER}/)`;
}

/**
 * The folder holding CIFAR-10's batches (of `opts.split`, or both splits),
 * searched in the documented order, downloaded into the cache as a last
 * resort. One `DataError` listing every place searched when it fails.
 */
export async function locateCifar10(opts: Cifar10Options = {}): Promise<string> {
  assertArg(opts.split === undefined || DATASET_SPLITS.includes(opts.split), () => `'split' must be 'train' or 'test', got '${opts.split}'`);
  const splits = opts.split !== undefined ? [opts.split] : DATASET_SPLITS;
  const env = opts.env ?? process.env;
  if (opts.dataDir !== undefined) {
    const dir = path.resolve(opts.dataDir);
    const problem = cifarProblem(dir, splits);
    if (problem === undefined) return dir;
    throw new DataError(
      `--data ${dir} does not hold CIFAR-10: ${problem}; pass the folder the CIFAR-10 binary archive extracts to, ` +
        'or leave out --data to search the usual places',
    );
  }
  const cacheDir = datasetCacheDir(CIFAR10_NAME, opts);
  const places: Array<{ dir: string; label: string }> = [];
  if (env.LIP_DATA_DIR) {
    places.push({ dir: path.resolve(env.LIP_DATA_DIR, CIFAR10_NAME), label: '$LIP_DATA_DIR/<name>' });
    places.push({ dir: path.resolve(env.LIP_DATA_DIR), label: '$LIP_DATA_DIR' });
  }
  places.push({ dir: cacheDir, label: 'cache' });
  places.push({ dir: path.resolve(opts.systemDir ?? DEFAULT_SYSTEM_DATA_DIR, CIFAR10_NAME), label: 'system' });
  const searched: string[] = env.LIP_DATA_DIR ? [] : ['  $LIP_DATA_DIR: not set'];
  for (const place of places) {
    const problem = cifarProblem(place.dir, splits);
    if (problem === undefined) return place.dir;
    searched.push(`  ${place.dir} (${place.label}): ${problem}`);
  }
  const fix = 'set LIP_DATA_DIR to a folder holding the CIFAR-10 binary batches (cifar-10-batches-bin/), or pass --data DIR';
  if (opts.download === false) {
    throw new DataError(`CIFAR-10 not found. Searched:\n${searched.join('\n')}\nDownloading is off. To fix: ${fix}, or allow the download.`);
  }
  const mirror = opts.mirror ?? env.LIP_DATA_MIRROR ?? CIFAR10_MIRROR;
  const md5 = opts.checksums?.[CIFAR10_ARCHIVE] ?? CIFAR10_MD5;
  const archive = path.join(cacheDir, CIFAR10_ARCHIVE);
  const downloadFix = `to fix: ${fix} (not found in ${places.map((p) => p.dir).join(', ')})`;
  await downloadFile(`${mirror.replace(/\/+$/, '')}/${CIFAR10_ARCHIVE}`, archive, {
    md5,
    timeoutMs: opts.timeoutMs,
    onProgress: opts.onProgress,
    maxBytes: CIFAR10_MAX_ARCHIVE_BYTES,
    fix: downloadFix,
  });
  const binDir = path.join(cacheDir, CIFAR10_BIN_FOLDER);
  await extractTarGz(
    archive,
    (entry) => {
      const [folder, name, ...rest] = entry.replace(/^\.\//, '').split('/');
      const wanted =
        folder === CIFAR10_BIN_FOLDER &&
        rest.length === 0 &&
        name !== undefined &&
        (TRAIN_BATCH.test(name) || name === CIFAR10_TEST_FILE || name === CIFAR10_META_FILE);
      return wanted ? path.join(binDir, name) : undefined;
    },
    { fix: `delete ${archive} and run again to re-download` },
  );
  fs.rmSync(archive, { force: true });
  const problem = cifarProblem(cacheDir, splits);
  if (problem !== undefined) throw new DataError(`${cacheDir} still lacks CIFAR-10 after downloading (${problem}); ${downloadFix}`);
  return cacheDir;
}

/**
 * One split of CIFAR-10 (finding or downloading it, see `locateCifar10`):
 * 32×32×3 images NHWC in [0, 1], with the class names of `batches.meta.txt`
 * (else the standard ones).
 */
export async function loadCifar10(split: DatasetSplit, opts: Cifar10Options = {}): Promise<Dataset> {
  const dir = await locateCifar10({ ...opts, split });
  const cacheDir = datasetCacheDir(CIFAR10_NAME, opts);
  const fix =
    path.resolve(dir) === cacheDir
      ? 'delete it and run again to re-download, or pass --data DIR'
      : 'replace it with an intact copy of the CIFAR-10 binary version, or pass --data DIR pointing at one';
  const data = readCifar10(dir, { split, limit: opts.limit, fix });
  return {
    images: data.images,
    labels: data.labels,
    n: data.n,
    height: data.height,
    width: data.width,
    channels: data.channels,
    classNames: data.classNames ?? [...CIFAR10_CLASS_NAMES],
    source: data.source,
  };
}
