/**
 * `lip bound` on issue 16's residual layers as @lip/export writes them: the
 * bound is at most the claimed constant (1) and at least the measured one
 * (Jacobian norms in tfjs, in float64, and pair ratios in onnxruntime). The
 * SLL rule (./residual.ts) certifies exactly 1 only from the weights: a
 * second map that is not exactly the first one's transpose, negative or too
 * large scales, or a certificate over the work limit fall back to the
 * generic sum (sound, looser).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl } from '@tensorflow/tfjs-layers';
import { exportOnnx, GraphBuilder } from '@lip/export';
import { onnx } from 'onnx-proto';
import * as L from '@lip/train';
import { uniformStream } from '@lip/test-support';
import { sigmaMax, symmetricEigenvalues } from '@lip/test-support/linalg';
import { measuredPairRatio } from '@lip/test-support/ort';
import { QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';
import { lipschitzBound } from './lipschitz';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function lipModel(inputShape: number[], make: () => tfl.Layer[], seed: number): L.LipschitzSequential {
  const model = new L.LipschitzSequential({ layers: [tfl.inputLayer({ inputShape }), ...make()], logger: QUIET_LOGGER });
  if (model.outputs[0].shape.length > 2) model.add(tfl.flatten());
  randomizeWeights(model, seed, 0.7, 0.3);
  model.updateConstraints(300);
  return model;
}

/** Largest Jacobian norm (float64 SVD of the explicit Jacobian) of the model at `points` random inputs. */
function measuredJacobian(model: L.LipschitzSequential, points: number, seed: number): number {
  const shape = model.inputs[0].shape.slice(1) as number[];
  const d = shape.reduce((a, b) => a * b, 1);
  const outs = model.outputs[0].shape[1] as number;
  let worst = 0;
  for (let p = 0; p < points; p++) {
    const x = tf.randomNormal([1, ...shape], 0, 1, 'float32', seed + p);
    const rows = new Float64Array(outs * d);
    for (let j = 0; j < outs; j++) {
      const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.slice(model.apply(t) as tf.Tensor, [0, j], [1, 1])))(x));
      rows.set(g.dataSync(), j * d);
      g.dispose();
    }
    worst = Math.max(worst, sigmaMax(rows, outs, d));
  }
  return worst;
}

const CASES: { name: string; input: number[]; make: () => tfl.Layer[] }[] = [
  { name: 'SLLDense', input: [8], make: () => [new L.SLLDense({ seed: 1 })] },
  { name: 'SLLDense, inner 13', input: [6], make: () => [new L.SLLDense({ innerUnits: 13, seed: 2 })] },
  { name: 'two SLLDense', input: [5], make: () => [new L.SLLDense({ innerUnits: 3, seed: 3 }), new L.SLLDense({ seed: 4 })] },
  { name: 'SLLConv2D 3x3', input: [4, 4, 2], make: () => [new L.SLLConv2D({ innerChannels: 3, seed: 5 })] },
  { name: 'SLLConv2D 3x1, no bias', input: [5, 3, 2], make: () => [new L.SLLConv2D({ kernelSize: [3, 1], useBias: false, seed: 6 })] },
  {
    name: 'AOLConv2D, AOLDense',
    input: [4, 4, 2],
    make: () => [new L.AOLConv2D({ filters: 3, kernelSize: 3, seed: 7 }), tfl.flatten(), new L.AOLDense({ units: 5, seed: 8 })],
  },
  {
    name: 'LipResidual (alpha 1/2) around SpectralDense, GroupSort2, AOLDense',
    input: [6],
    make: () => [new L.LipResidual({ layers: [new L.SpectralDense({ units: 6, seed: 9 }), new L.GroupSort2(), new L.AOLDense({ units: 6, seed: 10 })] })],
  },
  {
    name: 'LipResidual (alpha 0.9) around SLLConv2D',
    input: [3, 3, 2],
    make: () => [new L.LipResidual({ layers: [new L.SLLConv2D({ seed: 11 })], alpha: 0.9 })],
  },
];

describe('lipschitzBound of exported residual layers: <= the claim, >= the measured constant', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const model = lipModel(c.input, c.make, 20);
    const bytes = exportOnnx(model);
    const claim = Number(onnx.ModelProto.decode(bytes).metadataProps.find((p) => p.key === 'lipschitz_constant')!.value);
    expect(claim).toBe(1);
    const r = lipschitzBound(bytes);
    expect(r.warnings).toEqual([]);
    expect(r.total).toBeLessThanOrEqual(claim);
    const measured = measuredJacobian(model, 3, 5);
    expect(r.total).toBeGreaterThanOrEqual(measured * (1 - 1e-6));
    const dims = c.input.length === 3 ? [c.input[2], c.input[0], c.input[1]] : c.input;
    expect(r.total).toBeGreaterThanOrEqual((await measuredPairRatio(bytes, dims, 6, 3, () => 0.05)) * (1 - 1e-5));
    const sll = r.layers.filter((l) => l.op === 'SLL');
    expect(sll.length).toBe(model.layers.filter((l) => l.getClassName().startsWith('Lip>SLL')).length + (c.name.includes('around SLL') ? 1 : 0));
    for (const row of sll) {
      expect(row.factor).toBe(1);
      expect(row.method).toMatch(/certified \|\|diag\(g\)\^1\/2 A\|\|\^2 <= [0-9.e-]+ <= 2: 1-Lipschitz/);
    }
    model.dispose();
  });
});

/** `x - A^T diag(g) relu(A x + b)` on [n] as Gemm/Relu/Mul/Gemm/Sub, A `[k, n]`; `a2` replaces the second Gemm's A (transB = 0). */
function sllGraph(a: Float32Array, k: number, n: number, g: Float32Array, bias: Float32Array, a2: Float32Array = a): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', n]);
  const h = b.node('Gemm', ['input', b.initializer('A', a, [k, n]), b.initializer('b', bias, [k])], { transB: 1 })[0];
  const r = b.node('Relu', [h])[0];
  const u = b.node('Mul', [r, b.initializer('g', g, [k])])[0];
  const z = b.node('Gemm', [u, a2 === a ? 'A' : b.initializer('A2', a2, [k, n])], { transB: 0 })[0];
  b.node('Sub', ['input', z], {}, { outputs: ['logits'] });
  b.output('logits', ['N', n]);
  return b.toBytes();
}

/** Random A `[k, n]` and its SLL scales g = 2 / T, T_i = sum_j |A A^T|_ij (q = 1), in float32. */
function sllWeights(k: number, n: number, seed: number): { a: Float32Array; g: Float32Array } {
  const rnd = uniformStream(seed, -1, 1);
  const a = Float32Array.from({ length: k * n }, rnd);
  const g = new Float32Array(k);
  for (let i = 0; i < k; i++) {
    let t = 0;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += a[i * n + c] * a[j * n + c];
      t += Math.abs(s);
    }
    g[i] = Math.fround((2 / t) * (1 - 1e-6));
  }
  return { a, g };
}

/** max |1 - lambda| over the eigenvalues of A^T diag(g) A: the Jacobian norm where every unit is active. */
function allActiveJacobianNorm(a: Float32Array, k: number, n: number, g: Float32Array): number {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) m[i * n + j] += a[t * n + i] * g[t] * a[t * n + j];
  return Math.max(...symmetricEigenvalues(m, n).map((l) => Math.abs(1 - l)));
}

describe('the SLL rule certifies only what the weights prove', () => {
  const k = 6;
  const n = 5;
  const { a, g } = sllWeights(k, n, 1);
  const activeBias = new Float32Array(k).fill(100); // every unit active near 0: the Jacobian is I - A^T diag(g) A

  it('SLL scales: 1, from the certificate', () => {
    const r = lipschitzBound(sllGraph(a, k, n, g, activeBias));
    expect(r.total).toBe(1);
    expect(r.layers.find((l) => l.op === 'SLL')!.method).toContain('<= 2: 1-Lipschitz');
  });

  it('a second map one ulp off the transpose: not recognized, the generic sum (above 1)', () => {
    const off = Float32Array.from(a);
    off[7] = Math.fround(off[7] * (1 + 2 ** -22));
    const r = lipschitzBound(sllGraph(a, k, n, g, activeBias, off));
    expect(r.layers.some((l) => l.op === 'SLL')).toBe(false);
    expect(r.total).toBeGreaterThan(1.5);
  });

  it('scales 3x too large (c > 2): factor c - 1, still above the exact constant and below the generic sum', async () => {
    const big = Float32Array.from(g, (v) => 3 * v);
    const bytes = sllGraph(a, k, n, big, activeBias);
    const r = lipschitzBound(bytes);
    const exact = allActiveJacobianNorm(a, k, n, big);
    expect(exact).toBeGreaterThan(1.2);
    expect(r.total).toBeGreaterThanOrEqual(exact);
    expect(r.total).toBeGreaterThanOrEqual(await measuredPairRatio(bytes, [n], 4, 3, () => 0.05));
    const row = r.layers.find((l) => l.op === 'SLL')!;
    expect(row.method).toContain('> 2: factor c - 1');
    const off = Float32Array.from(a);
    off[0] = Math.fround(off[0] * (1 + 2 ** -22));
    expect(r.total).toBeLessThan(lipschitzBound(sllGraph(a, k, n, big, activeBias, off)).total);
    // A second initializer with equal values is recognized as well.
    expect(lipschitzBound(sllGraph(a, k, n, big, activeBias, Float32Array.from(a))).total).toBe(r.total);
  });

  it('a negative scale: no certificate (the generic sum)', () => {
    const neg = Float32Array.from(g);
    neg[2] = -neg[2];
    const r = lipschitzBound(sllGraph(a, k, n, neg, activeBias));
    expect(r.total).toBeGreaterThan(1.5);
    expect(r.layers.find((l) => l.op === 'SLL')?.method ?? '').not.toContain('certified');
  });

  it('over the dense work limit: the generic sum, said in the method', () => {
    const r = lipschitzBound(sllGraph(a, k, n, g, activeBias), { limits: { denseWork: 10 } });
    expect(r.total).toBeGreaterThan(1.5);
    expect(r.layers.find((l) => l.op === 'SLL')!.method).toContain('over the work limit');
  });

  it('a conv whose second kernel is not flipped: not recognized', () => {
    const model = lipModel([4, 4, 2], () => [new L.SLLConv2D({ innerChannels: 3, seed: 5 })], 30);
    const bytes = exportOnnx(model);
    const m = onnx.ModelProto.decode(bytes);
    const convs = m.graph!.node.filter((nd) => nd.opType === 'Conv');
    const kt = m.graph!.initializer!.find((t) => t.name === convs[1].input![1])!;
    const v = new Float32Array(kt.rawData!.buffer.slice(kt.rawData!.byteOffset, kt.rawData!.byteOffset + kt.rawData!.byteLength));
    // Unflip: swap the first and last taps of the first kernel slice.
    [v[0], v[8]] = [v[8], v[0]];
    kt.rawData = new Uint8Array(v.buffer);
    const tampered = onnx.ModelProto.encode(m).finish();
    expect(lipschitzBound(bytes).total).toBeLessThanOrEqual(1);
    const r = lipschitzBound(tampered);
    expect(r.layers.some((l) => l.op === 'SLL')).toBe(false);
    expect(r.total).toBeGreaterThan(1);
    model.dispose();
  });
});
