/** Helpers of the end-to-end tests: the CLI in-process, ONNX surgery, onnxruntime on the test set. */
import * as fs from 'fs';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { run } from '@lip/cli';

/** Where the Fashion-MNIST IDX files are expected (the locateDataset search order also finds them). */
export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** True when the Fashion-MNIST test split can be found without a download. */
export function haveFashionMnist(): boolean {
  const dirs = [process.env.LIP_DATA_DIR, FASHION_DIR].filter((d): d is string => !!d);
  return dirs.some((d) => fs.existsSync(`${d}/t10k-images-idx3-ubyte.gz`) || fs.existsSync(`${d}/t10k-images-idx3-ubyte`));
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
  seconds: number;
}

/** Runs `lip ...args` in this process (the CLI's `run`), capturing stdout and stderr. */
export async function lip(...args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  const started = Date.now();
  try {
    const code = await run(['node', 'lip', ...args]);
    return { code, out, err, seconds: (Date.now() - started) / 1000 };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** The argument of a failed expectation about a CLI run: its output, so a failure shows what the command said. */
export function transcript(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`;
}

/**
 * The same graph with the weight (input 1) of every Conv and Gemm multiplied
 * by `factor`, metadata untouched: a model that is not 1-Lipschitz but still
 * claims `lipschitz_constant` = 1. Returns the bytes and the weights scaled.
 */
export function scaleLinearWeights(bytes: Uint8Array, factor: number): { bytes: Uint8Array; scaled: string[] } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const weights = new Set(graph.node!.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm').map((n) => n.input![1]));
  const scaled: string[] = [];
  for (const t of graph.initializer!) {
    if (!weights.has(t.name!)) continue;
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`initializer '${t.name}' is not float32`);
    if (t.rawData && t.rawData.length > 0) {
      const copy = Uint8Array.from(t.rawData);
      const values = new Float32Array(copy.buffer, 0, copy.length / 4);
      for (let i = 0; i < values.length; i++) values[i] *= factor;
      t.rawData = copy;
    } else {
      t.floatData = t.floatData!.map((v) => v * factor);
    }
    scaled.push(t.name!);
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), scaled };
}

/** The model's `metadata_props` as an object. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key!, p.value!]));
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

export { maxAbsDiff } from '../../packages/export/test/compare';
