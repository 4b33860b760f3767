/**
 * Small ONNX models for tests, built with the exporter's GraphBuilder in the
 * shapes the exporter emits; edits of ONNX bytes (metadata, weight scaling);
 * and Python's onnx checker. Weights are seeded (./random.ts).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { EMITTERS, EmitContext, GraphBuilder, Profile } from '@lip/export';
import { orthonormalRows } from './linalg';
import { sizeOf, uniformArray } from './random';
import { makeTmpDir, removeDir } from './tmp';

export interface GemmModelOptions {
  /** Per-sample input shape. Default [1, 28, 28]. */
  chw?: readonly number[];
  classes?: number;
  /**
   * Largest |weight|: weights are uniform in [-maxWeight, maxWeight). Default
   * 1/(2 sqrt(d classes)), which keeps the Frobenius (hence spectral) norm <= 1/2,
   * so the default claim L = 1 holds.
   */
  maxWeight?: number;
  /** Bias of class i: i * biasStep. Default 0.01. */
  biasStep?: number;
  /** Op of the classifier node (an unsupported one for tests). Default Gemm. */
  op?: string;
  /** metadata_props over the defaults lipschitz_constant 1 and input_range [0, 1]; null removes a key. */
  metadata?: Record<string, string | null>;
  seed?: number;
}

/** Flatten -> Gemm ([d, classes], transB 0) on NCHW input `input`, output `logits`. */
export function gemmModel(opts: GemmModelOptions = {}): Uint8Array {
  const chw = opts.chw ?? [1, 28, 28];
  const classes = opts.classes ?? 10;
  const d = sizeOf(chw);
  const amp = opts.maxWeight ?? 1 / (2 * Math.sqrt(d * classes));
  const step = opts.biasStep ?? 0.01;
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('input', 'float32', ['N', ...chw]);
  const [flat] = b.node('Flatten', [x], { axis: 1 });
  const W = b.initializer('W', uniformArray(d * classes, opts.seed ?? 5, -amp, amp), [d, classes]);
  const B = b.initializer(
    'B',
    Float32Array.from({ length: classes }, (_, i) => step * i),
    [classes],
  );
  b.node(opts.op ?? 'Gemm', [flat, W, B], {}, { outputs: ['logits'] });
  b.output('logits', ['N', classes]);
  const metadata: Record<string, string | null> = { lipschitz_constant: '1', input_range: '[0, 1]', ...opts.metadata };
  for (const [k, v] of Object.entries(metadata)) if (v !== null) b.setMetadata(k, v);
  return b.toBytes();
}

/** A builder with an NCHW image input named `input`. */
export function imageBuilder(chw: readonly number[], opset = 17): { b: GraphBuilder; x: string } {
  const b = new GraphBuilder({ opset });
  return { b, x: b.input('input', 'float32', ['N', ...chw]) };
}

function reshape(b: GraphBuilder, x: string, dims: number[]): string {
  return b.node('Reshape', [x, b.initializer(b.fresh('shape'), [-1, ...dims], [dims.length + 1])])[0];
}

/** x * s, with s a scalar initializer. */
function times(b: GraphBuilder, x: string, s: number): string {
  return b.node('Mul', [x, b.initializer(b.fresh('scale'), Float32Array.of(s), [])])[0];
}

/** GroupSort2 on NCHW as the exporter writes it (default: Min/Max; portable: Relu arithmetic). */
export function groupSort2(b: GraphBuilder, x: string, c: number, h: number, w: number, portable: boolean): string {
  const g = reshape(b, x, [c / 2, 2, h * w]);
  const sizes = b.initializer(b.fresh('split'), [1, 1], [2]);
  const [p, q] = b.node('Split', [g, sizes], { axis: 2 }, { outputs: 2 });
  let lo: string;
  let hi: string;
  if (portable) {
    const [d] = b.node('Sub', [p, q]);
    const [r] = b.node('Relu', [d]);
    lo = b.node('Sub', [p, r])[0];
    hi = b.node('Add', [q, r])[0];
  } else {
    lo = b.node('Min', [p, q])[0];
    hi = b.node('Max', [p, q])[0];
  }
  return reshape(b, b.node('Concat', [lo, hi], { axis: 2 })[0], [c, h, w]);
}

/** GroupSort(n) with TopK (ascending) within groups. */
export function groupSortTopK(b: GraphBuilder, x: string, c: number, h: number, w: number, n: number): string {
  const g = reshape(b, x, [c / n, n, h * w]);
  const k = b.initializer(b.fresh('k'), [n], [1]);
  const [sorted] = b.node('TopK', [g, k], { axis: 2, largest: 0, sorted: 1 }, { outputs: 2 });
  return reshape(b, sorted, [c, h, w]);
}

/**
 * `layers` GroupSort2 layers on [N, n] as the exporter's own emitter writes
 * them (input `x`, output `y`); with `skip`, the output is concatenated with
 * the input.
 */
export function groupSortStack(profile: Profile, layers: number, n: number, skip = false): Uint8Array {
  const emitter = EMITTERS.find(([cls]) => cls === 'Lip>GroupSort2')![1];
  const b = new GraphBuilder({ opset: 17 });
  b.input('x', 'float32', ['N', n]);
  let x = 'x';
  for (let i = 0; i < layers; i++) {
    const ctx: EmitContext = {
      b,
      profile,
      x,
      inShape: [n],
      outShape: [n],
      what: `layer 'gs${i}' (GroupSort2)`,
      layer: { name: `gs${i}`, kCoefLip: 1, getConfig: () => ({}) } as unknown as EmitContext['layer'],
      config: { kCoefLip: 1 },
    };
    x = emitter(ctx);
  }
  if (skip) [x] = b.node('Concat', [x, 'x'], { axis: 1 });
  b.node('Identity', [x], {}, { outputs: ['y'] });
  b.output('y', ['N', skip ? 2 * n : n]);
  return b.toBytes();
}

export interface StackOptions {
  profile: 'default' | 'portable';
  /** Multiply every weight by this (a model that is not 1-Lipschitz). Default 1. */
  weightScale?: number;
  seed?: number;
}

/**
 * conv(3x3, same) -> GroupSort2 -> L2 pool 2x2 -> conv(3x3, valid, stride 1) ->
 * GroupSort4 (TopK; sorting network in portable) -> flatten -> Gemm, on [1, 8, 8]
 * images, 10 classes. Weights are random (not Lipschitz-normalized).
 */
export function convStackModel(opts: StackOptions): Uint8Array {
  const seed = opts.seed ?? 1;
  const ws = opts.weightScale ?? 1;
  const portable = opts.profile === 'portable';
  const { b, x } = imageBuilder([1, 8, 8]);
  const w1 = b.initializer('W1', uniformArray(4 * 1 * 3 * 3, seed, -0.5 * ws, 0.5 * ws), [4, 1, 3, 3]);
  const b1 = b.initializer('B1', uniformArray(4, seed + 1, -0.1 * ws, 0.1 * ws), [4]);
  const [c1] = b.node('Conv', [x, w1, b1], { kernel_shape: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], group: 1 });
  const g1 = groupSort2(b, c1, 4, 8, 8, portable);
  let pooled: string;
  if (portable) {
    const [sq] = b.node('Mul', [g1, g1]);
    const [avg] = b.node('AveragePool', [sq], { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], count_include_pad: 0 });
    pooled = times(b, b.node('Sqrt', [avg])[0], 2);
  } else {
    pooled = b.node('LpPool', [g1], { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], p: 2 })[0];
  }
  const w2 = b.initializer('W2', uniformArray(8 * 4 * 3 * 3, seed + 2, -0.3 * ws, 0.3 * ws), [8, 4, 3, 3]);
  const [c2] = b.node('Conv', [pooled, w2], { kernel_shape: [3, 3], pads: [0, 0, 0, 0] });
  let g2: string;
  if (portable) {
    // GroupSort4 as a sorting network of compare-exchanges on 4 lanes.
    const g = reshape(b, c2, [2, 4, 4]);
    const sizes = b.initializer(b.fresh('split'), [1, 1, 1, 1], [4]);
    const lanes = [...b.node('Split', [g, sizes], { axis: 2 }, { outputs: 4 })];
    for (const [i, j] of [
      [0, 1],
      [2, 3],
      [0, 2],
      [1, 3],
      [1, 2],
    ]) {
      const [d] = b.node('Sub', [lanes[i], lanes[j]]);
      const [r] = b.node('Relu', [d]);
      const lo = b.node('Sub', [lanes[i], r])[0];
      const hi = b.node('Add', [lanes[j], r])[0];
      lanes[i] = lo;
      lanes[j] = hi;
    }
    g2 = reshape(b, b.node('Concat', lanes, { axis: 2 })[0], [8, 2, 2]);
  } else {
    g2 = groupSortTopK(b, c2, 8, 2, 2, 4);
  }
  const [flat] = b.node('Flatten', [g2], { axis: 1 });
  const w3 = b.initializer('W3', uniformArray(32 * 10, seed + 3, -0.3 * ws, 0.3 * ws), [32, 10]);
  const b3 = b.initializer('B3', uniformArray(10, seed + 4, -0.1 * ws, 0.1 * ws), [10]);
  const [y] = b.node('Gemm', [flat, w3, b3], { transA: 0, transB: 0 });
  b.node('Identity', [y], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 10]);
  b.setMetadata('lipschitz_constant', '1');
  b.setMetadata('input_range', '[0, 1]');
  b.setMetadata('profile', opts.profile);
  return b.toBytes();
}

/**
 * A purely linear classifier `f(x) = W x + c` on [1, h, w] images, with the
 * rows of W orthonormal (so every row difference has norm sqrt(2) and the
 * multiclass certificate (top1 - top2) / sqrt(2) is the exact distance to the
 * nearest boundary, ignoring the [0, 1] box). `scale` multiplies W and c.
 */
export function orthonormalLinearModel(
  h: number,
  w: number,
  classes: number,
  seed: number,
  scale = 1,
  lipschitz = 1,
): { bytes: Uint8Array; W: Float64Array; c: Float64Array } {
  const d = h * w;
  const W = orthonormalRows(classes, d, seed);
  const c = Float64Array.from(uniformArray(classes, seed + 7, -0.2, 0.2));
  const { b, x } = imageBuilder([1, h, w]);
  const [flat] = b.node('Flatten', [x], { axis: 1 });
  // Gemm B is [in, out] = W^T.
  const wt = new Float32Array(d * classes);
  for (let i = 0; i < classes; i++) for (let p = 0; p < d; p++) wt[p * classes + i] = W[i * d + p] * scale;
  const wName = b.initializer('W', wt, [d, classes]);
  const cName = b.initializer(
    'c',
    Float32Array.from(c, (v) => v * scale),
    [classes],
  );
  b.node('Gemm', [flat, wName, cName], {}, { outputs: ['logits'] });
  b.output('logits', ['N', classes]);
  b.setMetadata('lipschitz_constant', String(lipschitz));
  b.setMetadata('input_range', '[0, 1]');
  b.setMetadata('class_names', JSON.stringify(Array.from({ length: classes }, (_, i) => `class ${i}`)));
  return { bytes: b.toBytes(), W, c };
}

/**
 * An honest 1-Lipschitz conv net on [1, 6, 6] images, 10 classes:
 * Conv(1 -> 2, 3x3, same) with ||k_c||_1 = 1/sqrt(2) per output channel
 * (Young: ||k * x|| <= ||k||_1 ||x||, so the conv is 1-Lipschitz) -> GroupSort2 ->
 * L2 pool 2x2 (LpPool; portable: sqrt(AveragePool(x^2)) * 2) -> Flatten -> Gemm
 * with orthonormal rows (10 x 18). `scale` multiplies the first conv and the head
 * (a model that is not 1-Lipschitz when scale > 1) while the metadata keeps claiming L = 1.
 */
export function honestConvModel(seed: number, profile: 'default' | 'portable' = 'default', scale = 1): Uint8Array {
  const { b, x } = imageBuilder([1, 6, 6]);
  const k = uniformArray(2 * 9, seed);
  for (let c = 0; c < 2; c++) {
    let l1 = 0;
    for (let p = 0; p < 9; p++) l1 += Math.abs(k[c * 9 + p]);
    for (let p = 0; p < 9; p++) k[c * 9 + p] *= scale / Math.SQRT2 / l1;
  }
  const w1 = b.initializer('W1', k, [2, 1, 3, 3]);
  const [c1] = b.node('Conv', [x, w1], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const g = groupSort2(b, c1, 2, 6, 6, profile === 'portable');
  let pooled: string;
  if (profile === 'portable') {
    const [sq] = b.node('Mul', [g, g]);
    const [avg] = b.node('AveragePool', [sq], { kernel_shape: [2, 2], strides: [2, 2], count_include_pad: 0 });
    pooled = times(b, b.node('Sqrt', [avg])[0], 2);
  } else {
    pooled = b.node('LpPool', [g], { kernel_shape: [2, 2], strides: [2, 2], p: 2 })[0];
  }
  const [flat] = b.node('Flatten', [pooled], { axis: 1 });
  const W = orthonormalRows(10, 18, seed + 1);
  const wt = new Float32Array(18 * 10);
  for (let i = 0; i < 10; i++) for (let p = 0; p < 18; p++) wt[p * 10 + i] = W[i * 18 + p] * scale;
  const bias = b.initializer('B', uniformArray(10, seed + 2, -0.05, 0.05), [10]);
  b.node('Gemm', [flat, b.initializer('W2', wt, [18, 10]), bias], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 10]);
  b.setMetadata('lipschitz_constant', '1');
  b.setMetadata('input_range', '[0, 1]');
  return b.toBytes();
}

/**
 * The reference network's shape on MNIST-size input: conv 3x3 1->16 (same) ->
 * GroupSort2 -> L2 pool 2x2 -> conv 3x3 16->32 (same) -> GroupSort2 -> L2 pool
 * 2x2 -> flatten (1568) -> Gemm 10. Random weights with ||k_c||_1 <= 1/sqrt(cout)
 * style scaling (not a certified model; for timing and translation checks).
 */
export function referenceConvModel(seed: number, profile: 'default' | 'portable' = 'default'): Uint8Array {
  const { b, x } = imageBuilder([1, 28, 28]);
  const portable = profile === 'portable';
  const pool = (v: string): string => {
    if (!portable) return b.node('LpPool', [v], { kernel_shape: [2, 2], strides: [2, 2], p: 2 })[0];
    const [sq] = b.node('Mul', [v, v]);
    const [avg] = b.node('AveragePool', [sq], { kernel_shape: [2, 2], strides: [2, 2], count_include_pad: 0 });
    return times(b, b.node('Sqrt', [avg])[0], 2);
  };
  const c1 = b.node(
    'Conv',
    [x, b.initializer('W1', uniformArray(16 * 9, seed, -0.3, 0.3), [16, 1, 3, 3]), b.initializer('B1', uniformArray(16, seed + 1, -0.05, 0.05), [16])],
    { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  )[0];
  const p1 = pool(groupSort2(b, c1, 16, 28, 28, portable));
  const c2 = b.node(
    'Conv',
    [
      p1,
      b.initializer('W2', uniformArray(32 * 16 * 9, seed + 2, -0.08, 0.08), [32, 16, 3, 3]),
      b.initializer('B2', uniformArray(32, seed + 3, -0.05, 0.05), [32]),
    ],
    { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  )[0];
  const p2 = pool(groupSort2(b, c2, 32, 14, 14, portable));
  const [flat] = b.node('Flatten', [p2], { axis: 1 });
  b.node(
    'Gemm',
    [flat, b.initializer('W3', uniformArray(1568 * 10, seed + 4, -0.03, 0.03), [1568, 10]), b.initializer('B3', uniformArray(10, seed + 5, -0.05, 0.05), [10])],
    {},
    { outputs: ['logits'] },
  );
  b.output('logits', ['N', 10]);
  b.setMetadata('lipschitz_constant', '1');
  b.setMetadata('input_range', '[0, 1]');
  return b.toBytes();
}

/**
 * A classifier with no global Lipschitz bound: a = W1 flatten(x), then
 * logits = W2 (relu(a) * a), the product of two activations. `lipschitz`
 * (metadata lipschitz_constant) is written when given.
 */
export function productModel(h: number, w: number, classes: number, seed: number, lipschitz?: number): Uint8Array {
  const d = h * w;
  const hidden = 16;
  const { b, x } = imageBuilder([1, h, w]);
  const [flat] = b.node('Flatten', [x], { axis: 1 });
  const amp = 2 / Math.sqrt(d);
  const [a] = b.node('Gemm', [flat, b.initializer('W1', uniformArray(d * hidden, seed, -amp, amp), [d, hidden])]);
  const [r] = b.node('Relu', [a]);
  const [prod] = b.node('Mul', [r, a]);
  b.node('Gemm', [prod, b.initializer('W2', uniformArray(hidden * classes, seed + 1), [hidden, classes])], {}, { outputs: ['logits'] });
  b.output('logits', ['N', classes]);
  if (lipschitz !== undefined) b.setMetadata('lipschitz_constant', String(lipschitz));
  return b.toBytes();
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

const PYTHON_CANDIDATES = ['python3', '/usr/bin/python3'];
let pythonFound: string | null | undefined;

/** A python3 that can `import onnx`, or null. pyenv shims may hide Debian's python3-onnx, so try /usr/bin too. */
export function pythonWithOnnx(): string | null {
  if (pythonFound !== undefined) return pythonFound;
  pythonFound = null;
  for (const py of PYTHON_CANDIDATES) {
    const r = spawnSync(py, ['-c', 'import onnx'], { encoding: 'utf8' });
    if (r.status === 0) {
      pythonFound = py;
      break;
    }
  }
  return pythonFound;
}

/** Runs `onnx.checker.check_model(onnx.load(path), full_check=True)` on a file or on bytes; returns stderr on failure, '' on success. */
export function onnxFullCheck(python: string, model: string | Uint8Array): string {
  if (typeof model !== 'string') {
    const dir = makeTmpDir('onnx-check');
    try {
      const file = path.join(dir, 'm.onnx');
      fs.writeFileSync(file, model);
      return onnxFullCheck(python, file);
    } finally {
      removeDir(dir);
    }
  }
  const r = spawnSync(python, ['-c', 'import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', model], { encoding: 'utf8' });
  return r.status === 0 ? '' : r.stderr || `exit ${r.status}`;
}
