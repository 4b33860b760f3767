import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { GraphBuilder, attr, exportOnnx } from '@lip/export';
import { ModelError, buildModel } from '@lip/train';
import { AUDIT_FIXTURES, randomImages, uniformArray } from '@lip/test-support';
import { convStackModel, imageBuilder, referenceConvModel } from '@lip/test-support/onnx';
import { readOnnxModel } from '../onnx/read';
import { LipSession, openSession } from '../session';
import { assertTranslationMatches, translateOnnx } from './translate';
import { convWithFastInputGrad } from './conv';
import { TRANSLATABLE_OPS, meanPool, tiledL2Pool } from './ops';
import { groupSort2Loop, hasJsKernels, tiledL2PoolLoop } from './js_kernels';
import { FUSED_PERMUTE, fuseLayoutChains } from './fuse';
import type { OnnxNode } from '../onnx/read';

type Build = (b: GraphBuilder, x: string) => string;

/** A model [N, ...chw] -> build -> Flatten -> `logits`. */
function model(chw: number[], build: Build, opset = 17): Uint8Array {
  const { b, x } = imageBuilder(chw, opset);
  const y = build(b, x);
  b.node('Flatten', [y], { axis: 1 }, { outputs: ['logits'] });
  b.output('logits', ['N', 'K']);
  return b.toBytes();
}

async function maxDiff(bytes: Uint8Array, chw: [number, number, number], n = 3, seed = 5): Promise<number> {
  const m = readOnnxModel(bytes);
  const session = await openSession(m);
  try {
    return await assertTranslationMatches(m, session, { images: randomImages(n, chw, seed), n, chw });
  } finally {
    await session.close();
  }
}

/** Runs `fn` on cpu, then on wasm; the backend is cpu again afterwards (also when `fn` throws). */
async function onCpuThenWasm(fn: (backend: string) => unknown): Promise<void> {
  try {
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      await fn(backend);
    }
  } finally {
    await tf.setBackend('cpu');
  }
}

const w = (b: GraphBuilder, dims: number[], seed: number, scale = 0.5): string =>
  b.initializer(
    b.fresh('w'),
    uniformArray(
      dims.reduce((p, q) => p * q, 1),
      seed,
      -scale,
      scale,
    ),
    dims,
  );

const conv = (b: GraphBuilder, x: string, cin: number, cout: number, seed: number, attrs: Record<string, number[] | number | string> = {}): string =>
  b.node('Conv', [x, w(b, [cout, cin, 3, 3], seed), w(b, [cout], seed + 1, 0.1)], { kernel_shape: [3, 3], ...attrs })[0];

const CASES: [string, number[], Build][] = [
  ['Conv, asymmetric pads, stride 2', [3, 7, 7], (b, x) => conv(b, x, 3, 4, 1, { pads: [0, 1, 1, 0], strides: [2, 2] })],
  ['Conv, auto_pad SAME_UPPER, no bias', [2, 6, 5], (b, x) => b.node('Conv', [x, w(b, [3, 2, 3, 3], 2)], { auto_pad: 'SAME_UPPER' })[0]],
  ['Conv 1x1 on one channel', [1, 5, 5], (b, x) => b.node('Conv', [x, w(b, [2, 1, 1, 1], 3)], {})[0]],
  [
    'Gemm transB alpha beta',
    [2, 3, 3],
    (b, x) => {
      const [f] = b.node('Flatten', [x]);
      return b.node('Gemm', [f, w(b, [5, 18], 4), w(b, [5], 5)], { transB: 1, alpha: 0.5, beta: attr.float(2) })[0];
    },
  ],
  ['MatMul', [1, 4, 4], (b, x) => b.node('MatMul', [b.node('Flatten', [x])[0], w(b, [16, 3], 6)])[0]],
  [
    'Add/Mul/Sub/Neg/Relu/Sqrt/Min/Max with channel constants',
    [2, 5, 5],
    (b, x) => {
      const c = conv(b, x, 2, 4, 7, { pads: [1, 1, 1, 1] });
      const a = b.node('Add', [c, w(b, [4, 1, 1], 8)])[0];
      const m = b.node('Mul', [a, w(b, [1, 4, 1, 1], 9)])[0];
      const s = b.node('Sub', [w(b, [5], 10), m])[0];
      const r = b.node('Relu', [b.node('Neg', [s])[0]])[0];
      const q = b.node('Sqrt', [r])[0];
      const mn = b.node('Min', [q, c])[0];
      return b.node('Max', [mn, b.initializer(b.fresh('z'), Float32Array.of(-0.1), [])])[0];
    },
  ],
  [
    'Concat, Split, Slice with steps on channels',
    [2, 6, 6],
    (b, x) => {
      const c1 = conv(b, x, 2, 3, 11, { pads: [1, 1, 1, 1] });
      const c2 = conv(b, x, 2, 3, 12, { pads: [1, 1, 1, 1] });
      const cat = b.node('Concat', [c1, c2, x], { axis: 1 })[0];
      const [p, q] = b.node('Split', [cat, b.initializer(b.fresh('s'), [5, 3], [2])], { axis: 1 }, { outputs: 2 });
      const sl = b.node('Slice', [
        p,
        b.initializer(b.fresh('st'), [1, 0], [2]),
        b.initializer(b.fresh('en'), [100, -1], [2]),
        b.initializer(b.fresh('ax'), [1, -1], [2]),
        b.initializer(b.fresh('sp'), [2, 2], [2]),
      ])[0];
      return b.node(
        'Concat',
        [
          sl,
          b.node('Slice', [
            q,
            b.initializer(b.fresh('st'), [0, 0], [2]),
            b.initializer(b.fresh('en'), [2, 100], [2]),
            b.initializer(b.fresh('ax'), [1, 3], [2]),
            b.initializer(b.fresh('sp'), [1, 2], [2]),
          ])[0],
        ],
        { axis: 1 },
      )[0];
    },
  ],
  [
    'Reshape/Transpose',
    [2, 4, 3],
    (b, x) => {
      const c = conv(b, x, 2, 4, 13, { pads: [1, 1, 1, 1] });
      const t = b.node('Transpose', [c], { perm: [0, 2, 3, 1] })[0];
      const r = b.node('Reshape', [t, b.initializer(b.fresh('sh'), [0, -1, 4], [3])])[0];
      return b.node('Transpose', [r], { perm: [0, 2, 1] })[0];
    },
  ],
  [
    'LpPool and AveragePool with pads',
    [3, 7, 7],
    (b, x) => {
      const lp = b.node('LpPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], p: 2 })[0];
      const a0 = b.node('AveragePool', [lp], { kernel_shape: [2, 2], strides: [1, 1], pads: [1, 0, 0, 1], count_include_pad: 0 })[0];
      const a1 = b.node('AveragePool', [lp], { kernel_shape: [2, 2], strides: [1, 1], pads: [1, 0, 0, 1], count_include_pad: 1 })[0];
      return b.node('Concat', [a0, a1], { axis: 1 })[0];
    },
  ],
  [
    'TopK largest on channels, partial K',
    [6, 3, 3],
    (b, x) => {
      const c = conv(b, x, 6, 6, 14, { pads: [1, 1, 1, 1] });
      return b.node('TopK', [c, b.initializer(b.fresh('k'), [4], [1])], { axis: 1 }, { outputs: 2 })[0];
    },
  ],
  [
    'Identity and Constant',
    [1, 3, 3],
    (b, x) => {
      const [k] = b.node('Constant', [], { value: attr.tensor({ dims: [1], dataType: 1, floatData: [0.25] }) });
      return b.node('Identity', [b.node('Add', [x, k])[0]])[0];
    },
  ],
  [
    'Gemm with a row bias times beta',
    [2, 3, 3],
    (b, x) => {
      const [f] = b.node('Flatten', [x]);
      return b.node('Gemm', [f, w(b, [18, 5], 41), w(b, [1, 5], 42)], { beta: attr.float(-1.5) })[0];
    },
  ],
  [
    'GroupSort2 (default) after conv',
    [1, 4, 4],
    (b, x) => {
      const c = conv(b, x, 1, 4, 15, { pads: [1, 1, 1, 1] });
      const g = b.node('Reshape', [c, b.initializer(b.fresh('sh'), [-1, 2, 2, 16], [4])])[0];
      const [p, q] = b.node('Split', [g, b.initializer(b.fresh('s'), [1, 1], [2])], { axis: 2 }, { outputs: 2 });
      return b.node('Concat', [b.node('Min', [p, q])[0], b.node('Max', [p, q])[0]], { axis: 2 })[0];
    },
  ],
];

describe('translateOnnx', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('runs a graph that ties samples together at batch 1 (Flatten axis 0) one image at a time, as the session does', async () => {
    // Found by the importer fuzz: Flatten(axis = 0) then Gemm is [1, d] x [d, k] at N = 1 only, so the folded graph is
    // batch 'fixed'; the session ran image by image while the translation took the whole batch and threw inside tfjs.
    const { b, x } = imageBuilder([1, 6, 6], 17);
    const [flat] = b.node('Flatten', [x], { axis: 0 });
    b.node('Gemm', [flat, w(b, [36, 10], 31), w(b, [10], 32, 0.1)], {}, { outputs: ['logits'] });
    b.output('logits', ['N', 'K']);
    const m = readOnnxModel(b.toBytes());
    expect(m.folding?.batch).toBe('fixed');
    expect(await maxDiff(b.toBytes(), [1, 6, 6], 3)).toBeLessThan(1e-5);
  });

  /** Corners where the translator used to parse attributes itself and disagreed with onnxruntime; it now calls the op's registry parser. */
  const PARSER_CORNERS: [string, number[], Build, number][] = [
    // Kernel extent 1 < stride 4 on 7 cells: onnxruntime's Conv pads 0 and reads cells 0 and 4 (its poolings pad -1).
    [
      'Conv auto_pad SAME_UPPER with a 1x1 kernel and stride 4',
      [2, 7, 7],
      (b, x) => b.node('Conv', [x, w(b, [3, 2, 1, 1], 21)], { auto_pad: 'SAME_UPPER', strides: [4, 4] })[0],
      17,
    ],
    // Opset 18 without axes and noop_with_empty_axes = 1: the identity, not a reduction over all axes.
    ['ReduceMax with noop_with_empty_axes (opset 18)', [2, 3, 3], (b, x) => b.node('ReduceMax', [x], { noop_with_empty_axes: 1 })[0], 18],
    // Before opset 10, K is an attribute.
    ['TopK with the k attribute (opset 9)', [1, 4, 3], (b, x) => b.node('TopK', [b.node('Flatten', [x])[0]], { k: 5, axis: 1 }, { outputs: 2 })[0], 9],
  ];

  it.each(PARSER_CORNERS)('agrees with onnxruntime: %s', async (_name, chw, build, opset) => {
    const diff = await maxDiff(model(chw, build, opset), chw as [number, number, number]);
    expect(diff).toBeLessThanOrEqual(1e-5);
  });

  it.each(CASES)('matches onnxruntime within 1e-5 on cpu and wasm: %s', async (_name, chw, build) => {
    await onCpuThenWasm(async (backend) => {
      const diff = await maxDiff(model(chw, build), chw as [number, number, number]);
      expect({ backend, ok: diff <= 1e-5 }).toEqual({ backend, ok: true });
    });
  });

  it.each(['default', 'portable'] as const)('matches onnxruntime on the conv/pool/groupsort/flatten/gemm stack (%s profile), cpu and wasm', async (profile) => {
    const bytes = convStackModel({ profile });
    expect(await maxDiff(bytes, [1, 8, 8], 4, 3)).toBeLessThanOrEqual(1e-5);
    await tf.setBackend('wasm');
    try {
      expect(await maxDiff(bytes, [1, 8, 8], 4, 4)).toBeLessThanOrEqual(1e-5);
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it.each([false, true])('matches onnxruntime on the exported reference network (portable=%s), fully fused', async (portable) => {
    const net = buildModel('seed', { seed: 3, logger: { warn: () => undefined } });
    const bytes = exportOnnx(net, { portable });
    net.dispose();
    const f = translateOnnx(readOnnxModel(bytes));
    try {
      expect(f.opTypes.filter((o) => o === 'lip.GroupSort2').length).toBeGreaterThanOrEqual(2);
      expect(f.opTypes).not.toContain('Split');
      if (portable) expect(f.opTypes).not.toContain('AveragePool');
    } finally {
      f.dispose();
    }
    await onCpuThenWasm(async () => expect(await maxDiff(bytes, [1, 28, 28], 4, 8)).toBeLessThanOrEqual(1e-5));
  });

  it('detects a translation that does not match the deployed graph', async () => {
    const a = readOnnxModel(convStackModel({ profile: 'default', seed: 1 }));
    const other = readOnnxModel(convStackModel({ profile: 'default', seed: 2 }));
    const session: LipSession = await openSession(other);
    try {
      const images = randomImages(2, [1, 8, 8], 9);
      await expect(assertTranslationMatches(a, session, { images, n: 2, chw: [1, 8, 8] })).rejects.toThrow(/differs from onnxruntime/);
      await expect(assertTranslationMatches(a, session, { images, n: 2, chw: [1, 8, 8] })).rejects.toBeInstanceOf(ModelError);
    } finally {
      await session.close();
    }
  });

  it('scales the tolerance with the largest logit of each image', async () => {
    // Logits [600 x, 2 x] of one pixel: the rounding of a logit follows the largest one of its image.
    const bytes = model([1, 1, 1], (b, x) => b.node('Mul', [x, b.initializer('s', Float32Array.of(600, 2), [1, 2, 1, 1])])[0]);
    const m = readOnnxModel(bytes);
    const session: LipSession = await openSession(m);
    const images = Float32Array.of(1, 0.001);
    const perturbed =
      (delta: number) =>
      (x: tf.Tensor4D): tf.Tensor2D =>
        tf.tidy(() => tf.add(tf.reshape(tf.mul(x, tf.tensor4d([600, 2], [1, 2, 1, 1])), [-1, 2]), tf.tensor2d([[0, delta]])));
    try {
      // Image 0: scale 600, 1e-3 on the small logit is within 1e-5 x 600.
      // Image 1: logits [0.6, 0.002], scale 1: 1e-3 is not.
      await expect(assertTranslationMatches(m, session, { images: images.subarray(0, 1), n: 1, chw: [1, 1, 1] }, 1e-5, perturbed(1e-3))).resolves.toBeCloseTo(
        1e-3,
        6,
      );
      await expect(assertTranslationMatches(m, session, { images, n: 2, chw: [1, 1, 1] }, 1e-5, perturbed(1e-3))).rejects.toThrow(/at image 1, logit 1/);
      await expect(assertTranslationMatches(m, session, { images: images.subarray(0, 1), n: 1, chw: [1, 1, 1] }, 1e-5, perturbed(1e-2))).rejects.toThrow(
        /differs from onnxruntime by 1\.000e-2 \(tolerance 0\.00001 x max\(1, largest \|logit\| of the image\)\)/,
      );
    } finally {
      await session.close();
    }
  });

  it('refuses an operator outside the table, listing the supported ones', () => {
    const bytes = model([1, 2, 2], (b, x) => b.node('Relu', [x])[0]);
    const m = readOnnxModel(bytes);
    const broken = { ...m, nodes: m.nodes.map((n) => (n.opType === 'Relu' ? { ...n, opType: 'Selu' } : n)) };
    expect(() => translateOnnx(broken)).toThrow(ModelError);
    expect(() => translateOnnx(broken)).toThrow(/'Selu'.*supported operators: .*Conv.*TopK/);
    for (const op of [
      'Conv',
      'Gemm',
      'MatMul',
      'Add',
      'Mul',
      'Sub',
      'Neg',
      'Relu',
      'Sqrt',
      'Min',
      'Max',
      'Concat',
      'Split',
      'Slice',
      'Reshape',
      'Transpose',
      'Flatten',
      'LpPool',
      'AveragePool',
      'TopK',
      'Identity',
      'Constant',
    ]) {
      expect(TRANSLATABLE_OPS).toContain(op);
    }
  });

  it('refuses grouped convolutions', () => {
    const bytes = model([2, 3, 3], (b, x) => b.node('Conv', [x, w(b, [2, 1, 3, 3], 1)], { group: 2, pads: [1, 1, 1, 1] })[0]);
    expect(() => translateOnnx(readOnnxModel(bytes))).toThrow(/group=2 is not supported/);
  });

  it.each(['cpu', 'wasm'])('gives the same input gradient as the exact tfjs conv gradient (strides, pads) on %s', async (backend) => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    const configs: [number[], [number, number], [number, number, number, number], number[]][] = [
      [
        [2, 7, 7, 3],
        [1, 1],
        [1, 1, 1, 1],
        [3, 3, 3, 4],
      ],
      [
        [2, 7, 7, 3],
        [2, 2],
        [0, 1, 1, 0],
        [3, 3, 3, 4],
      ],
      [
        [1, 8, 6, 2],
        [2, 3],
        [1, 0, 0, 2],
        [3, 2, 2, 5],
      ],
      [
        [1, 9, 9, 2],
        [3, 3],
        [0, 0, 0, 0],
        [2, 2, 2, 3],
      ],
      // One input channel: the input gradient is a depthwise convolution summed over channels.
      [
        [2, 7, 7, 1],
        [1, 1],
        [1, 1, 1, 1],
        [3, 3, 1, 4],
      ],
      [
        [1, 9, 8, 1],
        [2, 2],
        [0, 1, 1, 0],
        [3, 3, 1, 3],
      ],
    ];
    for (const [xs, s, p, ks] of configs) {
      tf.tidy(() => {
        const kernel = tf.tensor4d(
          uniformArray(
            ks.reduce((a, b) => a * b, 1),
            3,
          ),
          ks as [number, number, number, number],
        );
        const x = tf.tensor4d(
          uniformArray(
            xs.reduce((a, b) => a * b, 1),
            4,
          ),
          xs as [number, number, number, number],
        );
        const fast = convWithFastInputGrad(kernel, s, p, [1, 1]);
        const exact = (t: tf.Tensor4D): tf.Tensor4D =>
          tf.conv2d(t, kernel, s, [
            [0, 0],
            [p[0], p[2]],
            [p[1], p[3]],
            [0, 0],
          ]);
        const dy = tf.randomNormal(exact(x).shape, 0, 1, 'float32', 7);
        const g1 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fast.apply(t as tf.Tensor4D), dy)))(x);
        const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(exact(t as tf.Tensor4D), dy)))(x);
        expect(tf.max(tf.abs(tf.sub(fast.apply(x), exact(x)))).dataSync()[0]).toBeLessThan(1e-5);
        expect(tf.max(tf.abs(tf.sub(g1, g2))).dataSync()[0]).toBeLessThan(1e-4);
        expect(tf.max(tf.abs(g2)).dataSync()[0]).toBeGreaterThan(0.1);
        fast.dispose();
      });
    }
    await tf.setBackend(previous);
  });

  it.each(['default', 'portable'] as const)('fuses GroupSort2 and tiled L2 pooling (%s profile) with the same values and gradients', async (profile) => {
    const bytes = referenceConvModel(3, profile);
    const m = readOnnxModel(bytes);
    const fused = translateOnnx(m);
    const plainOps = translateOnnx(m, { fuse: false });
    try {
      expect(fused.opTypes.filter((o) => o === 'lip.GroupSort2')).toHaveLength(2);
      if (profile === 'portable') expect(fused.opTypes.filter((o) => o === 'lip.L2Pool')).toHaveLength(2);
      expect(plainOps.opTypes).not.toContain('lip.GroupSort2');
      expect(fused.opTypes.length).toBeLessThan(plainOps.opTypes.length);
      for (const backend of ['cpu', 'wasm']) {
        await tf.setBackend(backend);
        tf.tidy(() => {
          const x = tf.tensor4d(randomImages(3, [1, 28, 28], 4), [3, 1, 28, 28]);
          const dy = tf.randomNormal([3, 10], 0, 1, 'float32', 2);
          const grad = (f: (t: tf.Tensor4D) => tf.Tensor2D): tf.Tensor => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), dy)))(x);
          const gf = grad(fused);
          const gp = grad(plainOps);
          expect(tf.max(tf.abs(tf.sub(fused(x), plainOps(x)))).dataSync()[0]).toBeLessThan(1e-5);
          const scale = tf.max(tf.abs(gp)).dataSync()[0];
          expect(scale).toBeGreaterThan(0);
          expect(tf.max(tf.abs(tf.sub(gf, gp))).dataSync()[0]).toBeLessThan(1e-4 * scale);
        });
      }
    } finally {
      await tf.setBackend('cpu');
      fused.dispose();
      plainOps.dispose();
    }
    expect(await maxDiff(bytes, [1, 28, 28], 4, 6)).toBeLessThanOrEqual(1e-5);
  });

  it('gives tiled pooling the gradients of the plain tfjs composition', () => {
    tf.tidy(() => {
      const x = tf.relu(tf.tensor4d(uniformArray(2 * 6 * 4 * 3, 5), [2, 6, 4, 3]));
      const g = (f: (t: tf.Tensor4D) => tf.Tensor): tf.Tensor =>
        tf.grad((t: tf.Tensor) => {
          const y = f(t as tf.Tensor4D);
          return tf.sum(tf.mul(y, tf.reshape(tf.sin(tf.range(0, y.size)), y.shape)));
        })(x);
      const plainL2 = (t: tf.Tensor4D): tf.Tensor => tf.sqrt(tf.add(tf.mul(tf.avgPool(tf.square(t), 2, 2, 'valid'), 4), 1e-30));
      const close = (a: tf.Tensor, b: tf.Tensor): number => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
      expect(close(tiledL2Pool(x, [2, 2]), plainL2(x))).toBeLessThan(1e-6);
      expect(
        close(
          g((t) => tiledL2Pool(t, [2, 2])),
          g(plainL2),
        ),
      ).toBeLessThan(1e-4);
      expect(
        close(
          g((t) => meanPool(t, [2, 2], [2, 2])),
          g((t) => tf.avgPool(t, 2, 2, 'valid')),
        ),
      ).toBeLessThan(1e-6);
      expect(
        close(
          g((t) => meanPool(t, [3, 2], [1, 1])),
          g((t) => tf.avgPool(t, [3, 2], 1, 'valid')),
        ),
      ).toBeLessThan(1e-6);
    });
  });

  it.each(['cpu', 'wasm'])('runs GroupSort2 and tiled L2 pooling as loops on %s: exact min/max, gradients routed to the source', async (backend) => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      expect(hasJsKernels()).toBe(true);
      tf.tidy(() => {
        // Ties (0.5, 0.5) and (-0, 0) included.
        const x = tf.tensor2d([
          [3, -1, 0.5, 0.5],
          [-2, 7, -0, 0],
        ]);
        expect(Array.from(groupSort2Loop(x).dataSync())).toEqual([-1, 3, 0.5, 0.5, -2, 7, 0, 0]);
        const dy = tf.tensor2d([
          [1, 2, 3, 4],
          [5, 6, 7, 8],
        ]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(groupSort2Loop(t), dy)))(x);
        // (3, -1) swapped: x0 got the max's cotangent; ties keep the order.
        expect(Array.from(g.dataSync())).toEqual([2, 1, 3, 4, 5, 6, 7, 8]);

        const v = tf.tensor4d(uniformArray(2 * 4 * 6 * 3, 9), [2, 4, 6, 3]);
        const ref = tf.sqrt(tf.mul(tf.avgPool(tf.square(v), [2, 3], [2, 3], 'valid'), 6));
        expect(tf.max(tf.abs(tf.sub(tiledL2PoolLoop(v, [2, 3]), ref))).dataSync()[0]).toBeLessThan(1e-6);
        const w = tf.reshape(tf.sin(tf.range(0, ref.size)), ref.shape);
        const gl = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tiledL2PoolLoop(t as tf.Tensor4D, [2, 3]), w)))(v);
        const gr = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.sqrt(tf.mul(tf.avgPool(tf.square(t as tf.Tensor4D), [2, 3], [2, 3], 'valid'), 6)), w)))(v);
        expect(tf.max(tf.abs(tf.sub(gl, gr))).dataSync()[0]).toBeLessThan(1e-5);
        // An all-zero window has a zero gradient (not NaN).
        const z = tf.grad((t: tf.Tensor) => tf.sum(tiledL2PoolLoop(t as tf.Tensor4D, [2, 2])))(tf.zeros([1, 2, 2, 1]));
        expect(Array.from(z.dataSync())).toEqual([0, 0, 0, 0]);
      });
    } finally {
      await tf.setBackend(previous);
    }
  });

  it('differentiates TopK through the selected entries', () => {
    const bytes = model([4, 1, 1], (b, x) => b.node('TopK', [x, b.initializer(b.fresh('k'), [2], [1])], { axis: 1 }, { outputs: 2 })[0]);
    const f = translateOnnx(readOnnxModel(bytes));
    const g = tf.tidy(() =>
      tf.grad((x: tf.Tensor) => {
        const y = f(x as tf.Tensor4D);
        return tf.sum(tf.mul(y, tf.tensor2d([[10, 1]])));
      })(tf.tensor4d([0.3, 0.9, -1, 0.5], [1, 4, 1, 1])),
    );
    expect(Array.from(g.dataSync())).toEqual([0, 10, 0, 1]);
    g.dispose();
    f.dispose();
  });

  /** Checks the fused translation against the unfused one (logits and gradients, cpu and wasm) and onnxruntime; returns its ops. */
  async function fusedAgainstPlain(bytes: Uint8Array, chw: [number, number, number]): Promise<{ fusedOps: readonly string[] }> {
    const m = readOnnxModel(bytes);
    const fused = translateOnnx(m);
    const plainOps = translateOnnx(m, { fuse: false });
    try {
      for (const backend of ['cpu', 'wasm']) {
        await tf.setBackend(backend);
        tf.tidy(() => {
          const x = tf.tensor4d(randomImages(3, chw, 12), [3, ...chw]);
          const yf = fused(x);
          const dy = tf.randomNormal(yf.shape, 0, 1, 'float32', 4);
          const grad = (f: (t: tf.Tensor4D) => tf.Tensor2D): Float32Array =>
            tf
              .grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), dy)))(x)
              .dataSync() as Float32Array;
          // Layout ops only move entries: the same bits.
          expect({ backend, logits: Array.from(yf.dataSync()) }).toEqual({ backend, logits: Array.from(plainOps(x).dataSync()) });
          expect({ backend, grad: Array.from(grad(fused)) }).toEqual({ backend, grad: Array.from(grad(plainOps)) });
        });
      }
    } finally {
      await tf.setBackend('cpu');
      fused.dispose();
      plainOps.dispose();
    }
    expect(await maxDiff(bytes, chw, 3, 7)).toBeLessThanOrEqual(1e-5);
    return { fusedOps: fused.opTypes };
  }

  it('runs the invertible downsampling (Reshape, Transpose, Reshape, twice) as one gather, straight into the NHWC conv', async () => {
    const bytes = model([1, 8, 8], (b, x) => {
      let v = x;
      for (const [c, h] of [
        [1, 8],
        [4, 4],
      ]) {
        const [r] = b.node('Reshape', [v, b.initializer(b.fresh('sh'), [-1, c, h / 2, 2, h / 2, 2], [6])]);
        const [t] = b.node('Transpose', [r], { perm: [0, 3, 5, 1, 2, 4] });
        v = b.node('Reshape', [t, b.initializer(b.fresh('sh'), [-1, 4 * c, h / 2, h / 2], [4])])[0];
      }
      return conv(b, v, 16, 6, 51, { pads: [1, 1, 1, 1] });
    });
    const { fusedOps } = await fusedAgainstPlain(bytes, [1, 8, 8]);
    expect(fusedOps).toEqual([FUSED_PERMUTE, 'Conv', 'Flatten']);
  });

  it.each([
    [
      'SpaceToDepth then Transpose',
      (b: GraphBuilder, x: string) => b.node('Transpose', [b.node('SpaceToDepth', [x], { blocksize: 2 })[0]], { perm: [0, 1, 3, 2] })[0],
    ],
    [
      'DepthToSpace DCR after a conv',
      (b: GraphBuilder, x: string) => b.node('DepthToSpace', [conv(b, x, 2, 8, 57, { pads: [1, 1, 1, 1] })], { blocksize: 2 })[0],
    ],
    [
      'DepthToSpace DCR after SpaceToDepth (the identity)',
      (b: GraphBuilder, x: string) => b.node('DepthToSpace', [b.node('SpaceToDepth', [x], { blocksize: 2 })[0]], { blocksize: 2 })[0],
    ],
    [
      'DepthToSpace CRD after a conv',
      (b: GraphBuilder, x: string) => b.node('DepthToSpace', [conv(b, x, 2, 8, 52, { pads: [1, 1, 1, 1] })], { blocksize: 2, mode: 'CRD' })[0],
    ],
    [
      'Transpose and Reshape with a copied batch axis (0)',
      (b: GraphBuilder, x: string) =>
        b.node('Reshape', [b.node('Transpose', [x], { perm: [0, 3, 1, 2] })[0], b.initializer(b.fresh('sh'), [0, 4, -1], [3])])[0],
    ],
  ])('fuses a layout chain with the same values and gradients: %s', async (_name, build) => {
    const { fusedOps } = await fusedAgainstPlain(model([2, 4, 4], build), [2, 4, 4]);
    expect(fusedOps).toContain(FUSED_PERMUTE);
    expect(fusedOps.filter((o) => ['Transpose', 'SpaceToDepth', 'DepthToSpace'].includes(o))).toEqual([]);
  });

  it('reads an NHWC value back to NCHW order before Flatten as a reshape, with no gather', async () => {
    const bytes = model([2, 4, 4], (b, x) => b.node('Transpose', [conv(b, x, 2, 4, 53, { pads: [1, 1, 1, 1] })], { perm: [0, 2, 3, 1] })[0]);
    const f = translateOnnx(readOnnxModel(bytes));
    try {
      expect(f.opTypes).toEqual(['Conv', FUSED_PERMUTE]);
      for (const backend of ['cpu', 'wasm']) {
        await tf.setBackend(backend);
        const { kernelNames } = await tf.profile(() => tf.tidy(() => f(tf.tensor4d(randomImages(2, [2, 4, 4], 3), [2, 2, 4, 4]))));
        expect({ backend, kernelNames }).toEqual({ backend, kernelNames: expect.not.arrayContaining(['LipVerifyGatherRows', 'GatherV2', 'Transpose']) });
      }
    } finally {
      await tf.setBackend('cpu');
      f.dispose();
    }
    expect(await maxDiff(bytes, [2, 4, 4])).toBeLessThanOrEqual(1e-5);
  });

  it('leaves layout ops that mix images, or values used twice, out of a fused chain', () => {
    const node = (opType: string, inputs: string[], output: string, attributes: OnnxNode['attributes'] = {}): OnnxNode => ({
      name: output,
      opType,
      domain: '',
      inputs,
      outputs: [output],
      attributes,
    });
    const constants = new Map([['flat', { name: 'flat', dataType: 'int64' as const, dims: [2], size: 2, data: BigInt64Array.of(1n, -1n) }]]);
    const shapes = new Map<string, number[]>([
      ['x', [1, 2, 3, 4]],
      ['t', [1, 3, 2, 4]],
      ['u', [2, 1, 3, 4]],
      ['r', [1, 24]],
      ['v', [1, 4, 2, 3]],
    ]);
    // Batch axis moved (perm[0] != 0), a reshape to a fixed batch of 1, then a value also read by Relu.
    const nodes = [
      node('Transpose', ['x'], 'u', { perm: [1, 0, 2, 3] }),
      node('Reshape', ['x', 'flat'], 'r'),
      node('Transpose', ['x'], 't', { perm: [0, 2, 1, 3] }),
      node('Relu', ['t'], 'q'),
      node('Transpose', ['t'], 'v', { perm: [0, 3, 2, 1] }),
    ];
    const out = fuseLayoutChains(nodes, constants, ['u', 'r', 'q', 'v'], shapes);
    expect(out.map((n) => n.opType)).toEqual(['Transpose', 'Reshape', FUSED_PERMUTE, 'Relu', FUSED_PERMUTE]);
    // Each fused node is one transpose: t = x with axes 1 and 2 swapped, v = t with axes 1 and 3 swapped.
    expect(out[2].attributes.source).toEqual(
      Array.from({ length: 24 }, (_, i) => {
        const [a, b2, c] = [Math.floor(i / 8), Math.floor(i / 4) % 2, i % 4];
        return b2 * 12 + a * 4 + c;
      }),
    );
    expect(out[4].inputs).toEqual(['t']);
  });

  it.each([13, 18])('fuses GroupSort2 written as Reshape, ReduceMin, ReduceMax, Concat (torchlip), on images and features (opset %i)', async (opset) => {
    const reduceGs = (b: GraphBuilder, x: string, grouped: number[], back: number[]): string => {
      const [v] = b.node('Reshape', [x, b.initializer(b.fresh('sh'), grouped, [grouped.length])]);
      const axes = opset >= 18 ? { inputs: [b.initializer(b.fresh('axes'), [2], [1])], attrs: {} } : { inputs: [], attrs: { axes: [2] } };
      const [lo] = b.node('ReduceMin', [v, ...axes.inputs], { keepdims: 1, ...axes.attrs });
      const [hi] = b.node('ReduceMax', [v, ...axes.inputs], { keepdims: 1, ...axes.attrs });
      return b.node('Reshape', [b.node('Concat', [lo, hi], { axis: 2 })[0], b.initializer(b.fresh('sh'), back, [back.length])])[0];
    };
    const bytes = model(
      [1, 4, 4],
      (b, x) => {
        const c = conv(b, x, 1, 4, 54, { pads: [1, 1, 1, 1] });
        const g = reduceGs(b, c, [-1, 2, 2, 4, 4], [-1, 4, 4, 4]);
        const [f] = b.node('Flatten', [g]);
        const d = b.node('Gemm', [f, w(b, [64, 6], 55), w(b, [6], 56, 0.1)])[0];
        return reduceGs(b, d, [-1, 3, 2], [-1, 6]);
      },
      opset,
    );
    const f = translateOnnx(readOnnxModel(bytes));
    try {
      expect(f.opTypes.filter((o) => o === 'lip.GroupSort2')).toHaveLength(2);
      expect(f.opTypes).not.toContain('ReduceMin');
    } finally {
      f.dispose();
    }
    await onCpuThenWasm(async () => expect(await maxDiff(bytes, [1, 4, 4], 4, 9)).toBeLessThanOrEqual(1e-5));
  });

  it('fuses every GroupSort2 and L2 pooling of the torch.onnx dynamo export of the torchlip audit fixture', () => {
    const f = translateOnnx(readOnnxModel(path.join(AUDIT_FIXTURES, 'torchlip_dynamo.onnx')));
    try {
      expect(f.opTypes.filter((o) => o === 'lip.GroupSort2')).toHaveLength(3);
      expect(f.opTypes.filter((o) => o === 'lip.L2Pool')).toHaveLength(2);
      expect(f.opTypes.filter((o) => ['ReduceMin', 'ReduceMax', 'Concat'].includes(o))).toEqual([]);
    } finally {
      f.dispose();
    }
  });
});
