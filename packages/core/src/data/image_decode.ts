/**
 * Decoding one PNG or JPEG file (pngjs, jpeg-js) to 8-bit pixels, HWC.
 *
 * Channels: grayscale images give 1 channel, colour images (RGB, palette,
 * CMYK JPEG) 3; an alpha channel is dropped (as torchvision's loader does
 * when it converts to RGB). 16-bit PNGs are reduced to 8 bits.
 *
 * The dimensions are read from the file's header and checked against
 * `maxPixels` before either library allocates, and an interlaced PNG's
 * compressed data is inflated with a limit first (pngjs inflates it
 * without one), so a small hostile file cannot claim gigabytes.
 */
import * as zlib from 'zlib';
import type * as Pngjs from 'pngjs';
import type * as JpegJs from 'jpeg-js';
import { DataError } from '../errors';
import { FailFn } from './ndarray';

// Loaded at the first image: most runs decode none, and loading both costs tens of ms of start-up.
const pngjs = (): typeof Pngjs => require('pngjs');
const jpegJs = (): typeof JpegJs => require('jpeg-js');

export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  /** height × width × channels bytes, row-major, channels last. */
  pixels: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The image type of `bytes` from its magic number. */
export function imageKind(bytes: Uint8Array): 'png' | 'jpeg' | undefined {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/**
 * Decodes PNG or JPEG `bytes` (told apart by content, not by name). `fail`
 * builds the error for a message about the file.
 */
export function decodeImage(bytes: Uint8Array, maxPixels: number, fail: FailFn): DecodedImage {
  const kind = imageKind(bytes);
  if (kind === undefined) {
    const start = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw fail(`is neither a PNG nor a JPEG image (it starts with ${start || 'nothing'})`);
  }
  try {
    return kind === 'png' ? decodePng(bytes, maxPixels, fail) : decodeJpeg(bytes, maxPixels, fail);
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw fail(`is a corrupt or unsupported ${kind === 'png' ? 'PNG' : 'JPEG'} image (${(err as Error).message})`);
  }
}

function checkPixels(width: number, height: number, maxPixels: number, fail: FailFn): void {
  if (width === 0 || height === 0) throw fail(`declares an empty ${width}×${height} image`);
  if (width * height > maxPixels) {
    throw fail(`declares a ${width}×${height} image, ${width * height} pixels, over the limit of ${maxPixels} pixels per image`);
  }
}

function decodePng(bytes: Uint8Array, maxPixels: number, fail: FailFn): DecodedImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // IHDR is the first chunk: length 13 at 8, 'IHDR' at 12, then width, height, depth, colour type, ..., interlace.
  if (buf.length < 33 || buf.toString('latin1', 12, 16) !== 'IHDR') throw fail('is a truncated or corrupt PNG image (no IHDR header)');
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  const depth = buf[24]!;
  const colorType = buf[25]!;
  checkPixels(width, height, maxPixels, fail);
  if (buf[28] === 1) checkInterlacedSize(buf, width, height, depth, colorType, fail);

  const png = pngjs().PNG.sync.read(buf);
  if (png.width !== width || png.height !== height) throw fail('is a corrupt PNG image (its size changed while decoding)');
  // Colour type bit 2 means colour (RGB or palette); pngjs always returns RGBA, 8 bits per channel.
  const channels = colorType & 2 ? 3 : 1;
  return { width, height, channels, pixels: dropAlpha(png.data, width * height, channels) };
}

/**
 * Inflates an interlaced PNG's image data with a limit, since pngjs inflates
 * it without one. Adam7's seven passes hold the image's pixels once, plus a
 * filter byte and at most one partial byte per row: at most
 * ceil(w·h·bits/8) + 14·h bytes.
 */
function checkInterlacedSize(buf: Buffer, width: number, height: number, depth: number, colorType: number, fail: FailFn): void {
  const samples: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
  const bitsPerPixel = (samples[colorType] ?? 4) * Math.max(depth, 8);
  const limit = Math.ceil((width * height * bitsPerPixel) / 8) + 14 * height + 64;
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= buf.length;) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > buf.length) break; // truncated: pngjs reports it
    if (type === 'IDAT') idat.push(buf.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') break;
    at += 12 + length;
  }
  try {
    zlib.inflateSync(Buffer.concat(idat), { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw fail(`is a corrupt PNG image: its ${width}×${height} pixels decompress to more than ${limit} bytes`);
    }
    // Other inflate errors: pngjs reports them with its own message.
  }
}

/** Keeps the first `channels` of each RGBA pixel (R, or R G B). */
function dropAlpha(rgba: Uint8Array, pixels: number, channels: 1 | 3): Uint8Array {
  const out = new Uint8Array(pixels * channels);
  for (let p = 0, o = 0; p < pixels; p++) {
    const i = 4 * p;
    out[o++] = rgba[i]!;
    if (channels === 3) {
      out[o++] = rgba[i + 1]!;
      out[o++] = rgba[i + 2]!;
    }
  }
  return out;
}

/** JPEG start-of-frame markers (SOF0-SOF15 except DHT C4, JPG C8, DAC CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Width, height and component count from a JPEG's frame header, walking the marker segments. */
function jpegFrame(bytes: Uint8Array, fail: FailFn): { width: number; height: number; components: number } {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) break;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2; // markers without a length
      continue;
    }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (isStartOfFrame(marker)) {
      if (at + 10 > bytes.length) break;
      return {
        height: (bytes[at + 5]! << 8) | bytes[at + 6]!,
        width: (bytes[at + 7]! << 8) | bytes[at + 8]!,
        components: bytes[at + 9]!,
      };
    }
    if (marker === 0xda || marker === 0xd9 || length < 2) break; // scan data or end before any frame header
    at += 2 + length;
  }
  throw fail('is a truncated or corrupt JPEG image (no frame header)');
}

function decodeJpeg(bytes: Uint8Array, maxPixels: number, fail: FailFn): DecodedImage {
  const frame = jpegFrame(bytes, fail);
  checkPixels(frame.width, frame.height, maxPixels, fail);
  if (frame.components !== 1 && frame.components !== 3 && frame.components !== 4) {
    throw fail(`is a JPEG image with ${frame.components} colour components; 1 (gray), 3 (YCbCr/RGB) or 4 (CMYK) are supported`);
  }
  const image = jpegJs().decode(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    maxResolutionInMP: maxPixels / 1e6,
    // jpeg-js's own accounting: its coefficient blocks take a few bytes per pixel and component.
    maxMemoryUsageInMB: Math.max(512, Math.ceil((maxPixels * 16) / 2 ** 20)),
  });
  if (image.width !== frame.width || image.height !== frame.height) throw fail('is a corrupt JPEG image (its size changed while decoding)');
  const pixels = image.width * image.height;
  if (frame.components !== 1) return { width: image.width, height: image.height, channels: 3, pixels: image.data };
  // jpeg-js repeats gray in R, G and B: keep one.
  const gray = new Uint8Array(pixels);
  for (let p = 0; p < pixels; p++) gray[p] = image.data[3 * p]!;
  return { width: image.width, height: image.height, channels: 1, pixels: gray };
}
