/**
 * The bound must recognize exactly what @lip/export emits: each activation,
 * pooling and reshape emitter, in both profiles, is run on a small graph and
 * must be bounded by its kCoefLip (1 here), without warnings.
 */
import * as ort from 'onnxruntime-node';
import { EMITTERS, EmitContext, GraphBuilder, Profile } from '@lip/export';
import { uniformStream } from '@lip/test-support';
import { lipschitzBound } from './lipschitz';

interface Case {
  cls: string;
  config: Record<string, unknown>;
  inShape: number[];
  outShape: number[];
  /** Expected bound (1 unless the layer itself is not 1-Lipschitz). */
  expected?: number;
}

const CASES: Case[] = [
  { cls: 'Lip>GroupSort2', config: {}, inShape: [4, 4, 6], outShape: [4, 4, 6] },
  { cls: 'Lip>GroupSort2', config: {}, inShape: [8], outShape: [8] },
  { cls: 'Lip>GroupSort', config: { n: 4 }, inShape: [3, 3, 8], outShape: [3, 3, 8] },
  { cls: 'Lip>GroupSort', config: { n: 3 }, inShape: [6], outShape: [6] },
  { cls: 'Lip>FullSort', config: {}, inShape: [5], outShape: [5] },
  { cls: 'Lip>MaxMin', config: {}, inShape: [4, 4, 3], outShape: [4, 4, 6] },
  { cls: 'Lip>ScaledL2NormPool2D', config: { poolSize: [2, 2], padding: 'valid' }, inShape: [4, 4, 3], outShape: [2, 2, 3] },
  { cls: 'Lip>ScaledAvgPool2D', config: { poolSize: [2, 2], padding: 'valid' }, inShape: [4, 4, 3], outShape: [2, 2, 3] },
  { cls: 'Lip>ScaledGlobalL2NormPool2D', config: { dataFormat: 'channelsLast' }, inShape: [4, 4, 3], outShape: [3] },
  { cls: 'Lip>InvertibleDownSampling', config: { poolSize: [2, 2] }, inShape: [4, 4, 3], outShape: [2, 2, 12] },
  { cls: 'Flatten', config: {}, inShape: [3, 3, 2], outShape: [18] },
];

function onnxDims(s: readonly number[]): number[] {
  return s.length === 3 ? [s[2], s[0], s[1]] : [...s];
}

function build(c: Case, profile: Profile): Uint8Array {
  const emitter = EMITTERS.find(([cls]) => cls === c.cls)![1];
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', ...onnxDims(c.inShape)]);
  const ctx: EmitContext = {
    b,
    profile,
    x: 'input',
    inShape: c.inShape,
    outShape: c.outShape,
    what: `layer 'l' (${c.cls})`,
    layer: { name: 'l', kCoefLip: 1, getConfig: () => c.config } as unknown as EmitContext['layer'],
    config: { dataFormat: 'channelsLast', kCoefLip: 1, ...c.config },
  };
  const y = emitter(ctx);
  b.node('Identity', [y], {}, { outputs: ['y'] });
  b.output('y', ['N', ...onnxDims(c.outShape)]);
  return b.toBytes();
}

describe("lipschitzBound on the exporter's emitted patterns", () => {
  for (const profile of ['default', 'portable'] as Profile[]) {
    it.each(CASES.map((c) => [`${c.cls} ${JSON.stringify(c.config)} [${c.inShape}]`, c] as const))(`${profile}: %s`, async (_label, c) => {
      const bytes = build(c, profile);
      const res = lipschitzBound(bytes);
      expect(res.warnings).toEqual([]);
      expect(res.total).toBeLessThanOrEqual((c.expected ?? 1) * (1 + 1e-12));
      // And the graph runs: the observed expansion on random pairs stays below the bound.
      const session = await ort.InferenceSession.create(bytes);
      const size = c.inShape.reduce((a, d) => a * d, 1);
      const rnd = uniformStream(9, -0.5, 0.5);
      for (let t = 0; t < 5; t++) {
        const x = Float32Array.from({ length: size }, rnd);
        const z = Float32Array.from(x, (v) => v + rnd() * 0.1);
        const out = await session.run({ input: new ort.Tensor('float32', Float32Array.of(...x, ...z), [2, ...onnxDims(c.inShape)]) });
        const o = out.y.data as Float32Array;
        const half = o.length / 2;
        let num = 0,
          den = 0;
        for (let i = 0; i < half; i++) num += (o[i] - o[half + i]) ** 2;
        for (let i = 0; i < size; i++) den += (x[i] - z[i]) ** 2;
        expect(Math.sqrt(num / den)).toBeLessThanOrEqual(res.total * (1 + 1e-5));
      }
      await session.release();
    });
  }
});
