/**
 * The bound's fallbacks past its work limits, on small graphs with lowered
 * limits (`BoundOptions.limits`): every fallback stays sound and says so in
 * the layer table; cutting a symbolic block where all its live values are
 * finished gates loses nothing.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, Profile } from '@lip/export';
import { uniformStream } from '@lip/test-support';
import { convSigmaMax, sigmaMax } from '@lip/test-support/linalg';
import { groupSortStack } from '@lip/test-support/onnx';
import { lipschitzBound } from './lipschitz';

/** Largest ||f(x) - f(x + d)|| / ||d|| over random points and small steps, in onnxruntime. */
async function observedSlope(bytes: Uint8Array, n: number, seed: number): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 });
  const r = uniformStream(seed, -0.5, 0.5);
  let worst = 0;
  for (let t = 0; t < 20; t++) {
    // Sorted pairs stay sorted under a small step: there the stack is locally the identity.
    const x = Float32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? -1 : 1) * (1 + i / n) + r() * 0.01);
    const y = Float32Array.from(x, (v) => v + r() * 1e-2);
    const out = (await session.run({ x: new ort.Tensor('float32', Float32Array.of(...x, ...y), [2, n]) })).y.data as Float32Array;
    const half = out.length / 2;
    let num = 0,
      den = 0;
    for (let i = 0; i < half; i++) num += (out[i] - out[half + i]) ** 2;
    for (let i = 0; i < n; i++) den += (x[i] - y[i]) ** 2;
    worst = Math.max(worst, Math.sqrt(num / den));
  }
  await session.release();
  return worst;
}

describe('symbolic limits', () => {
  it.each(['default', 'portable'] as Profile[])('%s: a block cut at clean points is still bounded by 1', (profile) => {
    const bytes = groupSortStack(profile, 6, 16);
    const full = lipschitzBound(bytes);
    const cut = lipschitzBound(bytes, { limits: { symbolicStore: 48 } });
    expect(full.total).toBe(1);
    expect(cut.total).toBe(1);
    expect(cut.layers.some((l) => /cut before node/.test(l.method))).toBe(true);
    expect(cut.warnings).toEqual([]);
  });

  it('a store smaller than one layer forces cuts anywhere: looser, still sound', async () => {
    const bytes = groupSortStack('portable', 3, 16);
    const res = lipschitzBound(bytes, { limits: { symbolicStore: 10 } });
    expect(res.total).toBeGreaterThanOrEqual((await observedSlope(bytes, 16, 1)) * (1 - 1e-5));
    expect(res.total).toBeGreaterThan(1);
    expect(res.warnings.join('\n')).toMatch(/cut before node .* where the block was not finished/);
  });

  it('past the symbolic work limit: composition, named in the table and a warning', async () => {
    const bytes = groupSortStack('default', 4, 16);
    const res = lipschitzBound(bytes, { limits: { symbolicWork: 40 } });
    expect(res.total).toBeGreaterThan(1);
    expect(res.total).toBeGreaterThanOrEqual((await observedSlope(bytes, 16, 2)) * (1 - 1e-5));
    expect(res.layers.some((l) => /work limit/.test(l.method))).toBe(true);
    expect(res.warnings.join('\n')).toMatch(/symbolic work limit/);
  });

  it('past the live limit, other stores are flushed: [GroupSort(x), x] stays above sqrt(2)', async () => {
    const bytes = groupSortStack('default', 3, 16, true);
    const res = lipschitzBound(bytes, { limits: { symbolicLive: 40 } });
    const lower = await observedSlope(bytes, 16, 3);
    expect(lower).toBeCloseTo(Math.SQRT2, 4);
    expect(res.total).toBeGreaterThanOrEqual(lower * (1 - 1e-5));
  });
});

describe('norm limits', () => {
  it('a Gemm past the dense work limit gets a block bound, said so in the table', () => {
    const r = uniformStream(4, -0.5, 0.5);
    const w = Float32Array.from({ length: 40 * 30 }, r);
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 40]);
    b.node('Gemm', ['x', b.initializer('W', w, [40, 30])], {}, { outputs: ['y'] });
    b.output('y', ['N', 30]);
    const res = lipschitzBound(b.toBytes(), { limits: { denseWork: 3e4 } });
    expect(res.layers[0].method).toMatch(/(block bound|sqrt\(\|\|W\|\|_1).* over the work limit of 3e\+4/);
    expect(res.total).toBeGreaterThanOrEqual(sigmaMax(Float64Array.from(w), 40, 30));
  });

  it('a Conv past both conv work limits gets the patch (or one-inf) bound, said so in the table', () => {
    const r = uniformStream(6, -0.5, 0.5);
    const w = Float32Array.from({ length: 3 * 2 * 3 * 3 }, r);
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 2, 6, 5]);
    b.node('Conv', ['x', b.initializer('W', w, [3, 2, 3, 3])], { pads: [1, 1, 1, 1], strides: [2, 1] }, { outputs: ['y'] });
    b.output('y', ['N', 3, 3, 5]);
    const res = lipschitzBound(b.toBytes(), { limits: { convExactWork: 0, convCircularWork: 0 } });
    expect(res.layers[0].method).toMatch(/(patch bound|sqrt\(\|\|A\|\|_1).*over its work limit/);
    const brute = convSigmaMax(w, { layout: 'oihw', cin: 2, cout: 3, h: 6, w: 5, kh: 3, kw: 3, strides: [2, 1], pads: [1, 1, 1, 1] });
    expect(res.total).toBeGreaterThanOrEqual(brute);
  });
});
