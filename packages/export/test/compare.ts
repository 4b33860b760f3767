/** Test helpers: run a tfjs model and its ONNX export on the same input and compare. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';

/** NHWC (tfjs) -> NCHW (ONNX) for a [n, h, w, c] buffer; flat [n, f] data is returned as is. */
export function toOnnxLayout(data: Float32Array, shape: readonly number[]): { data: Float32Array; dims: number[] } {
  if (shape.length === 2) return { data, dims: [...shape] };
  const [n, h, w, c] = shape;
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k];
  return { data: out, dims: [n, c, h, w] };
}

/** tfjs prediction on a NHWC (or [n, f]) batch. */
export function predictTfjs(model: LayersModel, data: Float32Array, shape: readonly number[]): Float32Array {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor(data, [...shape])) as tf.Tensor;
    return Float32Array.from(y.dataSync());
  });
}

/** onnxruntime-node prediction; `data` is in ONNX layout. */
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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-ortweb-'));
  try {
    const model = path.join(dir, 'm.onnx');
    const input = path.join(dir, 'x.f32');
    fs.writeFileSync(model, bytes);
    fs.writeFileSync(input, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const r = spawnSync(process.execPath, [path.join(__dirname, 'ort_web_runner.js'), model, input, dims.join(',')],
      { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`onnxruntime-web failed: ${r.stderr}`);
    const [, b64] = r.stdout.trim().split('\n');
    const buf = Buffer.from(b64, 'base64');
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** A deterministic normal batch (mulberry32 + Box-Muller), times `scale`. */
export function randomBatch(shape: readonly number[], seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const n = shape.reduce((a, d) => a * d, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(uniform(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}
