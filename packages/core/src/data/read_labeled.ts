/**
 * `readLabeledData(path, opts)`: labelled images from whatever `path` is.
 *
 * | path | read as |
 * |---|---|
 * | `*.npz` | the images/labels pair of arrays in it (names below) |
 * | `*.npy` | images; the labels are the file given as `opts.labels` (`--labels`), `.npy` or IDX |
 * | an IDX file (`*-images-idx3-ubyte[.gz]`) | images; labels from `opts.labels`, else the `-labels-idx1-` file beside it |
 * | `*.bin` | one CIFAR-10 binary batch |
 * | a folder of `.npy` files | the images/labels pair among them (names below) |
 * | a folder of IDX files | the `<prefix>images-idx<k>-<type>` / `<prefix>labels-idx1-<type>` pair, raw or `.gz` (`train-`/`t10k-` prefixes are the two splits) |
 * | a folder of CIFAR-10 batches | `data_batch_<k>.bin` (train) or `test_batch.bin` (test), directly or in `cifar-10-batches-bin/` |
 * | any other folder | an ImageFolder: `root/<class>/<image>.png|jpg|jpeg` |
 *
 * Pair names, for `.npz` keys and `.npy` file names alike: `x` and `y`, or
 * `images` and `labels`; or per split `x_train`/`y_train` and
 * `x_test`/`y_test` (Keras' `mnist.npz`), chosen by `opts.split`. A folder
 * matching more than one of the rows above, or holding more than one pair
 * that could be meant, is an error that says what to pass instead.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError, InvalidArgumentError, assertArg } from '../errors';
import { findCifar10, readCifar10 } from './cifar';
import { readIdxArrayAsync } from './idx';
import { ReadImageFolderOptions, readImageFolder } from './image_folder';
import { ArrayLayout, DataFormat, DataSplit, LabeledImages, arraysToLabeledImages, assertLabeledOptions } from './labeled';
import { NdArray } from './ndarray';
import { DEFAULT_ARRAY_FIX, readNpy } from './npy';
import { readNpz } from './npz';

export interface ReadLabeledDataOptions extends ReadImageFolderOptions {
  /** The labels file of an images `.npy` or IDX file (`--labels`). */
  labels?: string;
  /** Which split, where the data holds both (`train` or `test`). */
  split?: DataSplit;
  /** Axis order of 4-D image arrays. Default: told from the shape (the dimension of 1 or 3 channels). */
  layout?: ArrayLayout;
}

/** Plain pair names (images, labels); the per-split ones are `x_<split>`, `y_<split>`. */
export const ARRAY_PAIR_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['x', 'y'],
  ['images', 'labels'],
];
const SPLITS: readonly DataSplit[] = ['train', 'test'];
const IDX_NAME = /^(.*?)(images|labels)([-.])idx(\d+)-(ubyte|byte|short|int|float|double)(\.gz)?$/i;
const PAIR_HELP = 'arrays named x and y, images and labels, or x_train/y_train and x_test/y_test';

/** Reads labelled images from `input` (see the module doc). Any problem throws one `DataError` (or `InvalidArgumentError`). */
export async function readLabeledData(input: string, opts: ReadLabeledDataOptions = {}): Promise<LabeledImages> {
  assertLabeledOptions(opts);
  assertArg(opts.split === undefined || SPLITS.includes(opts.split), () => `'split' must be 'train' or 'test', got '${opts.split}'`);
  assertArg(opts.layout === undefined || opts.layout === 'nhwc' || opts.layout === 'nchw', () => `'layout' must be 'nhwc' or 'nchw', got '${opts.layout}'`);
  const where = path.resolve(input);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(where);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DataError(`${where} ${e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.message})`}; pass a data file or folder`);
  }
  if (stat.isDirectory()) {
    if (opts.labels !== undefined) {
      throw new InvalidArgumentError(`'labels' is for an images file (.npy or IDX), but ${where} is a folder; leave it out`);
    }
    return readFolder(where, opts);
  }
  if (!stat.isFile()) throw new DataError(`${where} is not a regular file or folder; pass a data file or folder`);
  return readFile(where, opts);
}

async function readFile(where: string, opts: ReadLabeledDataOptions): Promise<LabeledImages> {
  const name = path.basename(where);
  const lower = name.toLowerCase();
  const noLabels = (kind: string): void => {
    if (opts.labels !== undefined)
      throw new InvalidArgumentError(`'labels' is for an images .npy or IDX file; ${where} is ${kind}, which holds its labels; leave it out`);
  };
  if (lower.endsWith('.npz')) {
    noLabels('an .npz');
    const fix = opts.fix ?? 'pass an intact .npz (numpy.savez)';
    let chosen: [string, string] = ['', ''];
    const contents = await readNpz(where, {
      maxElements: opts.maxElements,
      fix,
      keys: (available) => {
        chosen = choosePair(available, opts.split, `${where} (an .npz)`, 'arrays');
        return chosen;
      },
    });
    return pairToLabeled(
      contents.arrays.get(chosen[0])!,
      contents.arrays.get(chosen[1])!,
      {
        imagesWhere: `${where} (array '${chosen[0]}')`,
        labelsWhere: `${where} (array '${chosen[1]}')`,
        source: where,
        format: 'npz',
        fix,
      },
      opts,
    );
  }
  if (lower.endsWith('.bin')) {
    noLabels('a CIFAR-10 batch');
    return readCifar10(where, opts);
  }
  if (lower.endsWith('.npy') || IDX_NAME.test(name)) {
    const format: DataFormat = lower.endsWith('.npy') ? 'npy' : 'idx';
    const labelsFile = opts.labels !== undefined ? path.resolve(opts.labels) : format === 'idx' ? idxPartner(where) : undefined;
    if (labelsFile === undefined) {
      throw new InvalidArgumentError(
        format === 'npy'
          ? `${where} holds only the images; pass the labels file too ('labels', --labels labels.npy), or a folder holding x.npy and y.npy, or an .npz`
          : `${where} has no labels file beside it (${name.replace(/images/i, 'labels')}); pass it as 'labels' (--labels)`,
      );
    }
    const fix = opts.fix ?? defaultFix(format);
    return pairToLabeled(
      ...(await readArrayPair(where, labelsFile, opts, fix)),
      {
        imagesWhere: where,
        labelsWhere: labelsFile,
        source: where,
        format,
        fix,
      },
      opts,
    );
  }
  throw new DataError(
    `${where} is not a data file lip reads; pass an .npz, an .npy or IDX images file (with its labels), ` +
      'a CIFAR-10 .bin batch, or a folder (IDX files, .npy files, CIFAR-10 batches, or one sub-folder of images per class)',
  );
}

/** The formats a folder could be read as. */
interface FolderMatch {
  format: DataFormat;
  read: () => Promise<LabeledImages>;
}

async function readFolder(dir: string, opts: ReadLabeledDataOptions): Promise<LabeledImages> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new DataError(`${dir} cannot be listed (${(err as Error).message}); check its permissions`);
  }
  const matches: FolderMatch[] = [];

  const npyKeys = names.filter((f) => f.endsWith('.npy')).map((f) => f.slice(0, -4));
  if (hasPair(npyKeys)) {
    matches.push({
      format: 'npy',
      read: async () => {
        const [xi, yi] = choosePair(npyKeys, opts.split, `${dir} (a folder of .npy files)`, 'files').map((k) => path.join(dir, `${k}.npy`));
        const fix = opts.fix ?? defaultFix('npy');
        return pairToLabeled(
          ...(await readArrayPair(xi!, yi!, opts, fix)),
          {
            imagesWhere: xi!,
            labelsWhere: yi!,
            source: dir,
            format: 'npy',
            fix,
          },
          opts,
        );
      },
    });
  }
  const idxPairs = findIdxPairs(dir, names);
  if (idxPairs.length > 0) {
    matches.push({
      format: 'idx',
      read: async () => {
        const pair = chooseIdxPair(idxPairs, opts.split, dir);
        const fix = opts.fix ?? defaultFix('idx');
        return pairToLabeled(
          ...(await readArrayPair(pair.images, pair.labels, opts, fix)),
          {
            imagesWhere: pair.images,
            labelsWhere: pair.labels,
            source: dir,
            format: 'idx',
            fix,
          },
          opts,
        );
      },
    });
  }
  if (findCifar10(dir) !== undefined) matches.push({ format: 'cifar10', read: async () => readCifar10(dir, opts) });

  if (matches.length > 1) {
    throw new DataError(`${dir} holds data in several formats (${matches.map((m) => m.format).join(', ')}); pass the file, or a folder, of one`);
  }
  if (matches.length === 1) return matches[0]!.read();
  return readImageFolder(dir, opts);
}

function pairToLabeled(
  images: NdArray,
  labels: NdArray,
  ctx: {
    imagesWhere: string;
    labelsWhere: string;
    source: string;
    format: DataFormat;
    fix: string;
  },
  opts: ReadLabeledDataOptions,
): LabeledImages {
  return arraysToLabeledImages(images, labels, {
    ...ctx,
    layout: opts.layout,
    limit: opts.limit,
    scale: opts.scale,
    maxElements: opts.maxElements,
  });
}

/** How to mend a bad file of a user's own, by format: NumPy's writer for .npy, a fresh copy for IDX (nobody writes those by hand). */
function defaultFix(format: DataFormat): string {
  return format === 'npy' ? DEFAULT_ARRAY_FIX : 'replace it with an intact copy of the file';
}

/** Reads an `.npy` or IDX file as an array (IDX: read and gunzipped on the thread pool). */
async function readArrayFile(file: string, opts: ReadLabeledDataOptions, fix: string): Promise<NdArray> {
  if (file.toLowerCase().endsWith('.npy')) return readNpy(file, { maxElements: opts.maxElements, fix });
  if (IDX_NAME.test(path.basename(file))) return readIdxArrayAsync(file, { maxElements: opts.maxElements, fix });
  throw new DataError(`${file} is neither an .npy file nor an IDX file (<name>-idx<k>-<type>[.gz]); pass one of those`);
}

/** The images and labels files of a pair, read at the same time; a problem with the images is reported first. */
async function readArrayPair(images: string, labels: string, opts: ReadLabeledDataOptions, fix: string): Promise<[NdArray, NdArray]> {
  const [x, y] = await Promise.allSettled([readArrayFile(images, opts, fix), readArrayFile(labels, opts, fix)]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}

function hasPair(keys: readonly string[]): boolean {
  const has = new Set(keys);
  return ARRAY_PAIR_NAMES.some(([x, y]) => has.has(x) && has.has(y)) || SPLITS.some((s) => has.has(`x_${s}`) && has.has(`y_${s}`));
}

/**
 * The [images, labels] names among `available`: the pair of `split` when
 * present, else the one plain pair. `what` describes where, `noun` what the
 * names are (arrays, files).
 */
export function choosePair(available: readonly string[], split: DataSplit | undefined, what: string, noun: string): [string, string] {
  const has = new Set(available);
  const plain = ARRAY_PAIR_NAMES.filter(([x, y]) => has.has(x) && has.has(y));
  const splits = SPLITS.filter((s) => has.has(`x_${s}`) && has.has(`y_${s}`));
  const list = available.length ? available.map((k) => `'${k}'`).join(', ') : 'none';
  if (split !== undefined && splits.includes(split)) return [`x_${split}`, `y_${split}`];
  if (plain.length > 1) {
    throw new DataError(`${what} holds more than one images/labels pair (${plain.map((p) => p.join('/')).join(' and ')}); keep one`);
  }
  if (plain.length === 1) return [plain[0]![0], plain[0]![1]];
  if (split === undefined && splits.length === 1) return [`x_${splits[0]}`, `y_${splits[0]}`];
  if (split === undefined && splits.length > 1) {
    throw new InvalidArgumentError(`'split' must be 'train' or 'test': ${what} holds x_train/y_train and x_test/y_test`);
  }
  if (split !== undefined && splits.length > 0) {
    throw new DataError(`${what} has no x_${split}/y_${split} ${noun} for the ${split} split (it holds ${list}); pass data holding that split`);
  }
  throw new DataError(`${what} holds no images/labels pair: expected ${PAIR_HELP}; it holds ${noun === 'files' ? 'the .npy files ' : ''}${list}`);
}

interface IdxPair {
  prefix: string;
  split: DataSplit | undefined;
  images: string;
  labels: string;
}

/** Complete images/labels IDX pairs in `dir`, raw preferred over `.gz`. */
function findIdxPairs(dir: string, names: readonly string[]): IdxPair[] {
  const byPrefix = new Map<string, { images?: string; labels?: string }>();
  for (const name of [...names].sort((a, b) => Number(a.endsWith('.gz')) - Number(b.endsWith('.gz')))) {
    const m = IDX_NAME.exec(name);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const entry = byPrefix.get(key) ?? {};
    const role = m[2]!.toLowerCase() as 'images' | 'labels';
    entry[role] ??= path.join(dir, name);
    byPrefix.set(key, entry);
  }
  const pairs: IdxPair[] = [];
  const halves: string[] = [];
  for (const [prefix, e] of byPrefix) {
    if (e.images === undefined || e.labels === undefined) {
      halves.push(path.basename(e.images ?? e.labels!));
      continue;
    }
    const split = /t10k|test/.test(prefix) ? 'test' : /train/.test(prefix) ? 'train' : undefined;
    pairs.push({ prefix, split, images: e.images, labels: e.labels });
  }
  if (pairs.length === 0 && halves.length > 0) {
    // An IDX images file without its labels (or the reverse): the folder is meant as IDX data, so say what is missing.
    const half = halves[0]!;
    const m = IDX_NAME.exec(half.replace(/\.gz$/i, ''))!;
    const partner = m[2]!.toLowerCase() === 'images' ? `${m[1]}labels${m[3]}idx1-${m[5]}` : `${m[1]}images${m[3]}idx<k>-${m[5]}`;
    throw new DataError(`${dir} holds ${half} but neither ${partner} nor ${partner}.gz; put the matching file beside it`);
  }
  return pairs.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

function chooseIdxPair(pairs: readonly IdxPair[], split: DataSplit | undefined, dir: string): IdxPair {
  const names = pairs.map((p) => path.basename(p.images)).join(', ');
  if (pairs.length === 1 && (split === undefined || pairs[0]!.split === undefined || pairs[0]!.split === split)) return pairs[0]!;
  if (split === undefined) {
    throw new InvalidArgumentError(`'split' must be 'train' or 'test': ${dir} holds several IDX image files (${names})`);
  }
  const forSplit = pairs.filter((p) => p.split === split);
  if (forSplit.length === 1) return forSplit[0]!;
  throw new DataError(
    forSplit.length === 0
      ? `${dir} holds no IDX files of the ${split} split (it holds ${names}); pass a folder holding them`
      : `${dir} holds several IDX image files of the ${split} split (${forSplit.map((p) => path.basename(p.images)).join(', ')}); keep one pair`,
  );
}

/** The labels IDX file beside an images one (`...-images-idx3-ubyte` → `...-labels-idx1-ubyte`, raw or .gz), if present. */
function idxPartner(imagesFile: string): string | undefined {
  const dir = path.dirname(imagesFile);
  const base = path.basename(imagesFile).replace(/\.gz$/i, '');
  const m = IDX_NAME.exec(base);
  if (!m || m[2]!.toLowerCase() !== 'images') return undefined;
  const labels = `${m[1]}labels${m[3]}idx1-${m[5]}`;
  for (const name of [labels, `${labels}.gz`, `${m[1]}labels${m[3]}idx1-ubyte`, `${m[1]}labels${m[3]}idx1-ubyte.gz`]) {
    try {
      if (fs.statSync(path.join(dir, name)).isFile()) return path.join(dir, name);
    } catch {
      // absent: try the next name
    }
  }
  return undefined;
}
