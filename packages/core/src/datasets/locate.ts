/**
 * Finding a dataset's IDX files on disk, or downloading them into the cache.
 *
 * Search order: `dataDir` (--data), `$LIP_DATA_DIR/<name>` then
 * `$LIP_DATA_DIR`, the cache `<cache>/<name>`, `<systemDir>/<name>`
 * (/usr/share/datasets, where the Debian package installs), then a download
 * from the mirror into the cache.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DataError, assertArg } from '../errors';
import { DatasetName, DatasetSpec, DatasetSplit, DATASET_SPLITS, assertDatasetSplit, datasetSpec, splitFiles } from './names';
import { DownloadProgress, downloadFile } from './download';

/** Where Debian's dataset packages install (`dataset-fashion-mnist`). */
export const DEFAULT_SYSTEM_DATA_DIR = '/usr/share/datasets';

export interface LocateOptions {
  /** Folder holding the IDX files (--data DIR). When given it must hold them: nothing else is searched. */
  dataDir?: string;
  /** Only this split's two files are needed. Default: all four. */
  split?: DatasetSplit;
  /** Download from the mirror into the cache when no folder holds the files. Default true. */
  download?: boolean;
  /** Cache root; the dataset lives in `<cacheDir>/<name>`. Default $LIP_CACHE_DIR, else $XDG_CACHE_HOME/lip, else ~/.cache/lip. */
  cacheDir?: string;
  /** System datasets root. Default DEFAULT_SYSTEM_DATA_DIR. */
  systemDir?: string;
  /** Mirror base URL. Default $LIP_DATA_MIRROR, else the dataset's official mirror. */
  mirror?: string;
  /** md5 of each served file (`train-images-idx3-ubyte.gz` ...). Default the official checksums. */
  checksums?: Readonly<Record<string, string>>;
  /** Abandon a download after this long without data, ms. Default 30000. */
  timeoutMs?: number;
  /** Download progress, after each chunk. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Environment to read LIP_DATA_DIR, LIP_CACHE_DIR, LIP_DATA_MIRROR, XDG_CACHE_HOME, HOME from. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Awaited before a download starts (e.g. the rest of a command's input checked first); a download waits for it. */
  beforeDownload?: Promise<unknown>;
}

/** The cache folder of a dataset: `<cache root>/<name>`. */
export function datasetCacheDir(name: string, opts: Pick<LocateOptions, 'cacheDir' | 'env'> = {}): string {
  const env = opts.env ?? process.env;
  const root =
    opts.cacheDir ?? env.LIP_CACHE_DIR ?? (env.XDG_CACHE_HOME ? path.join(env.XDG_CACHE_HOME, 'lip') : path.join(env.HOME ?? os.homedir(), '.cache', 'lip'));
  return path.resolve(root, name);
}

/**
 * Path of IDX file `base` (e.g. `train-images-idx3-ubyte`) in `dir`, raw or
 * `.gz` (raw preferred: no decompression), or undefined.
 */
export function findIdxFile(dir: string, base: string): string | undefined {
  for (const name of [base, `${base}.gz`]) {
    const file = path.join(dir, name);
    try {
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // absent: try the next name
    }
  }
  return undefined;
}

/**
 * Searches the local places, without downloading. Returns the folder that
 * holds the dataset, or undefined. Throws if `dataDir` is given and lacks it.
 */
export function findDataset(name: DatasetName, opts: LocateOptions = {}): string | undefined {
  return searchLocal(datasetSpec(name), opts).found;
}

/**
 * Returns the folder holding `name` (the files of `opts.split`, or all four),
 * searching in the documented order and downloading into the cache as a last
 * resort. Throws one `DataError` listing every place searched when it fails.
 */
export async function locateDataset(name: DatasetName, opts: LocateOptions = {}): Promise<string> {
  const spec = datasetSpec(name);
  const { found, searched, splits } = searchLocal(spec, opts);
  if (found !== undefined) return found;

  const fix = notFoundFix(spec);
  const list = searched.map((s) => `  ${s.where}: ${s.why}`).join('\n');
  if (opts.download === false) {
    throw new DataError(`${describe(spec, opts.split)} not found. Searched:\n${list}\nDownloading is off. To fix: ${fix}, or allow the download.`);
  }

  await opts.beforeDownload;
  const env = opts.env ?? process.env;
  const mirror = opts.mirror ?? env.LIP_DATA_MIRROR ?? spec.mirror;
  const checksums = opts.checksums ?? spec.md5;
  const cacheDir = datasetCacheDir(spec.name, opts);
  const downloadFix = `to fix: ${fix} (not found in ${searched.map((s) => s.where).join(', ')})`;
  for (const base of requiredFiles(splits)) {
    if (findIdxFile(cacheDir, base) !== undefined) continue;
    const file = `${base}.gz`;
    const md5 = checksums[file];
    assertArg(md5 !== undefined, () => `'checksums' has no md5 for ${file}`);
    await downloadFile(`${mirror.replace(/\/+$/, '')}/${file}`, path.join(cacheDir, file), {
      md5,
      timeoutMs: opts.timeoutMs,
      onProgress: opts.onProgress,
      fix: downloadFix,
    });
  }
  const missing = missingFiles(cacheDir, splits);
  if (missing !== undefined) throw new DataError(`${cacheDir} still lacks ${missing} after downloading; ${downloadFix}`);
  return cacheDir;
}

/** How to fix a corrupt file found in `dir`, depending on where `dir` is. */
export function corruptFileFix(name: DatasetName, dir: string, opts: LocateOptions = {}): string {
  const spec = datasetSpec(name);
  const resolved = path.resolve(dir);
  if (resolved === datasetCacheDir(spec.name, opts)) return 'delete it and run again to re-download, or pass --data DIR';
  const systemDir = path.resolve(opts.systemDir ?? DEFAULT_SYSTEM_DATA_DIR, spec.name);
  if (resolved === systemDir && spec.debianPackage !== undefined) {
    return `reinstall the Debian package ${spec.debianPackage} (apt-get install --reinstall ${spec.debianPackage}), or pass --data DIR`;
  }
  return 'replace it with an intact copy, or pass --data DIR pointing at one';
}

interface LocalSearch {
  found: string | undefined;
  /** Every place looked at, and why it did not do. */
  searched: Array<{ where: string; why: string }>;
  splits: readonly DatasetSplit[];
}

function searchLocal(spec: DatasetSpec, opts: LocateOptions): LocalSearch {
  if (opts.split !== undefined) assertDatasetSplit(opts.split);
  assertArg(opts.download === undefined || typeof opts.download === 'boolean', () => `'download' must be a boolean, got ${String(opts.download)}`);
  const splits = opts.split !== undefined ? [opts.split] : DATASET_SPLITS;
  const env = opts.env ?? process.env;

  if (opts.dataDir !== undefined) {
    const dir = path.resolve(opts.dataDir);
    const problem = dirProblem(dir, splits);
    if (problem === undefined) return { found: dir, searched: [], splits };
    throw new DataError(
      `--data ${dir} does not hold ${describe(spec, opts.split)}: ${problem}. ` +
        `Pass a folder holding ${requiredFiles(splits).join(', ')} (each raw or .gz), or leave out --data to search the usual places.`,
    );
  }

  const places: Array<{ dir: string; label: string }> = [];
  if (env.LIP_DATA_DIR) {
    places.push({ dir: path.resolve(env.LIP_DATA_DIR, spec.name), label: '$LIP_DATA_DIR/<name>' });
    places.push({ dir: path.resolve(env.LIP_DATA_DIR), label: '$LIP_DATA_DIR' });
  }
  places.push({ dir: datasetCacheDir(spec.name, opts), label: 'cache' });
  places.push({ dir: path.resolve(opts.systemDir ?? DEFAULT_SYSTEM_DATA_DIR, spec.name), label: 'system' });

  const searched: LocalSearch['searched'] = env.LIP_DATA_DIR ? [] : [{ where: '$LIP_DATA_DIR', why: 'not set' }];
  for (const place of places) {
    const problem = dirProblem(place.dir, splits);
    if (problem === undefined) return { found: place.dir, searched, splits };
    searched.push({ where: `${place.dir} (${place.label})`, why: problem });
  }
  return { found: undefined, searched, splits };
}

function requiredFiles(splits: readonly DatasetSplit[]): string[] {
  return splits.flatMap((s) => {
    const f = splitFiles(s);
    return [f.images, f.labels];
  });
}

/** Why `dir` cannot be a data folder ('no such folder', 'not a folder'), or undefined when it is a folder. */
export function folderProblem(dir: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    return 'no such folder';
  }
  return stat.isDirectory() ? undefined : 'not a folder';
}

/** Why `dir` does not hold the files of `splits`, or undefined when it does. */
function dirProblem(dir: string, splits: readonly DatasetSplit[]): string | undefined {
  const notFolder = folderProblem(dir);
  if (notFolder !== undefined) return notFolder;
  const missing = missingFiles(dir, splits);
  return missing === undefined ? undefined : `missing ${missing}`;
}

function missingFiles(dir: string, splits: readonly DatasetSplit[]): string | undefined {
  const missing = requiredFiles(splits).filter((base) => findIdxFile(dir, base) === undefined);
  return missing.length === 0 ? undefined : missing.map((m) => `${m}[.gz]`).join(', ');
}

function describe(spec: DatasetSpec, split: DatasetSplit | undefined): string {
  return split === undefined ? spec.name : `${spec.name} (${split} split)`;
}

function notFoundFix(spec: DatasetSpec): string {
  const pkg = spec.debianPackage !== undefined ? `install the Debian package ${spec.debianPackage}, ` : '';
  return `${pkg}set LIP_DATA_DIR to a folder holding the IDX files, or pass --data DIR`;
}
