/**
 * Regressions of issue 19 (a differential fuzz of `lip bound`): each graph
 * here was bounded below its true Lipschitz constant, crashed the bound, or
 * made it hang. Every unsound case checks the bound against a lower bound
 * measured independently in onnxruntime (the matrix of a linear graph from
 * its outputs on unit vectors, or difference quotients of constructed input
 * pairs); crash and hang cases must end cleanly within a generous time.
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { GraphBuilder, attr } from '@lip/export';
import { ModelError } from '@lip/train';
import { uniformArray } from '@lip/test-support';
import { sigmaMax } from '@lip/test-support/linalg';
import { groupSortStack } from '@lip/test-support/onnx';
import { certify, headAwareCertificates } from '../certificates';
import { lipschitzBound } from './lipschitz';

/** onnxruntime's outputs for a batch of inputs (float32 or float64). */
async function run(bytes: Uint8Array, x: Float32Array | Float64Array, dims: number[]): Promise<Float64Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  const type = x instanceof Float64Array ? 'float64' : 'float32';
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor(type, x, dims) });
  await session.release();
  return Float64Array.from(out[session.outputNames[0]].data as Float32Array);
}

/**
 * Largest difference quotient ||f(t e_i) - f(0)|| / t over the unit vectors
 * e_i of an input of `dims` (batch 1, one run each): a lower bound on the
 * Lipschitz constant; for a linear graph the largest column norm.
 */
async function unitVectorLowerBound(bytes: Uint8Array, dims: number[], t = 1): Promise<{ lower: number; matrix: Float64Array; outSize: number }> {
  const n = dims.slice(1).reduce((a, d) => a * d, 1);
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  const at = async (i: number): Promise<Float64Array> => {
    const x = new Float32Array(n);
    if (i >= 0) x[i] = t;
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [1, ...dims.slice(1)]) });
    return Float64Array.from(out[session.outputNames[0]].data as Float32Array);
  };
  const y0 = await at(-1);
  const m = y0.length;
  const matrix = new Float64Array(m * n);
  let lower = 0;
  for (let i = 0; i < n; i++) {
    const y = await at(i);
    let s = 0;
    for (let j = 0; j < m; j++) {
      const d = (y[j] - y0[j]) / t;
      matrix[j * n + i] = d;
      s += d * d;
    }
    lower = Math.max(lower, Math.sqrt(s));
  }
  await session.release();
  return { lower, matrix, outSize: m };
}

/** sigma_max of the linear graph's matrix measured in onnxruntime: its exact Lipschitz constant (to float32 rounding). */
async function linearConstant(bytes: Uint8Array, dims: number[]): Promise<number> {
  const { matrix, outSize } = await unitVectorLowerBound(bytes, dims);
  return sigmaMax(
    matrix,
    outSize,
    dims.slice(1).reduce((a, d) => a * d, 1),
  );
}

/** The bound is at least `lower` (up to float32 rounding of the measurement). */
function expectSound(bound: number, lower: number): void {
  expect(lower).toBeGreaterThan(0);
  expect(bound).toBeGreaterThanOrEqual(lower * (1 - 1e-5));
}

describe('issue 19: AveragePool / LpPool geometry', () => {
  it('AveragePool ceil_mode, count_include_pad = 1, kernel 3 stride 3 on 4x4: the last windows average 1 cell, not 3', async () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 1, 4, 4]);
    b.node('AveragePool', ['x'], { kernel_shape: [3, 3], strides: [3, 3], ceil_mode: 1, count_include_pad: 1 }, { outputs: ['y'] });
    b.output('y', ['N', 1, 2, 2]);
    const bytes = b.toBytes();
    const truth = await linearConstant(bytes, [1, 1, 4, 4]);
    expect(truth).toBeCloseTo(1, 5);
    expectSound(lipschitzBound(bytes).total, truth);
  });

  it('the 1-D case, and with dilations (opset 19)', async () => {
    for (const [n, attrs] of [
      [4, { kernel_shape: [3], strides: [3], ceil_mode: 1, count_include_pad: 1 }],
      [8, { kernel_shape: [2], strides: [3], dilations: [3], ceil_mode: 1, count_include_pad: 1 }],
    ] as const) {
      const b = new GraphBuilder({ opset: 19 });
      b.input('x', 'float32', ['N', 1, n]);
      b.node('AveragePool', ['x'], { ...attrs }, { outputs: ['y'] });
      b.output('y', ['N', 1, 'o']);
      const bytes = b.toBytes();
      expectSound(lipschitzBound(bytes).total, await linearConstant(bytes, [1, 1, n]));
    }
  });

  it('the L2 pool Sqrt(AveragePool(x*x)) with ceil_mode and count_include_pad = 1', async () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 1, 4, 4]);
    const [sq] = b.node('Mul', ['x', 'x']);
    const [avg] = b.node('AveragePool', [sq], { kernel_shape: [3, 3], strides: [3, 3], ceil_mode: 1, count_include_pad: 1 });
    b.node('Sqrt', [avg], {}, { outputs: ['y'] });
    b.output('y', ['N', 1, 2, 2]);
    const bytes = b.toBytes();
    // f(0) = 0 and f is positively homogeneous: ||f(e_p)|| is a difference quotient.
    const { lower } = await unitVectorLowerBound(bytes, [1, 1, 4, 4]);
    expect(lower).toBeCloseTo(1, 5);
    expectSound(lipschitzBound(bytes).total, lower);
  });

  it('LpPool uses its dilations: kernel 2, dilation 7 on 8 cells is one window, which a broadcast Add copies 7 times', async () => {
    const b = new GraphBuilder({ opset: 18 });
    b.input('x', 'float32', ['N', 1, 8]);
    const [p] = b.node('LpPool', ['x'], { kernel_shape: [2], dilations: [7], p: 2 });
    b.node('Add', [p, b.initializer('c', new Float32Array(7), [7])], {}, { outputs: ['y'] });
    b.output('y', ['N', 1, 7]);
    const bytes = b.toBytes();
    const { lower } = await unitVectorLowerBound(bytes, [1, 1, 8]);
    expect(lower).toBeCloseTo(Math.sqrt(7), 5);
    expectSound(lipschitzBound(bytes).total, lower);
  });
});

describe('issue 19: shapes and integer constants', () => {
  it('Flatten with axis -1 keeps the last axis apart, so a following broadcast copies each element 8 times', async () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 8]);
    const [f] = b.node('Flatten', ['x'], { axis: -1 });
    b.node('Add', [f, b.initializer('c', new Float32Array(8), [8, 1])], {}, { outputs: ['y'] });
    b.output('y', [8, 8]);
    const bytes = b.toBytes();
    const { lower } = await unitVectorLowerBound(bytes, [1, 8]);
    expect(lower).toBeCloseTo(Math.sqrt(8), 5);
    expectSound(lipschitzBound(bytes).total, lower);
  });

  /** x[:, start:end] (int64 constants computed by `op`), then a broadcast Add against `width` columns. */
  function sliced(op: 'Div' | 'Sub', a: bigint, c: bigint, which: 'starts' | 'ends', width: number): Uint8Array {
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 4]);
    const [v] = b.node(op, [b.initializer('a', BigInt64Array.of(a), [1]), b.initializer('c', BigInt64Array.of(c), [1])]);
    const starts = which === 'starts' ? v : b.initializer('s', [0], [1]);
    const ends = which === 'ends' ? v : b.initializer('e', [4], [1]);
    const [s] = b.node('Slice', ['x', starts, ends, b.initializer('axes', [1], [1])]);
    b.node('Add', [s, b.initializer('zero', new Float32Array(width), [1, width])], {}, { outputs: ['y'] });
    b.output('y', ['N', width]);
    return b.toBytes();
  }

  it('int64 Div truncates (3 / 2 = 1): the slice has 1 column, which the Add copies twice', async () => {
    const bytes = sliced('Div', 3n, 2n, 'ends', 2);
    const { lower } = await unitVectorLowerBound(bytes, [1, 4]);
    expect(lower).toBeCloseTo(Math.SQRT2, 5);
    expectSound(lipschitzBound(bytes).total, lower);
  });

  it('int64 arithmetic is exact beyond int32 and 2^53: (2^31 + 7) - (2^31 + 4) = 3, (2^60 + 3) - 2^60 = 3', async () => {
    for (const [a, c] of [
      [2n ** 31n + 7n, 2n ** 31n + 4n],
      [2n ** 60n + 3n, 2n ** 60n],
    ]) {
      const bytes = sliced('Sub', a, c, 'starts', 4);
      const { lower } = await unitVectorLowerBound(bytes, [1, 4]);
      expect(lower).toBeCloseTo(2, 5);
      expectSound(lipschitzBound(bytes).total, lower);
    }
  });

  it('Gather and Slice with an index from an int64 Div: a clean, sound bound, no crash', async () => {
    for (const op of ['Gather', 'Slice']) {
      const b = new GraphBuilder({ opset: 17 });
      b.input('x', 'float32', ['N', 4]);
      const [r] = b.node('Relu', ['x']);
      const [idx] = b.node('Div', [b.initializer('a', [3], [1]), b.initializer('c', [2], [1])]);
      const [g] =
        op === 'Gather' ? b.node('Gather', [r, idx], { axis: 1 }) : b.node('Slice', [r, idx, b.initializer('e', [4], [1]), b.initializer('axes', [1], [1])]);
      b.node('Relu', [g], {}, { outputs: ['y'] });
      b.output('y', ['N', 'k']);
      const bytes = b.toBytes();
      const res = lipschitzBound(bytes);
      expect(res.total).toBe(1);
      expectSound(res.total, (await unitVectorLowerBound(bytes, [1, 4])).lower);
    }
  });
});

describe('issue 19: underflow and head-aware certificates', () => {
  it('a float64 Gemm with weights near 1e-200 gets a positive bound above its norm', async () => {
    const w = [1, 2, 3, -4, 0.5, 6].map((v) => v * 1e-200);
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float64', ['N', 2]);
    const weight = { name: 'W', dims: [2, 3], dataType: onnx.TensorProto.DataType.DOUBLE, doubleData: w };
    const [c] = b.node('Constant', [], { value: attr.tensor(weight) });
    b.node('Gemm', ['x', c], {}, { outputs: ['y'] });
    b.output('y', ['N', 3], 'float64');
    const bytes = b.toBytes();
    const y = await run(bytes, Float64Array.of(1, 0, 0, 1), [2, 2]);
    const columns = [Math.hypot(y[0], y[1], y[2]), Math.hypot(y[3], y[4], y[5])];
    expect(columns[0]).toBeGreaterThan(0);
    const truth =
      sigmaMax(
        w.map((v) => v * 1e200),
        2,
        3,
      ) * 1e-200;
    const res = lipschitzBound(bytes);
    expect(res.total).toBeGreaterThanOrEqual(Math.max(...columns));
    expect(res.total).toBeGreaterThanOrEqual(truth);
    expect(res.total).toBeLessThan(truth * 1.001);
  });

  it('a head whose Gemm C depends on x is not used for head-aware certificates: every certificate stays below the true distance', async () => {
    // logits = (x W1) W + x W2 with W1 = I: f_0 - f_1 = 3 x_0, so the decision boundary is at distance (f_0 - f_1) / 3.
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 3]);
    const [h] = b.node('MatMul', ['x', b.initializer('W1', Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1), [3, 3])]);
    const [cx] = b.node('MatMul', ['x', b.initializer('W2', Float32Array.of(2, 0, 0, 0, 0, 0), [3, 2])]);
    b.node('Gemm', [h, b.initializer('W', Float32Array.of(1, 0, 0, 0, 0, 0), [3, 2]), cx], {}, { outputs: ['logits'] });
    b.output('logits', ['N', 2]);
    const bytes = b.toBytes();
    const res = lipschitzBound(bytes);
    const xs = Float32Array.of(0.5, 0.1, 0.2, -0.3, 0.4, 0.9, 0.05, -1, 2);
    const logits = await run(bytes, xs, [3, 3]);
    const certs = certify(Float32Array.from(logits), 2, { lipschitz: res.total, head: res.head }).certificates;
    for (let i = 0; i < 3; i++) {
      const distance = Math.abs(logits[2 * i] - logits[2 * i + 1]) / 3;
      expect(certs[i]).toBeLessThanOrEqual(distance * (1 + 1e-6));
    }
    if (res.head) {
      // Whatever head is reported, its body bound must make the head-aware radii sound too.
      const tight = headAwareCertificates(Float32Array.from(logits), res.head, res.head.bodyLipschitz);
      for (let i = 0; i < 3; i++) expect(tight[i]).toBeLessThanOrEqual((Math.abs(logits[2 * i] - logits[2 * i + 1]) / 3) * (1 + 1e-6));
    }
  });
});

describe('fuzz findings: TopK', () => {
  it('refuses TopK with sorted = 0 (its K values come in an unspecified order: not continuous)', () => {
    const b = new GraphBuilder({ opset: 16 });
    b.input('x', 'float32', ['N', 47]);
    b.node('TopK', ['x', b.initializer('k', [15], [1])], { axis: 1, sorted: 0 }, { outputs: ['y', 'i'], name: 'top' });
    b.output('y', ['N', 15]);
    expect(() => lipschitzBound(b.toBytes())).toThrow(ModelError);
    expect(() => lipschitzBound(b.toBytes())).toThrow(/'top' \(TopK with sorted = 0\) returns its 15 values in an unspecified order/);
  });
});

describe('the symbolic engine refuses an activation output used twice', () => {
  it.each([
    ['Relu', 1],
    ['Min', 2],
  ] as const)('two %s nodes on the same inputs, concatenated: bounded by sqrt(2), not 1', async (op, arity) => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 4]);
    const [l, r] = arity === 1 ? ['x', ''] : b.node('Split', ['x', b.initializer('s', [2, 2], [2])], { axis: 1 }, { outputs: 2 });
    const ins = arity === 1 ? [l] : [l, r];
    b.node('Concat', [b.node(op, ins)[0], b.node(op, ins)[0]], { axis: 1 }, { outputs: ['y'] });
    b.output('y', ['N', arity === 1 ? 8 : 4]);
    const bytes = b.toBytes();
    const { lower } = await unitVectorLowerBound(bytes, [1, 4], arity === 1 ? 1 : -1);
    expect(lower).toBeCloseTo(Math.SQRT2, 5);
    expectSound(lipschitzBound(bytes).total, lower);
  });
});

describe('issue 19: work limits (each finishes with a sound bound instead of hanging)', () => {
  jest.setTimeout(600_000);

  it('a 1->1 conv with a 1x3 kernel on 1000x1000 inputs (Lanczos reorthogonalization counted)', () => {
    const k = [0.3, 0.4, 0.2];
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 1, 1000, 1000]);
    b.node('Conv', ['x', b.initializer('W', Float32Array.from(k), [1, 1, 1, 3])], { kernel_shape: [1, 3], pads: [0, 1, 0, 1] }, { outputs: ['y'] });
    b.output('y', ['N', 1, 1000, 1000]);
    const t0 = Date.now();
    const res = lipschitzBound(b.toBytes());
    const seconds = (Date.now() - t0) / 1000;
    // ||conv(1)|| / ||1||: every row is [0.6, 0.9, ..., 0.9, 0.7].
    const lower = Math.sqrt((0.6 ** 2 + 998 * 0.9 ** 2 + 0.7 ** 2) / 1000);
    expectSound(res.total, lower);
    expect(res.layers[0].method).toMatch(/circular-convolution spectrum/);
    expect(seconds).toBeLessThan(60);
  });

  it.each(['default', 'portable'] as const)(
    '24 GroupSort2 layers on 2^19 elements, %s profile (symbolic memory and work bounded; blocks cut where both parts stay recognized)',
    (profile) => {
      const n = 2 ** 19;
      const bytes = groupSortStack(profile, 24, n);
      const t0 = Date.now();
      const res = lipschitzBound(bytes);
      // GroupSort2 keeps x whenever every pair is already sorted: the constant is at least 1.
      expect(res.total).toBeGreaterThanOrEqual(1);
      expect(res.total).toBeLessThan(1 + 1e-9);
      expect((Date.now() - t0) / 1000).toBeLessThan(180);
    },
  );

  it('a 2048x2048 Gemm (dense work limit: a block bound, said so in the layer table)', () => {
    const n = 2048;
    const w = uniformArray(n * n, 7, -0.5, 0.5);
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', n]);
    b.node('Gemm', ['x', b.initializer('W', w, [n, n])], {}, { outputs: ['y'] });
    b.output('y', ['N', n]);
    const t0 = Date.now();
    const res = lipschitzBound(b.toBytes());
    const seconds = (Date.now() - t0) / 1000;
    // Power iteration from below: ||W^T W v|| / ||W v|| <= ||W||.
    let v = new Float64Array(n).fill(1);
    let lower = 0;
    for (let it = 0; it < 8; it++) {
      const u = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += w[i * n + j] * v[j];
        u[i] = acc;
      }
      const z = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) z[j] += w[i * n + j] * u[i];
      const nu = Math.hypot(...u);
      lower = Math.max(lower, Math.hypot(...z) / nu);
      const nz = Math.hypot(...z);
      v = z.map((q) => q / nz);
    }
    expectSound(res.total, lower);
    expect(res.layers[0].method).toMatch(/block bound .* over the work limit/);
    expect(seconds).toBeLessThan(120);
  });
});
