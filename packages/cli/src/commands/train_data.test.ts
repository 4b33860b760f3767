/**
 * `lip train --data` on your own files, read by @lip/core's readers: an .npy
 * pair, flat .npy rows with --input-shape, and an ImageFolder of PNGs. Tiny
 * 8×8 images so each run takes seconds; the checkpoint then exports with the
 * data's class names.
 */
import * as fs from 'fs';
import * as path from 'path';
import { exportCheckpoint } from '@lip/export';
import { readTrainState } from '@lip/train/node';
import { mulberry32, tmpDirPerSuite } from '@lip/test-support';
import { lip } from '@lip/test-support/cli';
import { npyOf, pngBytes } from '@lip/test-support/data';

/** `n` 8×8 images (HWC, `channels` per pixel) of 3 classes (label i % 3: a bright block in one of three places). */
function images(n: number, channels: number, seed: number): { pixels: Uint8Array; labels: Uint8Array } {
  const pixels = new Uint8Array(n * 64 * channels);
  const labels = new Uint8Array(n);
  const rand = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    const [r0, c0] = [
      [0, 0],
      [0, 4],
      [4, 2],
    ][i % 3]!;
    for (let p = 0; p < 64; p++) {
      const [r, c] = [Math.floor(p / 8), p % 8];
      const bright = r >= r0 && r < r0 + 4 && c >= c0 && c < c0 + 4;
      for (let ch = 0; ch < channels; ch++) {
        pixels[(i * 64 + p) * channels + ch] = (bright ? 150 : 20) + Math.floor(rand() * 80);
      }
    }
  }
  return { pixels, labels };
}

/** `lip train ...args`, captured. */
async function trainLip(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const r = await lip('train', ...args);
  return { code: r.code, stderr: r.err, stdout: r.out };
}

const tmp = tmpDirPerSuite('cli-train-data');

const QUICK = ['--epochs', '1', '--batch-size', '16', '--lr', '0.005', '--backend', 'cpu', '--workers', '1'];

test('an .npy pair (uint8 [N, 8, 8] images, their labels), with an .npy validation pair; then lip export names the classes', async () => {
  const train = images(48, 1, 1);
  const val = images(15, 1, 2);
  const dir = tmp.path('npy');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'x.npy'), npyOf(train.pixels, [48, 8, 8]));
  fs.writeFileSync(path.join(dir, 'y.npy'), npyOf(train.labels, [48]));
  fs.writeFileSync(path.join(dir, 'xv.npy'), npyOf(val.pixels, [15, 8, 8]));
  fs.writeFileSync(path.join(dir, 'yv.npy'), npyOf(Int32Array.from(val.labels), [15]));
  const out = tmp.path('run-npy');
  const r = await trainLip([
    '--data',
    path.join(dir, 'x.npy'),
    '--labels',
    path.join(dir, 'y.npy'),
    '--val-data',
    path.join(dir, 'xv.npy'),
    '--val-labels',
    path.join(dir, 'yv.npy'),
    '--out',
    out,
    ...QUICK,
  ]);
  expect(r.stderr).toMatch(/^epoch 1\/1 {2}loss [\d.-]+ {2}acc [\d.]+ {2}kr [\d.-]+ {2}val_loss [\d.-]+ {2}val_acc [\d.]+/m);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^checkpoint: .* \(epoch 1, val_acc \d\.\d{4}\)$/m);
  const { config } = readTrainState(out);
  expect(config).toMatchObject({
    dataset: 'files',
    dataPath: path.join(dir, 'x.npy'),
    labelsPath: path.join(dir, 'y.npy'),
    classNames: ['0', '1', '2'],
    arch: 'seed',
  });
  const exported = await exportCheckpoint(out, tmp.path('npy.onnx'));
  expect(exported.metadata['class_names']).toBe('["0","1","2"]');
  // A second epoch: --resume finds the files from train.json.
  const resumed = await trainLip(['--resume', '--epochs', '2', '--out', out, '--backend', 'cpu', '--workers', '1']);
  expect(resumed.code).toBe(0);
  expect(readTrainState(out).epochs.map((e) => e.epoch)).toEqual([1, 2]);
});

test('flat .npy rows [N, 64] with --input-shape 8,8,1; no validation data: the summary says so', async () => {
  const { pixels, labels } = images(32, 1, 3);
  const dir = tmp.path('flat');
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'x.npy'),
    npyOf(
      Float32Array.from(pixels, (v) => v / 255),
      [32, 64],
    ),
  );
  fs.writeFileSync(path.join(dir, 'y.npy'), npyOf(labels, [32]));
  const args = ['--data', path.join(dir, 'x.npy'), '--labels', path.join(dir, 'y.npy'), '--out', tmp.path('run-flat'), ...QUICK];
  const without = await trainLip([...args]);
  expect(without.code).toBe(2);
  expect(without.stderr).toMatch(
    /^error: .*x\.npy holds an array of shape 32×64; images must be \[N, H, W\], \[N, H, W, C\] or \[N, C, H, W\] \(reshape flat \[N, H\*W\*C\] rows first\)\n$/,
  );
  const r = await trainLip([...args, '--input-shape', '8,8,1']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\(epoch 1, acc \d\.\d{4} \(no validation data\)\)/);
  expect(readTrainState(tmp.path('run-flat')).config.inputShape).toEqual([8, 8, 1]);
  const wrong = await trainLip([...args, '--input-shape', '4,4,2', '--out', tmp.path('run-flat-2')]);
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toBe(
    `error: ${path.join(dir, 'x.npy')} holds rows of 64 values, but the input shape [4, 4, 2] needs 32; pass the shape of one image (--input-shape H,W,C)\n`,
  );
});

test('an ImageFolder of RGB PNGs (<class>/<image>.png), with --arch ortho: the class names are the folders', async () => {
  const { pixels, labels } = images(36, 3, 4);
  const root = tmp.path('folder');
  const classes = ['circle', 'square', 'triangle'];
  for (let i = 0; i < 36; i++) {
    const dir = path.join(root, classes[labels[i]!]!);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${String(i).padStart(3, '0')}.png`), pngBytes(8, 8, 3, pixels.subarray(i * 192, (i + 1) * 192)));
  }
  const out = tmp.path('run-folder');
  const r = await trainLip(['--data', root, '--arch', 'ortho', '--out', out, ...QUICK]);
  expect(r.stderr).toMatch(/^epoch 1\/1 {2}loss /m);
  expect(r.code).toBe(0);
  const { config } = readTrainState(out);
  expect(config).toMatchObject({ dataset: 'files', dataPath: root, classNames: classes, arch: 'ortho' });
  expect((await exportCheckpoint(out, tmp.path('folder.onnx'))).metadata['class_names']).toBe(JSON.stringify(classes));
});

test.each([
  [
    ['--data', 'fashion-mnist', '--labels', 'y.npy'],
    "error: '--labels' is for data files; --data fashion-mnist is the fashion-mnist dataset, which needs none",
  ],
  [['--input-shape', '28,28'], "error: '--input-shape' must be H,W,C (three positive integers, e.g. 28,28,1), got '28,28'"],
  [['--scale', '0'], "error: '--scale' must be a finite number > 0, got '0'"],
])('%j exits 2 with one line, writing nothing', async (args, line) => {
  const out = tmp.path('bad');
  const r = await trainLip([...args, '--out', out]);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe(`${line}\n`);
  expect(fs.existsSync(out)).toBe(false);
});

test('a --data path that does not exist exits 2 naming it', async () => {
  const missing = tmp.path('nowhere.npy');
  const r = await trainLip(['--data', missing, '--labels', tmp.path('y.npy'), '--out', tmp.path('bad2'), ...QUICK]);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe(`error: ${missing} does not exist; pass a data file or folder\n`);
});
