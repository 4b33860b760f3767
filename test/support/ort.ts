/**
 * onnxruntime in tests: predictions with onnxruntime-node in this process and
 * with onnxruntime-web (wasm) in a child Node process, and the layout change
 * from tfjs's NHWC to ONNX's NCHW; a model's measured Lipschitz ratio on
 * random input pairs.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { uniformStream } from './random';
import { makeTmpDir, removeDir } from './tmp';

/** NHWC (tfjs) -> NCHW (ONNX) for a [n, h, w, c] buffer; flat [n, f] data is returned as is. */
export function toOnnxLayout(data: Float32Array, shape: readonly number[]): { data: Float32Array; dims: number[] } {
  if (shape.length === 2) return { data, dims: [...shape] };
  const [n, h, w, c] = shape;
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k];
  return { data: out, dims: [n, c, h, w] };
}

/** onnxruntime-node prediction of a model with input `input` and output `logits`; `data` is in ONNX layout. */
export async function predictOrt(bytes: Uint8Array, data: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', data, [...dims]) });
    return Float32Array.from(out.logits.data as Float32Array);
  } finally {
    await session.release();
  }
}

/**
 * onnxruntime-web (wasm backend) prediction, in a child Node process: jest's
 * module sandbox cannot load ort-web's ESM wasm glue.
 */
export function predictOrtWeb(bytes: Uint8Array, data: Float32Array, dims: readonly number[]): Float32Array {
  const dir = makeTmpDir('ortweb');
  try {
    const model = path.join(dir, 'm.onnx');
    const input = path.join(dir, 'x.f32');
    fs.writeFileSync(model, bytes);
    fs.writeFileSync(input, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const r = spawnSync(process.execPath, [path.join(__dirname, 'ort_web_runner.js'), model, input, dims.join(',')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`onnxruntime-web failed: ${r.stderr}`);
    const [, b64] = r.stdout.trim().split('\n');
    const buf = Buffer.from(b64, 'base64');
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  } finally {
    removeDir(dir);
  }
}

/** onnxruntime-node logits of `n` single-channel images (NHWC and NCHW hold the same bytes for one channel). */
export async function ortLogits(file: string, images: Float32Array, n: number, h: number, w: number, batch = 1000): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  try {
    let out: Float32Array | null = null;
    for (let start = 0; start < n; start += batch) {
      const m = Math.min(batch, n - start);
      const x = Float32Array.from(images.subarray(start * h * w, (start + m) * h * w));
      const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [m, 1, h, w]) });
      const y = result[session.outputNames[0]].data as Float32Array;
      out ??= new Float32Array(n * (y.length / m));
      out.set(y, start * (y.length / m));
    }
    return out ?? new Float32Array(0);
  } finally {
    await session.release();
  }
}

/** Row-wise argmax of `[n, k]` logits. */
export function argmax(logits: Float32Array, n: number): Int32Array {
  const k = logits.length / Math.max(n, 1);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/**
 * Largest ||f(x) - f(z)|| / ||x - z|| onnxruntime-node gives on `pairs` random
 * pairs (a lower bound on the Lipschitz constant): x uniform in [-1, 1] of ONNX
 * shape `dims`, z = x + stepOf(t) u with u uniform in [-1, 1], from the stream
 * of `seed`; the model's first input and output, batch 2.
 */
export async function measuredPairRatio(
  bytes: Uint8Array,
  dims: readonly number[],
  pairs: number,
  seed: number,
  stepOf: (t: number) => number,
): Promise<number> {
  const session = await ort.InferenceSession.create(bytes);
  const size = dims.reduce((a, b) => a * b, 1);
  const rnd = uniformStream(seed, -1, 1);
  let worst = 0;
  try {
    for (let t = 0; t < pairs; t++) {
      const x = Float32Array.from({ length: size }, rnd);
      const step = stepOf(t);
      const z = Float32Array.from(x, (v) => v + rnd() * step);
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.of(...x, ...z), [2, ...dims]) });
      const o = out[session.outputNames[0]].data as Float32Array;
      const half = o.length / 2;
      let num = 0;
      let den = 0;
      for (let i = 0; i < half; i++) num += (o[i] - o[half + i]) ** 2;
      for (let i = 0; i < size; i++) den += (x[i] - z[i]) ** 2;
      worst = Math.max(worst, Math.sqrt(num / den));
    }
  } finally {
    await session.release();
  }
  return worst;
}
