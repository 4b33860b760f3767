#!/usr/bin/env node
/**
 * The baseline of `npm run bench`'s verify row: the least `lip verify` has
 * to do, and nothing else. Loads onnxruntime and the model, reads the
 * Fashion-MNIST test images (IDX, gzipped or not) as x / 255, runs them in
 * batches and takes each image's top-2 margin (top1 - top2 logit). No lip
 * code, no checks, no bound, no certificates.
 *
 *   node tools/bare-ort-verify.js MODEL.onnx [--data DIR] [--engine node|web] [--batch-size 256]
 *
 * DIR holds t10k-images-idx3-ubyte[.gz] (default: $LIP_DATA_DIR, else
 * /usr/share/datasets/fashion-mnist). The model takes [N, 1, 28, 28]. Prints
 * one JSON line: { images, meanMargin, engine }.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function parseArgs(argv) {
  const args = { model: null, data: process.env.LIP_DATA_DIR || '/usr/share/datasets/fashion-mnist', engine: 'node', batchSize: 256 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--data') args.data = argv[++i];
    else if (a === '--engine') args.engine = argv[++i];
    else if (a === '--batch-size') args.batchSize = Number(argv[++i]);
    else if (args.model === null && !a.startsWith('--')) args.model = a;
    else throw new Error(`unknown argument ${a} (usage: bare-ort-verify.js MODEL.onnx [--data DIR] [--engine node|web] [--batch-size B])`);
  }
  if (args.model === null) throw new Error('usage: bare-ort-verify.js MODEL.onnx [--data DIR] [--engine node|web] [--batch-size B]');
  if (!['node', 'web'].includes(args.engine)) throw new Error(`--engine must be node or web, got ${args.engine}`);
  return args;
}

/** The test images as float32 x / 255, [n, 28 * 28]. */
function readImages(dir) {
  const file = path.join(dir, 't10k-images-idx3-ubyte');
  const raw = fs.existsSync(file) ? fs.readFileSync(file) : zlib.gunzipSync(fs.readFileSync(`${file}.gz`));
  const n = raw.readUInt32BE(4);
  const size = raw.readUInt32BE(8) * raw.readUInt32BE(12);
  const images = new Float32Array(n * size);
  for (let i = 0; i < images.length; i++) images[i] = raw[16 + i] / 255;
  return { images, n, size };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = require(args.engine === 'node' ? 'onnxruntime-node' : 'onnxruntime-web');
  const session = await ort.InferenceSession.create(fs.readFileSync(args.model), { graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const { images, n, size } = readImages(args.data);
  let marginSum = 0;
  for (let start = 0; start < n; start += args.batchSize) {
    const rows = Math.min(args.batchSize, n - start);
    const feed = new ort.Tensor('float32', images.subarray(start * size, (start + rows) * size), [rows, 1, 28, 28]);
    const out = await session.run({ [session.inputNames[0]]: feed });
    const logits = out[session.outputNames[0]].data;
    const k = logits.length / rows;
    for (let r = 0; r < rows; r++) {
      let top1 = -Infinity;
      let top2 = -Infinity;
      for (let j = r * k; j < (r + 1) * k; j++) {
        const v = logits[j];
        if (v > top1) [top1, top2] = [v, top1];
        else if (v > top2) top2 = v;
      }
      marginSum += top1 - top2;
    }
  }
  await session.release();
  process.stdout.write(`${JSON.stringify({ images: n, meanMargin: marginSum / n, engine: args.engine })}\n`);
}

main().catch((err) => {
  process.stderr.write(`bare-ort-verify: ${err.stack || err.message}\n`);
  process.exit(1);
});
