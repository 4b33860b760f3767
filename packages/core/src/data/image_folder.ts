/**
 * Image folders in torchvision's ImageFolder layout: `root/<class>/<image>`,
 * images possibly nested deeper inside a class folder. As in torchvision:
 * classes are the sub-folders of `root` sorted by name (label = index), and
 * within a class the files of each folder are sorted by name, folders in
 * order of their path. PNG and JPEG files are read (`.png`, `.jpg`, `.jpeg`,
 * any case), decoded by content; other files are ignored, except images of a
 * type lip cannot decode (`.bmp`, `.webp`, ...), which are an error rather
 * than silently missing. Unlike torchvision, names starting with `.`
 * (`.ipynb_checkpoints`, `.DS_Store`) are skipped.
 *
 * Images come out as float32 NHWC [N, H, W, C], by default in [0, 1]: C = 1
 * when every image is grayscale, else 3 (grayscale images repeated in R, G
 * and B); alpha is dropped. Every image must have the same size: the first
 * one that differs is an error (resize them beforehand).
 *
 * Links: symlinked files are read wherever they point (regular files only).
 * Symlinked folders are followed only when they resolve inside `root`, and
 * each folder is read once: a link back to an ancestor (a loop) or a second
 * way into the same folder is an error, so the walk always ends. The walk is
 * also bounded in depth and number of files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from '../errors';
import { DecodedImage, decodeImage } from './image_decode';
import { LabeledImages, LabeledReadOptions, MAX_CLASSES, assertLabeledOptions } from './labeled';
import { DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_IMAGE_FILES, DEFAULT_MAX_IMAGE_FILE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_FOLDER_DEPTH } from './limits';
import { readBoundedFile } from './read_file';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
/** Extensions torchvision also loads (through PIL), which lip does not decode. */
const UNSUPPORTED_IMAGE_EXTENSIONS = new Set(['.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp', '.gif']);
const DEFAULT_IMAGE_FIX = 'replace or remove the file';

export interface ReadImageFolderOptions extends LabeledReadOptions {
  /** Largest number of image files. Default DEFAULT_MAX_IMAGE_FILES. */
  maxFiles?: number;
  /** Largest image, in pixels. Default DEFAULT_MAX_IMAGE_PIXELS. */
  maxPixels?: number;
}

/** One image file found by the walk. */
export interface ImageFolderSample {
  /** Path under the root, through links as walked (`cat/x.png`). */
  relative: string;
  file: string;
  label: number;
}

/** Class names and samples of an image folder, in dataset order, without decoding anything. */
export function listImageFolder(root: string, opts: Pick<ReadImageFolderOptions, 'maxFiles'> = {}): { classNames: string[]; samples: ImageFolderSample[] } {
  const where = path.resolve(root);
  const maxFiles = opts.maxFiles ?? DEFAULT_MAX_IMAGE_FILES;
  let rootReal: string;
  let rootStat: fs.Stats;
  try {
    rootReal = fs.realpathSync(where);
    rootStat = fs.statSync(rootReal);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DataError(
      `${where} ${e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.message})`}; pass an image folder (root/<class>/<image>.png)`,
    );
  }
  if (!rootStat.isDirectory()) throw new DataError(`${where} is not a folder; pass an image folder (root/<class>/<image>.png)`);

  // Every folder read, by device and inode, with the path it was first reached by.
  const visited = new Map<string, string>([[`${rootStat.dev}:${rootStat.ino}`, where]]);
  const classes = listDir(where).filter((e) => isFolder(path.join(where, e), where, rootReal, 0, visited));
  classes.sort(byCodePoint);
  if (classes.length === 0) {
    throw new DataError(`${where} holds no class folders; an image folder holds one folder of images per class (root/<class>/<image>.png)`);
  }
  if (classes.length > MAX_CLASSES) {
    throw new DataError(`${where} holds ${classes.length} class folders; lip supports at most ${MAX_CLASSES} classes`);
  }

  const samples: ImageFolderSample[] = [];
  const empty: string[] = [];
  classes.forEach((cls, label) => {
    const groups: Array<{ dir: string; files: string[] }> = [];
    const walk = (dir: string, rel: string, depth: number): void => {
      const files: string[] = [];
      for (const name of listDir(dir)) {
        const full = path.join(dir, name);
        if (isFolder(full, where, rootReal, depth + 1, visited)) {
          walk(full, `${rel}/${name}`, depth + 1);
          continue;
        }
        const ext = path.extname(name).toLowerCase();
        if (UNSUPPORTED_IMAGE_EXTENSIONS.has(ext)) {
          throw new DataError(
            `${full} is a ${ext.slice(1).toUpperCase()} image; lip reads PNG and JPEG images only: convert it (e.g. ImageMagick: mogrify -format png *${ext}) or remove it`,
          );
        }
        if (!IMAGE_EXTENSIONS.has(ext)) continue;
        files.push(name);
        if (samples.length + files.length > maxFiles) {
          throw new DataError(`${where} holds more than ${maxFiles} image files, the limit; pass a smaller folder`);
        }
      }
      groups.push({ dir: rel, files: files.sort(byCodePoint) });
    };
    const classDir = path.join(where, cls);
    walk(classDir, cls, 1);
    // torchvision sorts os.walk's (folder, files) tuples: by folder path, then file name.
    groups.sort((a, b) => byCodePoint(a.dir, b.dir));
    const before = samples.length;
    for (const g of groups) {
      for (const f of g.files) samples.push({ relative: `${g.dir}/${f}`, file: path.join(where, g.dir, f), label });
    }
    if (samples.length === before) empty.push(cls);
  });
  if (empty.length > 0) {
    throw new DataError(`${where} has class folders without any PNG or JPEG image: ${empty.map((c) => `'${c}'`).join(', ')}; add images or remove the folders`);
  }
  return { classNames: classes, samples };
}

/**
 * Reads an image folder (see the module doc). `limit` keeps the first
 * samples in dataset order (class by class), decoding only those.
 */
export function readImageFolder(root: string, opts: ReadImageFolderOptions = {}): LabeledImages {
  assertLabeledOptions(opts);
  const where = path.resolve(root);
  const fix = opts.fix ?? DEFAULT_IMAGE_FIX;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  const maxElements = opts.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const scale = opts.scale ?? 1 / 255;
  const { classNames, samples } = listImageFolder(where, opts);
  const n = Math.min(samples.length, opts.limit ?? samples.length);

  let first: { file: string; image: DecodedImage } | undefined;
  let channels: 1 | 3 = 1;
  let images: Float32Array = new Float32Array(0);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const { file, label } = samples[i]!;
    const fail = (what: string): DataError => new DataError(`${file} ${what}; ${fix}`);
    const image = decodeImage(readBoundedFile(file, DEFAULT_MAX_IMAGE_FILE_BYTES, fail, 'image file'), maxPixels, fail);
    if (first === undefined) {
      first = { file, image };
      channels = image.channels;
      checkTotal(n, image.height * image.width * channels, maxElements, where);
      images = new Float32Array(n * image.height * image.width * channels);
    } else if (image.width !== first.image.width || image.height !== first.image.height) {
      throw new DataError(
        `${file} is ${image.width}×${image.height} but ${first.file} is ${first.image.width}×${first.image.height}: ` +
          'every image of a folder must have the same size; resize them to one size first (e.g. ImageMagick: mogrify -resize WxH! *.png)',
      );
    }
    const hw = image.height * image.width;
    if (image.channels > channels) {
      // A colour image after grayscale ones: widen what is stored so far to RGB.
      checkTotal(n, hw * 3, maxElements, where);
      images = grayToRgb(images, i * hw, n * hw);
      channels = 3;
    }
    const out = images.subarray(i * hw * channels, (i + 1) * hw * channels);
    const px = image.pixels;
    if (image.channels === channels) {
      for (let j = 0; j < px.length; j++) out[j] = px[j]! * scale;
    } else {
      for (let p = 0; p < hw; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = px[p]! * scale;
    }
    labels[i] = label;
  }
  const height = first?.image.height ?? 0;
  const width = first?.image.width ?? 0;
  return { images, labels, n, height, width, channels, classNames, source: where, format: 'image-folder' };
}

function checkTotal(n: number, perImage: number, maxElements: number, where: string): void {
  if (n * perImage > maxElements) {
    throw new DataError(`${where} holds ${n} images of ${perImage} values, ${n * perImage} in all, over the limit of ${maxElements}; pass a smaller limit`);
  }
}

/** Copies the first `filled` gray values of `gray` (room for `total`) into a new RGB array of 3·total values. */
function grayToRgb(gray: Float32Array, filled: number, total: number): Float32Array {
  const rgb = new Float32Array(3 * total);
  for (let p = 0; p < filled; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = gray[p]!;
  return rgb;
}

/** Entry names of `dir`, without hidden ones. */
function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => !name.startsWith('.'));
  } catch (err) {
    throw new DataError(`${dir} cannot be listed (${(err as Error).message}); check its permissions`);
  }
}

/**
 * Whether `full` is a folder to walk into; marks it visited. Throws on a
 * broken link, a folder link leaving the root, a loop, a folder reached twice,
 * or too deep a nesting.
 */
function isFolder(full: string, where: string, rootReal: string, depth: number, visited: Map<string, string>): boolean {
  let lst: fs.Stats;
  let st: fs.Stats;
  try {
    lst = fs.lstatSync(full);
    st = lst.isSymbolicLink() ? fs.statSync(full) : lst;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ELOOP') throw new DataError(`${full} is a broken symlink (${e.code}); fix or remove it`);
    throw new DataError(`${full} cannot be read (${e.message}); check its permissions`);
  }
  if (!st.isDirectory()) return false;
  if (lst.isSymbolicLink()) {
    const target = fs.realpathSync(full);
    if (target !== rootReal && !target.startsWith(rootReal + path.sep)) {
      throw new DataError(
        `${full} is a symlink to the folder ${target}, outside ${where}; lip follows folder links only inside the image folder: copy the folder in instead`,
      );
    }
  }
  const key = `${st.dev}:${st.ino}`;
  const seen = visited.get(key);
  if (seen !== undefined) {
    throw new DataError(`${full} leads to ${seen}, a folder already read (a symlink loop, or two ways into one folder); remove the link`);
  }
  if (depth > MAX_IMAGE_FOLDER_DEPTH) {
    throw new DataError(`${full} is nested ${depth} folders deep in ${where}, over the limit of ${MAX_IMAGE_FOLDER_DEPTH}`);
  }
  visited.set(key, full);
  return true;
}

/** Orders strings by Unicode code point, as Python's sorted() does (UTF-8 byte order is code point order). */
function byCodePoint(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
