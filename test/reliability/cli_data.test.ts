/**
 * Corrupt IDX data and inputs that do not fit the model, end to end through
 * the built CLI: each gives exit code 2, one `error:` line, no stack trace,
 * and leaves no output (--json, --report) or temp file behind.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { onnx } from 'onnx-proto';
import { encodeIdx } from '@lip/train/node';
import { listFiles, seededBytes } from '@lip/test-support';
import { cliFixturesPerSuite, CliResult, expectCleanFailure, outDir, outputFlags, QUICK_ATTACK, runLip } from '@lip/test-support/cli';
import { writeIdxSplit } from '@lip/test-support/data';
import { gemmModel } from '@lip/test-support/onnx';

const fx = cliFixturesPerSuite('cli-data');

const IMAGES = 't10k-images-idx3-ubyte';
const LABELS = 't10k-labels-idx1-ubyte';

/** A copy of the valid test split in a fresh folder, then `corrupt(dir)`. */
function dataCase(corrupt: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(fx.root, 'idx-'));
  writeIdxSplit(dir, { n: 12 });
  corrupt(dir);
  return dir;
}

function edit(file: string, f: (b: Buffer) => Buffer | Uint8Array): void {
  fs.writeFileSync(file, f(fs.readFileSync(file)));
}

function gzipInPlace(dir: string, base: string): void {
  const file = path.join(dir, base);
  fs.writeFileSync(`${file}.gz`, zlib.gzipSync(fs.readFileSync(file)));
  fs.rmSync(file);
}

/** IDX corruptions: [name, make the folder, expected error]. */
const IDX_CASES: [string, (dir: string) => void, RegExp][] = [
  [
    'truncated images file',
    (d) => edit(path.join(d, IMAGES), (b) => b.subarray(0, 5000)),
    /is truncated: header declares 12×28×28 = 9408 bytes but the file holds 4984/,
  ],
  [
    'truncated gzip stream',
    (d) => {
      gzipInPlace(d, IMAGES);
      edit(path.join(d, `${IMAGES}.gz`), (b) => b.subarray(0, b.length >> 1));
    },
    /is truncated or corrupt: gzip cannot decompress it/,
  ],
  [
    'header cut inside the dims',
    (d) => edit(path.join(d, IMAGES), (b) => b.subarray(0, 9)),
    /is truncated: its rank-3 header needs 16 bytes but the file holds 9/,
  ],
  ['empty file', (d) => fs.writeFileSync(path.join(d, LABELS), ''), /is empty \(0 bytes\)/],
  [
    'wrong magic in the images',
    (d) =>
      edit(path.join(d, IMAGES), (b) => {
        b[0] = 0x12;
        b[1] = 0x34;
        return b;
      }),
    /is not an IDX file: it starts with 12 34 08 03/,
  ],
  [
    'wrong magic in the labels',
    (d) =>
      edit(path.join(d, LABELS), (b) => {
        b[1] = 0xff;
        return b;
      }),
    /is not an IDX file/,
  ],
  [
    'float32 IDX dtype, with bytes for uint8 only',
    (d) =>
      edit(path.join(d, IMAGES), (b) => {
        b[2] = 0x0d;
        return b;
      }),
    /is truncated: header declares 12×28×28 float32 = 37632 bytes but the file holds 9408/,
  ],
  [
    'rank 0',
    (d) =>
      edit(path.join(d, LABELS), (b) => {
        b[3] = 0;
        return b;
      }),
    /declares rank 0/,
  ],
  [
    'image and label counts disagree',
    (d) => fs.writeFileSync(path.join(d, LABELS), encodeIdx([11], new Uint8Array(11))),
    /holds 12 images but .* holds 11 labels/,
  ],
  [
    'gzip that is not gzip',
    (d) => fs.renameSync(path.join(d, IMAGES), path.join(d, `${IMAGES}.gz`)),
    /is named \.gz but is not gzip data \(it starts with 00 00 08 03/,
  ],
  [
    'gzip magic followed by garbage',
    (d) => {
      fs.rmSync(path.join(d, IMAGES));
      fs.writeFileSync(path.join(d, `${IMAGES}.gz`), Uint8Array.from([0x1f, 0x8b, ...seededBytes(200, 3)]));
    },
    /gzip cannot decompress it/,
  ],
  [
    'huge declared count (2^32 - 1 images)',
    (d) =>
      edit(path.join(d, IMAGES), (b) => {
        b.writeUInt32BE(0xffffffff, 4);
        return b;
      }),
    /header declares 4294967295×28×28 = 3367254359280 bytes, over the 1073741824-byte limit/,
  ],
  [
    'huge declared dims, 8 of them',
    (d) => fs.writeFileSync(path.join(d, IMAGES), Uint8Array.from([0, 0, 8, 8, ...new Array<number>(32).fill(0xff)])),
    /over the 1073741824-byte limit/,
  ],
  [
    '32 x 32 images',
    (d) => fs.writeFileSync(path.join(d, IMAGES), encodeIdx([12, 32, 32], new Uint8Array(12 * 32 * 32))),
    /expects inputs of shape \[N, 1, 28, 28\] but the data holds images of 32x32x1/,
  ],
  ['labels of rank 2 (two per image)', (d) => fs.writeFileSync(path.join(d, LABELS), encodeIdx([12, 2], new Uint8Array(24))), /labels/],
  [
    'a label outside 0..9',
    (d) =>
      edit(path.join(d, LABELS), (b) => {
        b[8 + 3] = 200;
        return b;
      }),
    /the model has 10 outputs but the data has labels up to 200/,
  ],
  ['bytes after the data', (d) => edit(path.join(d, IMAGES), (b) => Buffer.concat([b, Buffer.alloc(7)])), /7 more bytes follow the data/],
  [
    'labels file missing',
    (d) => fs.rmSync(path.join(d, LABELS)),
    /holds t10k-images-idx3-ubyte but neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte\.gz/,
  ],
  [
    'a folder in place of the images file',
    (d) => {
      fs.rmSync(path.join(d, IMAGES));
      fs.mkdirSync(path.join(d, IMAGES));
    },
    /is not a regular file|holds neither|but neither/,
  ],
];

async function expectNoOutput(args: string[], pattern: RegExp, command = args[0]): Promise<CliResult> {
  const out = outDir(fx.root);
  const r = await runLip([...args, ...outputFlags(command, out)]);
  expectCleanFailure(r, pattern);
  expect(listFiles(out)).toEqual([]);
  return r;
}

describe('lip verify MODEL --data DIR with corrupt IDX files', () => {
  it.each(IDX_CASES)('%s', async (_name, corrupt, pattern) => {
    const dir = dataCase(corrupt);
    const r = await expectNoOutput(['verify', fx.model, '--data', dir], pattern);
    // A corrupt file's message names the fix for a folder the user chose (no re-download happens there).
    if (/is truncated|is corrupt|is not an IDX file|is empty|declares rank|gzip|-byte limit/.test(r.stderr)) {
      expect(r.stderr).toMatch(/replace it with an intact copy of the file/);
    }
  });

  it('a --data folder that does not exist', async () => {
    await expectNoOutput(
      ['verify', fx.model, '--data', path.join(fx.root, 'nowhere')],
      /'--data' must be fashion-mnist, mnist, or an IDX file or folder, \.npy images/,
    );
  });
});

/** Inputs that do not fit the model. */
describe('inputs the model cannot take', () => {
  const model = (name: string, bytes: Uint8Array): string => {
    const file = path.join(fx.root, name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  it.each(['verify', 'attack'])('a model expecting 32x32 with Fashion-MNIST (28x28) data (%s)', async (command) => {
    const m = model('m32.onnx', gemmModel({ chw: [1, 32, 32] }));
    await expectNoOutput(
      [command, m, '--data', fx.fashion, ...(command === 'attack' ? QUICK_ATTACK : [])],
      /expects inputs of shape \[N, 1, 32, 32\] but the data holds images of 28x28x1/,
    );
  });

  it.each(['verify', 'attack'])('a model with 3 input channels (%s)', async (command) => {
    const m = model('rgb.onnx', gemmModel({ chw: [3, 28, 28] }));
    await expectNoOutput([command, m, '--data', fx.data, ...(command === 'attack' ? QUICK_ATTACK : [])], /expects inputs of shape \[N, 3, 28, 28\]/);
  });

  it.each(['verify', 'attack'])('a model with an int64 input (%s)', async (command) => {
    const bytes = gemmModel();
    const proto = onnx.ModelProto.decode(bytes);
    (proto.graph as onnx.GraphProto).input[0].type!.tensorType!.elemType = onnx.TensorProto.DataType.INT64;
    const m = model('int64.onnx', onnx.ModelProto.encode(proto).finish());
    await expectNoOutput(
      [command, m, '--data', fx.data, ...(command === 'attack' ? QUICK_ATTACK : [])],
      /input 'input' has type int64; a float32 image input is required/,
    );
  });

  it.each(['verify', 'attack'])('pixels outside the declared input_range (%s)', async (command) => {
    const m = model('range.onnx', gemmModel({ metadata: { input_range: '[-1, 0.5]' } }));
    await expectNoOutput(
      [command, m, '--data', fx.data, ...(command === 'attack' ? QUICK_ATTACK : [])],
      /input image 0 holds 0\.\d+ at pixel \d+, outside the model's input_range \[-1, 0\.5\]/,
    );
  });

  it('labels the model cannot output (5 logits, labels up to 9)', async () => {
    const m = model('five.onnx', gemmModel({ classes: 5 }));
    await expectNoOutput(['verify', m, '--data', fx.data], /the model has 5 outputs but the data has labels up to 9/);
  });
});
