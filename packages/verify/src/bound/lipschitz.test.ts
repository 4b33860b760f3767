import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr } from '@lip/export';
import { ModelError } from '@lip/train';
import { uniformArray, uniformStream } from '@lip/test-support';
import { convMatrix, ConvMatrixSpec, convOutputSize, samePads, sigmaMax } from '@lip/test-support/linalg';
import { lipschitzBound } from './lipschitz';

/** Uniform in [-scale/2, scale/2). */
const randomArray = (n: number, seed: number, scale = 1): Float32Array => uniformArray(n, seed, -scale / 2, scale / 2);

interface ConvSpec {
  cin: number;
  cout: number;
  H: number;
  W: number;
  kh: number;
  kw: number;
  strides: [number, number];
  pads: [number, number, number, number];
  dil?: [number, number];
  group?: number;
}

/** The shared test helpers' description of the conv `s` (ONNX weight layout). */
function matrixSpec(s: ConvSpec): ConvMatrixSpec {
  return {
    layout: 'oihw',
    cin: s.cin,
    cout: s.cout,
    h: s.H,
    w: s.W,
    kh: s.kh,
    kw: s.kw,
    strides: s.strides,
    pads: s.pads,
    dilations: s.dil,
    group: s.group,
  };
}

const convOut = (s: ConvSpec): [number, number] => convOutputSize(matrixSpec(s));

/** The conv's explicit matrix [cout*Ho*Wo, cin*H*W] in float64. */
const explicitConv = (s: ConvSpec, w: Float32Array): { a: Float64Array; rows: number; cols: number } => convMatrix(w, matrixSpec(s));

function convModel(s: ConvSpec, w: Float32Array): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', s.cin, s.H, s.W]);
  const wn = b.initializer('W', w, [s.cout, s.cin / (s.group ?? 1), s.kh, s.kw]);
  const bias = b.initializer('B', randomArray(s.cout, 99), [s.cout]);
  b.node(
    'Conv',
    ['input', wn, bias],
    {
      kernel_shape: [s.kh, s.kw],
      strides: s.strides,
      pads: s.pads,
      dilations: s.dil ?? [1, 1],
      group: s.group ?? 1,
    },
    { outputs: ['y'] },
  );
  b.output('y', ['N', s.cout, ...convOut(s)]);
  return b.toBytes();
}

describe('lipschitzBound: single Conv vs the brute-force norm of its explicit matrix', () => {
  const cases: (ConvSpec & { label: string })[] = [
    { label: '1->1 3x3 same s1 6x6', cin: 1, cout: 1, H: 6, W: 6, kh: 3, kw: 3, strides: [1, 1], pads: samePads(6, 6, [3, 3], [1, 1]) },
    { label: '2->3 3x3 same s1 5x7', cin: 2, cout: 3, H: 5, W: 7, kh: 3, kw: 3, strides: [1, 1], pads: samePads(5, 7, [3, 3], [1, 1]) },
    { label: '3->2 3x3 valid s1 6x6', cin: 3, cout: 2, H: 6, W: 6, kh: 3, kw: 3, strides: [1, 1], pads: [0, 0, 0, 0] },
    { label: '2->4 3x3 same s2 8x8', cin: 2, cout: 4, H: 8, W: 8, kh: 3, kw: 3, strides: [2, 2], pads: samePads(8, 8, [3, 3], [2, 2]) },
    { label: '3->3 2x2 valid s2 7x7', cin: 3, cout: 3, H: 7, W: 7, kh: 2, kw: 2, strides: [2, 2], pads: [0, 0, 0, 0] },
    { label: '4->2 5x3 same s(2,1) 9x6', cin: 4, cout: 2, H: 9, W: 6, kh: 5, kw: 3, strides: [2, 1], pads: samePads(9, 6, [5, 3], [2, 1]) },
    { label: '2->2 3x3 dilation 2 pads 2', cin: 2, cout: 2, H: 7, W: 7, kh: 3, kw: 3, strides: [1, 1], pads: [2, 2, 2, 2], dil: [2, 2] },
    { label: '4->4 3x3 group 2', cin: 4, cout: 4, H: 5, W: 5, kh: 3, kw: 3, strides: [1, 1], pads: [1, 1, 1, 1], group: 2 },
  ];
  it.each(cases)('$label', (s) => {
    const w = randomArray(s.cout * (s.cin / (s.group ?? 1)) * s.kh * s.kw, 7 + s.cin * 13 + s.cout * 7 + s.H);
    const { a, rows, cols } = explicitConv(s, w);
    const brute = sigmaMax(a, rows, cols);
    const exact = lipschitzBound(convModel(s, w));
    expect(exact.total).toBeGreaterThanOrEqual(brute);
    expect(exact.total).toBeLessThanOrEqual(brute * (1 + 1e-3));
    expect(exact.layers.map((l) => l.op)).toEqual(['Conv']);
    // The circular (Sedghi) bound alone is sound, never below the exact one, and looser.
    const circular = lipschitzBound(convModel(s, w), { exactConv: false });
    expect(circular.total).toBeGreaterThanOrEqual(brute);
    expect(circular.total).toBeGreaterThanOrEqual(exact.total * (1 - 1e-9));
  });

  it('is never below the brute force on 30 random small convs', () => {
    const r = uniformStream(4242, -0.5, 0.5);
    for (let t = 0; t < 30; t++) {
      const pick = (lo: number, hi: number): number => lo + Math.floor((r() + 0.5) * (hi - lo + 1));
      const kh = pick(1, 4),
        kw = pick(1, 4),
        H = pick(kh, 7),
        W = pick(kw, 7);
      const st: [number, number] = [pick(1, 2), pick(1, 2)];
      const s: ConvSpec = { cin: pick(1, 3), cout: pick(1, 3), H, W, kh, kw, strides: st, pads: r() > 0 ? samePads(H, W, [kh, kw], st) : [0, 0, 0, 0] };
      const w = randomArray(s.cout * s.cin * kh * kw, 1000 + t);
      const { a, rows, cols } = explicitConv(s, w);
      const brute = sigmaMax(a, rows, cols);
      const bound = lipschitzBound(convModel(s, w)).total;
      expect(bound).toBeGreaterThanOrEqual(brute);
      expect(bound).toBeLessThanOrEqual(brute * (1 + 1e-3));
    }
  });
});

function gemmModel(w: Float32Array, inDim: number, outDim: number, transB = false): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', inDim]);
  const wn = b.initializer('W', w, transB ? [outDim, inDim] : [inDim, outDim]);
  b.node('Gemm', ['input', wn, b.initializer('B', new Float32Array(outDim), [outDim])], { transB: transB ? 1 : 0 }, { outputs: ['logits'] });
  b.output('logits', ['N', outDim]);
  return b.toBytes();
}

describe('lipschitzBound: Gemm', () => {
  it.each([
    [7, 5],
    [5, 7],
    [20, 10],
    [1, 4],
  ])('equals the singular value of a %ix%i weight', (m, n) => {
    const w = randomArray(m * n, m * 31 + n);
    const brute = sigmaMax(Float64Array.from(w), m, n);
    const res = lipschitzBound(gemmModel(w, m, n));
    expect(res.total).toBeGreaterThanOrEqual(brute);
    expect(res.total / brute - 1).toBeLessThan(2e-6);
    const t = lipschitzBound(gemmModel(w, n, m, true));
    expect(t.total / brute - 1).toBeLessThan(2e-6);
    expect(t.total).toBeGreaterThanOrEqual(brute);
  });

  it('reports the head rows and the body bound', () => {
    const w = randomArray(6 * 3, 5);
    const res = lipschitzBound(gemmModel(w, 6, 3));
    expect(res.head).not.toBeNull();
    expect(res.head!.classes).toBe(3);
    expect(res.head!.dim).toBe(6);
    expect(res.head!.bodyLipschitz).toBe(1);
    expect(res.head!.weights[1 * 6 + 2]).toBeCloseTo(w[2 * 3 + 1], 7);
  });
});

interface NetOptions {
  scale?: number;
  activation?: (b: GraphBuilder, x: string, channels: number, spatial: number) => string;
}

/** Conv(1->4, 3x3 same) -> activation -> LpPool 2x2 -> Flatten -> Gemm(64 -> 10) on 8x8 inputs. */
function convNet(opts: NetOptions = {}): { bytes: Uint8Array } {
  const k = opts.scale ?? 1;
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', 1, 8, 8]);
  const w1 = randomArray(4 * 9, 11).map((v) => v * k);
  const [c] = b.node('Conv', ['input', b.initializer('W1', w1, [4, 1, 3, 3]), b.initializer('B1', randomArray(4, 3), [4])], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
    strides: [1, 1],
  });
  const act = opts.activation ? opts.activation(b, c, 4, 64) : b.node('Relu', [c])[0];
  const [p] = b.node('LpPool', [act], { kernel_shape: [2, 2], strides: [2, 2], p: 2 });
  const [t] = b.node('Transpose', [p], { perm: [0, 2, 3, 1] });
  const [f] = b.node('Flatten', [t], { axis: 1 });
  const w2 = randomArray(64 * 10, 12).map((v) => v * k);
  b.node('Gemm', [f, b.initializer('W2', w2, [64, 10]), b.initializer('B2', randomArray(10, 4), [10])], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 10]);
  return { bytes: b.toBytes() };
}

function reshape(b: GraphBuilder, x: string, dims: number[]): string {
  return b.node('Reshape', [x, b.initializer(b.fresh('shape'), [-1, ...dims], [dims.length + 1])])[0];
}

/** The exporter's GroupSort on [N, C, S]: reshape to [N, C/n, n, S], sort along axis 2, reshape back. */
function groupSort(n: number, profile: 'default' | 'portable' | 'topk') {
  return (b: GraphBuilder, x: string, channels: number, spatial: number): string => {
    const g = reshape(b, x, [channels / n, n, spatial]);
    let sorted: string;
    if (profile === 'topk') {
      sorted = b.node('TopK', [g, b.initializer(b.fresh('k'), [n], [1])], { axis: 2, largest: 0, sorted: 1 }, { outputs: 2 })[0];
    } else {
      // Copy: GraphBuilder.node returns the node's own output array.
      const lanes = [...b.node('Split', [g, b.initializer(b.fresh('split'), new Array(n).fill(1), [n])], { axis: 2 }, { outputs: n })];
      const pairs: [number, number][] =
        n === 2
          ? [[0, 1]]
          : [
              [0, 1],
              [2, 3],
              [0, 2],
              [1, 3],
              [1, 2],
            ];
      for (const [i, j] of pairs) {
        if (profile === 'default') {
          [lanes[i], lanes[j]] = [b.node('Min', [lanes[i], lanes[j]])[0], b.node('Max', [lanes[i], lanes[j]])[0]];
        } else {
          const [d] = b.node('Sub', [lanes[i], lanes[j]]);
          const [r] = b.node('Relu', [d]);
          [lanes[i], lanes[j]] = [b.node('Sub', [lanes[i], r])[0], b.node('Add', [lanes[j], r])[0]];
        }
      }
      sorted = b.node('Concat', lanes, { axis: 2 })[0];
    }
    return reshape(b, sorted, [channels, 8, 8]);
  };
}

function maxMin(b: GraphBuilder, x: string): string {
  const [pos] = b.node('Relu', [x]);
  const [neg] = b.node('Relu', [b.node('Neg', [x])[0]]);
  const [c] = b.node('Concat', [pos, neg], { axis: 1 });
  // Back to 4 channels (relu(x2), relu(x3), relu(-x0), relu(-x1)) so the rest of the net is unchanged.
  return b.node('Slice', [c, b.initializer(b.fresh('s'), [2], [1]), b.initializer(b.fresh('e'), [6], [1]), b.initializer(b.fresh('a'), [1], [1])])[0];
}

describe('lipschitzBound: composition and activation blocks', () => {
  const reluNet = lipschitzBound(convNet().bytes);

  it('composes layer bounds and reports each layer', () => {
    const ops = reluNet.layers.map((l) => l.op);
    expect(ops).toEqual(['Conv', 'Relu', 'LpPool', 'structure', 'Gemm']);
    const product = reluNet.layers.reduce((a, l) => a * l.factor, 1);
    expect(reluNet.total / product - 1).toBeLessThan(1e-9);
    expect(reluNet.layers[2].factor).toBe(1);
    expect(reluNet.warnings).toEqual([]);
  });

  it('scales by 4^2 when both linear layers are multiplied by 4', () => {
    const scaled = lipschitzBound(convNet({ scale: 4 }).bytes);
    expect(scaled.total / (16 * reluNet.total) - 1).toBeLessThan(1e-6);
    expect(scaled.total / (16 * reluNet.total) - 1).toBeGreaterThan(-1e-6);
  });

  it.each([
    ['GroupSort2 (Min/Max pairs)', groupSort(2, 'default'), 'GroupSort2'],
    ['GroupSort2 (portable Relu arithmetic)', groupSort(2, 'portable'), 'GroupSort2'],
    ['GroupSort(4) (TopK)', groupSort(4, 'topk'), 'GroupSort (TopK)'],
    ['GroupSort(4) (portable sorting network)', groupSort(4, 'portable'), 'GroupSort (sorting network)'],
    ['MaxMin (Relu/Neg/Concat)', maxMin, 'MaxMin'],
  ])('bounds %s by 1', (_label, activation, name) => {
    const res = lipschitzBound(convNet({ activation }).bytes);
    expect(res.warnings).toEqual([]);
    const block = res.layers.find((l) => l.op === name);
    expect(block).toBeDefined();
    expect(block!.factor).toBe(1);
    expect(res.total / reluNet.total - 1).toBeLessThan(1e-12);
  });

  it('falls back to a loose sound bound with a warning for an unrecognized block', () => {
    // max(a, b) + a: a feeds two consumers, which is not 1-Lipschitz in general.
    const bad = (b: GraphBuilder, x: string): string => {
      const g = reshape(b, x, [2, 2, 64]);
      const [l0, l1] = b.node('Split', [g, b.initializer(b.fresh('split'), [1, 1], [2])], { axis: 2 }, { outputs: 2 });
      const [mx] = b.node('Max', [l0, l1]);
      const [s] = b.node('Add', [mx, l0]);
      return reshape(b, b.node('Concat', [s, l1], { axis: 2 })[0], [4, 8, 8]);
    };
    const res = lipschitzBound(convNet({ activation: bad }).bytes);
    expect(res.warnings.length).toBe(1);
    expect(res.warnings[0]).toMatch(/not a recognized 1-Lipschitz block/);
    expect(res.total).toBeGreaterThan(reluNet.total * 1.5);
  });

  it('is never below the observed expansion of the network (onnxruntime on random pairs)', async () => {
    for (const activation of [groupSort(2, 'portable'), groupSort(4, 'topk'), maxMin]) {
      const { bytes } = convNet({ activation, scale: 2 });
      const bound = lipschitzBound(bytes).total;
      const session = await ort.InferenceSession.create(bytes);
      const r = uniformStream(77, -0.5, 0.5);
      let worst = 0;
      for (let t = 0; t < 20; t++) {
        const x = Float32Array.from({ length: 64 }, () => r());
        const y = Float32Array.from(x, (v) => v + r() * 0.01);
        const out = await session.run({ input: new ort.Tensor('float32', Float32Array.of(...x, ...y), [2, 1, 8, 8]) });
        const l = out.logits.data as Float32Array;
        let num = 0,
          den = 0;
        for (let i = 0; i < 10; i++) num += (l[i] - l[10 + i]) ** 2;
        for (let i = 0; i < 64; i++) den += (x[i] - y[i]) ** 2;
        worst = Math.max(worst, Math.sqrt(num / den));
      }
      await session.release();
      expect(worst).toBeLessThanOrEqual(bound);
      expect(worst).toBeGreaterThan(0);
    }
  });

  it('bounds the portable L2-norm pooling sqrt(AveragePool(x*x)) * 2 by 1', () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('input', 'float32', ['N', 2, 4, 4]);
    const [sq] = b.node('Mul', ['input', 'input']);
    const [avg] = b.node('AveragePool', [sq], { kernel_shape: [2, 2], strides: [2, 2], count_include_pad: 0 });
    const [r] = b.node('Sqrt', [avg]);
    b.node('Mul', [r, b.initializer('two', Float32Array.of(2), [])], {}, { outputs: ['y'] });
    b.output('y', ['N', 2, 2, 2]);
    expect(lipschitzBound(b.toBytes()).total).toBeCloseTo(1, 12);
  });

  it('bounds AveragePool k x k stride k by 1/k and a following scalar Mul', () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('input', 'float32', ['N', 1, 6, 6]);
    const [avg] = b.node('AveragePool', ['input'], { kernel_shape: [3, 3], strides: [3, 3] });
    b.node('Mul', [avg, b.initializer('c', Float32Array.of(1.5), [])], {}, { outputs: ['y'] });
    b.output('y', ['N', 1, 2, 2]);
    const res = lipschitzBound(b.toBytes());
    expect(res.layers.map((l) => l.factor)[0]).toBeCloseTo(1 / 3, 12);
    expect(res.total).toBeCloseTo(0.5, 12);
  });

  it('refuses graphs that are not Lipschitz, naming the node', () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('input', 'float32', ['N', 3]);
    b.node('Mul', ['input', 'input'], {}, { outputs: ['y'], name: 'square' });
    b.output('y', ['N', 3]);
    expect(() => lipschitzBound(b.toBytes())).toThrow(ModelError);
    expect(() => lipschitzBound(b.toBytes())).toThrow(/'square' \(Mul\) squares/);
    const c = new GraphBuilder({ opset: 17 });
    c.input('input', 'float32', ['N', 4]);
    const [, idx] = c.node('TopK', ['input', c.initializer('k', [2], [1])], {}, { outputs: 2, name: 'top' });
    c.node('Identity', [idx], {}, { outputs: ['y'] });
    c.output('y', ['N', 2], 'int64');
    expect(() => lipschitzBound(c.toBytes())).toThrow(/TopK\) indices/);
  });

  it('uses float attributes given as attr.float', () => {
    const w = randomArray(12, 3);
    const b = new GraphBuilder({ opset: 17 });
    b.input('input', 'float32', ['N', 4]);
    b.node('Gemm', ['input', b.initializer('W', w, [4, 3])], { alpha: attr.float(3) }, { outputs: ['y'] });
    b.output('y', ['N', 3]);
    const plain = lipschitzBound(gemmModel(w, 4, 3)).total;
    expect(lipschitzBound(b.toBytes()).total / plain).toBeCloseTo(3, 9);
  });
});
