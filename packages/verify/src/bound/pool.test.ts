/**
 * The pooling window geometry (./pool.ts) against onnxruntime: on random
 * 1-D and 2-D configurations (kernel, strides, dilations, pads, auto_pad,
 * ceil_mode, count_include_pad), the averaging matrix onnxruntime computes
 * (AveragePool of unit vectors) must equal ours entry by entry, and the
 * windows of MaxPool and LpPool must read exactly our cells.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '@lip/export';
import { uniformStream } from '@lip/test-support';
import { AutoPad, WindowAxis, windowAxes, windowCells, windowDivisor } from './pool';

interface Config {
  spatial: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: AutoPad;
  ceilMode: boolean;
  countIncludePad: boolean;
}

function randomConfig(r: () => number, rank: number): Config {
  const pick = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const autoPad = (['NOTSET', 'NOTSET', 'NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'] as AutoPad[])[pick(0, 5)];
  const kernel = Array.from({ length: rank }, () => pick(1, 4));
  const same = autoPad.startsWith('SAME');
  return {
    spatial: Array.from({ length: rank }, () => pick(1, rank === 1 ? 11 : 7)),
    kernel,
    strides: Array.from({ length: rank }, () => pick(1, 4)),
    dilations: Array.from({ length: rank }, () => (same ? 1 : pick(1, 3))),
    // onnxruntime requires pads < kernel.
    pads: [...kernel, ...kernel].map((k) => pick(0, k - 1)),
    autoPad,
    ceilMode: r() < 0.5,
    countIncludePad: r() < 0.5,
  };
}

function poolModel(op: string, c: Config, batch: number): Uint8Array {
  const b = new GraphBuilder({ opset: 19 });
  b.input('x', 'float32', [batch, 1, ...c.spatial]);
  const attrs: Record<string, number | number[] | string> = {
    kernel_shape: c.kernel,
    strides: c.strides,
    dilations: c.dilations,
    ceil_mode: c.ceilMode ? 1 : 0,
  };
  if (c.autoPad === 'NOTSET') attrs.pads = c.pads;
  else attrs.auto_pad = c.autoPad;
  if (op === 'AveragePool') attrs.count_include_pad = c.countIncludePad ? 1 : 0;
  if (op === 'LpPool') attrs.p = 1;
  b.node(op, ['x'], attrs, { outputs: ['y'] });
  b.output('y', [batch, 1, ...c.spatial.map((_, i) => `o${i}`)]);
  return b.toBytes();
}

/** onnxruntime's output on every unit vector: [output cell][input cell], and the output spatial shape. */
async function ortMatrix(op: string, c: Config): Promise<{ shape: number[]; m: number[][] }> {
  const n = c.spatial.reduce((a, d) => a * d, 1);
  const session = await ort.InferenceSession.create(poolModel(op, c, n), { logSeverityLevel: 4 });
  const x = new Float32Array(n * n);
  for (let i = 0; i < n; i++) x[i * n + i] = 1;
  const y = (await session.run({ x: new ort.Tensor('float32', x, [n, 1, ...c.spatial]) })).y;
  await session.release();
  const shape = y.dims.slice(2) as number[];
  const o = shape.reduce((a, d) => a * d, 1);
  const data = y.data as Float32Array;
  return { shape, m: Array.from({ length: o }, (_, j) => Array.from({ length: n }, (_, i) => data[i * o + j])) };
}

/** Our averaging matrix (or window incidence for MaxPool/LpPool), the Kronecker product of the axes'. */
function ourMatrix(axes: WindowAxis[], average: boolean, countIncludePad: boolean): number[][] {
  const perAxis = axes.map((a) =>
    Array.from({ length: a.out }, (_, o) => {
      const row = new Array<number>(a.n).fill(0);
      const div = windowDivisor(a, o, countIncludePad);
      for (const p of windowCells(a, o)) row[p] = average ? 1 / div : 1;
      return row;
    }),
  );
  return perAxis.reduce((acc, m) => acc.flatMap((ra) => m.map((rb) => ra.flatMap((x) => rb.map((y) => x * y)))), [[1]]);
}

describe('pooling window geometry matches onnxruntime', () => {
  const fail = (msg: string): never => {
    throw new Error(msg);
  };

  it.each([
    [1, 160, 11],
    [2, 60, 12],
  ])('AveragePool, MaxPool and LpPool on random %i-D configurations', async (rank, cases, seed) => {
    const r = uniformStream(seed, 0, 1);
    let compared = 0;
    let refused = 0;
    for (let t = 0; t < cases; t++) {
      const c = randomConfig(r, rank);
      const axes = windowAxes(c.spatial, c, fail);
      for (const op of ['AveragePool', 'MaxPool', 'LpPool']) {
        const label = `${op} ${JSON.stringify(c)}`;
        if (op === 'MaxPool' && axes.some((a) => a.padBegin < 0 || a.padEnd < 0)) {
          // SAME with kernel < stride: onnxruntime's MaxPool refuses its own negative padding.
          await expect(ortMatrix(op, c)).rejects.toThrow(/padding values must be non-negative/);
          refused++;
          continue;
        }
        if (axes.some((a) => a.out === 0)) {
          // A kernel wider than the padded input: our output is empty; onnxruntime's is empty too, or it refuses the node.
          const empty = await ortMatrix(op, c).then(
            (g) => g.m.length === 0,
            () => true,
          );
          expect([label, empty]).toEqual([label, true]);
          compared++;
          continue;
        }
        const got = await ortMatrix(op, c);
        expect([label, got.shape]).toEqual([label, axes.map((a) => a.out)]);
        const ours = ourMatrix(axes, op === 'AveragePool', c.countIncludePad);
        for (let j = 0; j < ours.length; j++) {
          // A MaxPool window of padding only is a constant (-FLT_MAX) in onnxruntime: no input moves it.
          if (op === 'MaxPool' && ours[j].every((v) => v === 0) && got.m[j].every((v) => v === got.m[j][0])) continue;
          for (let i = 0; i < ours[j].length; i++) {
            if (Math.abs(ours[j][i] - got.m[j][i]) > 1e-6) throw new Error(`${label}: output ${j}, input ${i}: ours ${ours[j][i]}, onnxruntime ${got.m[j][i]}`);
          }
        }
        compared++;
      }
    }
    expect(compared + refused).toBe(3 * cases);
    expect(compared).toBeGreaterThan(2 * cases);
  });

  it('refuses auto_pad SAME with dilations, where onnxruntime and the spec disagree', () => {
    expect(() => windowAxes([7], { kernel: [2], strides: [1], dilations: [3], pads: [0, 0], autoPad: 'SAME_UPPER', ceilMode: false }, fail)).toThrow(
      /SAME_UPPER with dilations \[3\]: onnxruntime and the ONNX spec pad differently/,
    );
  });

  it('drops a ceil_mode window that would start in the end padding', () => {
    // n = 5, pads (0, 1), kernel 2, stride 3: ceil((5 + 1 - 2) / 3) + 1 = 3, but window 2 would start at 6 >= 5 + 0.
    const [a] = windowAxes([5], { kernel: [2], strides: [3], dilations: [1], pads: [0, 1], autoPad: 'NOTSET', ceilMode: true }, fail);
    expect(a.out).toBe(2);
  });
});
