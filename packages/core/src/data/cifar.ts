/**
 * CIFAR-10's binary version (Krizhevsky 2009, cifar-10-binary.tar.gz):
 * `data_batch_1.bin` ... `data_batch_5.bin` (train) and `test_batch.bin`
 * (test), each a run of 3073-byte records: one label byte (0-9), then the
 * 32×32 image as three planes R, G, B of 1024 bytes, row-major. The class
 * names are the lines of `batches.meta.txt` beside them.
 *
 * The folder may be the one holding the batches or its parent (where the
 * archive extracts to `cifar-10-batches-bin/`). Train batches present are
 * read in the order of their number.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError, InvalidArgumentError } from '../errors';
import { DEFAULT_MAX_ELEMENTS } from './limits';
import { DataSplit, LabeledImages, LabeledReadOptions, assertLabeledOptions } from './labeled';
import { readBoundedFile } from './read_file';

export const CIFAR10_SIDE = 32;
export const CIFAR10_CHANNELS = 3;
/** One record: a label byte, then 3 × 32 × 32 pixel bytes. */
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_CHANNELS * CIFAR10_SIDE * CIFAR10_SIDE;
/** Labels of CIFAR-10 records are 0..9. */
export const CIFAR10_NUM_CLASSES = 10;
/** Folder the official archive extracts to. */
export const CIFAR10_BIN_FOLDER = 'cifar-10-batches-bin';
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_META_FILE = 'batches.meta.txt';
const TRAIN_FILE = /^data_batch_(\d+)\.bin$/;
const MAX_META_BYTES = 1 << 16;

const DEFAULT_CIFAR_FIX = 'replace it with an intact copy of the CIFAR-10 binary version (cifar-10-binary.tar.gz)';

export interface ReadCifar10Options extends LabeledReadOptions {
  /** Which batches: `train` (data_batch_*.bin) or `test` (test_batch.bin). Needed when the folder holds both. */
  split?: DataSplit;
}

/** The batch files of each split in `dir` (or its `cifar-10-batches-bin/`), or undefined when it holds none. */
export function findCifar10(dir: string): { dir: string; train: string[]; test: string[] } | undefined {
  for (const d of [dir, path.join(dir, CIFAR10_BIN_FOLDER)]) {
    let names: string[];
    try {
      names = fs.readdirSync(d);
    } catch {
      continue;
    }
    const train = names
      .filter((f) => TRAIN_FILE.test(f))
      .sort((a, b) => Number(TRAIN_FILE.exec(a)![1]) - Number(TRAIN_FILE.exec(b)![1]))
      .map((f) => path.join(d, f));
    const test = names.includes(CIFAR10_TEST_FILE) ? [path.join(d, CIFAR10_TEST_FILE)] : [];
    if (train.length > 0 || test.length > 0) return { dir: d, train, test };
  }
  return undefined;
}

/**
 * Reads CIFAR-10 binary batches: a folder (see the module doc) or one batch
 * file. Images come out NHWC [N, 32, 32, 3], by default in [0, 1].
 */
export function readCifar10(dirOrFile: string, opts: ReadCifar10Options = {}): LabeledImages {
  assertLabeledOptions(opts);
  const where = path.resolve(dirOrFile);
  const fix = opts.fix ?? DEFAULT_CIFAR_FIX;
  let files: string[];
  let folder: string;
  if (isFile(where)) {
    files = [where];
    folder = path.dirname(where);
  } else {
    const found = findCifar10(where);
    if (found === undefined) {
      throw new DataError(
        `${where} holds no CIFAR-10 binary batches (data_batch_1.bin ... data_batch_5.bin, test_batch.bin), ` +
          `neither directly nor in ${CIFAR10_BIN_FOLDER}/; pass the folder the CIFAR-10 binary archive extracts to`,
      );
    }
    folder = found.dir;
    const split = opts.split ?? (found.train.length === 0 ? 'test' : found.test.length === 0 ? 'train' : undefined);
    if (split === undefined) {
      throw new InvalidArgumentError(`'split' must be 'train' or 'test': ${folder} holds both the train and the test batches`);
    }
    files = split === 'train' ? found.train : found.test;
    if (files.length === 0) {
      throw new DataError(
        `${folder} holds no ${split === 'train' ? 'data_batch_<k>.bin' : CIFAR10_TEST_FILE} file for the ${split} split; pass a folder that does`,
      );
    }
  }

  const per = CIFAR10_SIDE * CIFAR10_SIDE * CIFAR10_CHANNELS;
  const maxElements = opts.maxElements ?? DEFAULT_MAX_ELEMENTS;
  // Record counts from the sizes first, so the output is allocated once and only as large as allowed.
  const counts = files.map((file) => {
    const fail = (what: string): DataError => new DataError(`${file} ${what}; ${fix}`);
    let size: number;
    try {
      const st = fs.statSync(file);
      if (!st.isFile()) throw fail('is not a regular file');
      size = st.size;
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw fail(`cannot be read (${(err as Error).message})`);
    }
    if (size === 0 || size % CIFAR10_RECORD_BYTES !== 0) {
      throw fail(
        `is not a CIFAR-10 binary batch: ${size} bytes is not a whole, non-zero number of ${CIFAR10_RECORD_BYTES}-byte records ` +
          "(1 label byte + 3×32×32 pixel bytes; CIFAR-100's 3074-byte records are not supported)",
      );
    }
    return size / CIFAR10_RECORD_BYTES;
  });
  const total = counts.reduce((a, c) => a + c, 0);
  const n = Math.min(total, opts.limit ?? total);
  if (n * per > maxElements) {
    throw new DataError(`${where} holds ${n} CIFAR-10 images, ${n * per} values, over the limit of ${maxElements}; pass a smaller limit`);
  }

  const scale = opts.scale ?? 1 / 255;
  const images = new Float32Array(n * per);
  const labels = new Uint8Array(n);
  const plane = CIFAR10_SIDE * CIFAR10_SIDE;
  let i = 0;
  for (let f = 0; f < files.length && i < n; f++) {
    const file = files[f]!;
    const fail = (what: string): DataError => new DataError(`${file} ${what}; ${fix}`);
    const bytes = readBoundedFile(file, counts[f]! * CIFAR10_RECORD_BYTES, fail, 'CIFAR-10 batch');
    if (bytes.length !== counts[f]! * CIFAR10_RECORD_BYTES) throw fail('changed size while being read');
    for (let r = 0; r < counts[f]! && i < n; r++, i++) {
      const rec = r * CIFAR10_RECORD_BYTES;
      const label = bytes[rec]!;
      if (label >= CIFAR10_NUM_CLASSES) throw fail(`has label ${label} in record ${r}, outside [0, ${CIFAR10_NUM_CLASSES})`);
      labels[i] = label;
      // CHW planes to HWC: pixel p of channel c is at rec + 1 + c*1024 + p.
      for (let p = 0; p < plane; p++) {
        const o = i * per + p * CIFAR10_CHANNELS;
        images[o] = bytes[rec + 1 + p]! * scale;
        images[o + 1] = bytes[rec + 1 + plane + p]! * scale;
        images[o + 2] = bytes[rec + 1 + 2 * plane + p]! * scale;
      }
    }
  }

  const metaFile = path.join(folder, CIFAR10_META_FILE);
  const classNames = readClassNames(metaFile, fix);
  const unnamed = classNames === undefined ? -1 : labels.findIndex((l) => l >= classNames.length);
  if (unnamed >= 0) {
    throw new DataError(
      `${metaFile} names ${classNames!.length} classes but ${where} has label ${labels[unnamed]} (image ${unnamed}); ` +
        `list one class name per line, for each label 0 to ${CIFAR10_NUM_CLASSES - 1}`,
    );
  }
  return {
    images,
    labels,
    n,
    height: CIFAR10_SIDE,
    width: CIFAR10_SIDE,
    channels: CIFAR10_CHANNELS,
    ...(classNames !== undefined ? { classNames } : {}),
    source: where,
    format: 'cifar10',
  };
}

/** The non-empty lines of `batches.meta.txt`, or undefined when there is none. */
function readClassNames(file: string, fix: string): string[] | undefined {
  if (!isFile(file)) return undefined;
  const fail = (what: string): DataError => new DataError(`${file} ${what}; ${fix}`);
  const text = Buffer.from(readBoundedFile(file, MAX_META_BYTES, fail, 'class names file')).toString('utf8');
  const names = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (names.length === 0) throw fail('holds no class names (one per line)');
  return names;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
