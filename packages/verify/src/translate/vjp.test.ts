import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { exportOnnx } from '@lip/export';
import { buildModel, installWasmKernels, wasmKernelsInstalled } from '@lip/train';
import { QUIET_LOGGER, randomImages, uniformArray } from '@lip/test-support';
import { imageBuilder } from '@lip/test-support/onnx';
import { readOnnxModel } from '../onnx/read';
import { LogitsFn, logitsAndGrad } from '../attacks/common';
import { cwL2 } from '../attacks/cw';
import { TranslatedModel, translateOnnx } from './translate';

const SHIPPED = path.join(__dirname, '../../../../models/fashion-mnist-ortho.onnx');
const AUDIT = path.join(__dirname, '../../../../test/fixtures/audit');
const file = (p: string) => (): Uint8Array => new Uint8Array(fs.readFileSync(p));

function referenceNetwork(portable: boolean): Uint8Array {
  const net = buildModel('seed', { seed: 5, logger: QUIET_LOGGER });
  try {
    return exportOnnx(net, { portable });
  } finally {
    net.dispose();
  }
}

/** Zero padding with negative pads (a crop) before a conv: Pad's written-out backward. */
function croppingPadModel(): Uint8Array {
  const { b, x } = imageBuilder([1, 28, 28]);
  const pads = b.initializer('pads', [0, 0, -1, 2, 0, 0, 1, -3], [8]);
  const [p] = b.node('Pad', [x, pads], { mode: 'constant' });
  const [c] = b.node('Conv', [p, b.initializer('w', uniformArray(4 * 9, 3), [4, 1, 3, 3])], { kernel_shape: [3, 3] });
  const [flat] = b.node('Flatten', [c]);
  b.node('Gemm', [flat, b.initializer('d', uniformArray(4 * 26 * 25 * 3, 4, -0.1, 0.1), [4 * 26 * 25, 3])], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 3]);
  return b.toBytes();
}

/** Logits and `d sum(dy * logits) / dx` by the written-out backward pass and by tf.grad. */
function bothWays(f: TranslatedModel, n: number): { vjp: number[][]; tape: number[][] } {
  return tf.tidy(() => {
    const x = tf.tensor4d(randomImages(n, [1, 28, 28], 21), [n, 1, 28, 28]);
    const run = f.vjp(x);
    expect(run).not.toBeNull();
    const dy = tf.tensor2d(uniformArray(n * run!.logits.shape[1], 8), run!.logits.shape);
    const vjp = [Array.from(run!.logits.dataSync()), Array.from(run!.backward(dy).dataSync())];
    const tape = [
      Array.from(f(x).dataSync()),
      Array.from(
        tf
          .grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), dy)))(x)
          .dataSync(),
      ),
    ];
    return { vjp, tape };
  });
}

describe('TranslatedModel.vjp: forward and input gradient without the gradient tape', () => {
  beforeEach(async () => {
    await tf.setBackend('cpu');
  });

  const MODELS: [string, () => Uint8Array][] = [
    ['the shipped model', file(SHIPPED)],
    ['the exported reference network', () => referenceNetwork(false)],
    ['the exported reference network, portable profile (L2 pooling)', () => referenceNetwork(true)],
    ['the torch.onnx export of a torchlip network (Pad, ReduceMin/ReduceMax GroupSort2, lp_pool2d)', file(path.join(AUDIT, 'torchlip.onnx'))],
    ['a Pad that crops and pads', croppingPadModel],
  ];

  it.each(MODELS)('gives the logits and gradient of tf.grad, bit for bit, on cpu, wasm and wasm with lip kernels: %s', async (_name, bytes) => {
    const f = translateOnnx(readOnnxModel(bytes()));
    try {
      for (const backend of ['cpu', 'wasm', 'wasm+lip']) {
        await tf.setBackend(backend === 'wasm+lip' ? 'wasm' : backend);
        if (backend === 'wasm+lip') installWasmKernels();
        const { vjp, tape } = bothWays(f, 3);
        expect({ backend, vjp }).toEqual({ backend, vjp: tape });
        expect(Math.max(...vjp[1].map(Math.abs))).toBeGreaterThan(0);
        // Weights are kept on first use; after that a step leaves nothing behind.
        const before = tf.memory().numTensors;
        bothWays(f, 2);
        expect(tf.memory().numTensors).toBe(before);
      }
    } finally {
      f.dispose();
    }
  });

  it("runs @lip/train's GroupSort2 kernel when lip's wasm kernels are installed, and registers none of its kernel names itself", async () => {
    // The translator's own loop kernels (js_kernels.ts) once took @lip/train's kernel name, and installWasmKernels then
    // replaced them as if they were tfjs's.
    expect(tf.getKernel('LipGroupSort2', 'cpu')).toBeUndefined();
    const f = translateOnnx(readOnnxModel(referenceNetwork(false)));
    try {
      await tf.setBackend('wasm');
      installWasmKernels();
      expect(wasmKernelsInstalled()).toBe(true);
      const x = tf.tensor4d(randomImages(2, [1, 28, 28], 3), [2, 1, 28, 28]);
      const { kernelNames } = await tf.profile(() => tf.tidy(() => f.vjp(x)!.backward(tf.ones([2, 10]))));
      expect(kernelNames).toEqual(expect.arrayContaining(['LipGroupSort2', 'LipVerifyGroupSort2Grad']));
      expect(kernelNames).not.toContain('LipVerifyGroupSort2');
      x.dispose();
    } finally {
      f.dispose();
    }
  });

  it('is null where an op has no written-out backward; logitsAndGrad then differentiates with the tape', () => {
    const { b, x } = imageBuilder([1, 2, 2]);
    const [flat] = b.node('Flatten', [b.node('Sigmoid', [x])[0]]);
    b.node('Gemm', [flat, b.initializer('w', uniformArray(4 * 3, 2), [4, 3])], {}, { outputs: ['logits'] });
    b.output('logits', ['N', 3]);
    const f = translateOnnx(readOnnxModel(b.toBytes()));
    try {
      const images = Float32Array.of(0.1, 0.5, -0.3, 2);
      expect(tf.tidy(() => f.vjp(tf.tensor4d(images, [1, 1, 2, 2])))).toBeNull();
      const { grad } = logitsAndGrad(f, images, [1, 1, 2, 2], () => Float32Array.of(1, 0, -1));
      const expected = tf.tidy(() =>
        tf
          .grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), tf.tensor2d([[1, 0, -1]]))))(tf.tensor4d(images, [1, 1, 2, 2]))
          .dataSync(),
      );
      expect(Array.from(grad)).toEqual(Array.from(expected));
    } finally {
      f.dispose();
    }
  });

  it('is what logitsAndGrad runs when present', () => {
    const calls: string[] = [];
    const model = Object.assign(
      (): tf.Tensor2D => {
        throw new Error('the function itself should not run');
      },
      {
        vjp: (x: tf.Tensor4D) => {
          calls.push(`vjp [${x.shape.join(', ')}]`);
          return { logits: tf.tensor2d([[2, -1]]), backward: (dy: tf.Tensor2D) => tf.mul(tf.sum(dy), tf.ones(x.shape)) as tf.Tensor4D };
        },
      },
    ) as LogitsFn;
    const out = logitsAndGrad(model, new Float32Array(3), [1, 1, 1, 3], (z) => Float32Array.of(z[0], 10));
    expect(calls).toEqual(['vjp [1, 1, 1, 3]']);
    expect(Array.from(out.logits)).toEqual([2, -1]);
    expect(Array.from(out.grad)).toEqual([12, 12, 12]);
  });

  it("leaves cw's result unchanged (same adversarials as through the tape)", async () => {
    await tf.setBackend('wasm');
    const f = translateOnnx(readOnnxModel(file(SHIPPED)()));
    try {
      const x = randomImages(2, [1, 28, 28], 30);
      const labels = tf.tidy(() => Array.from(tf.argMax(f(tf.tensor4d(x, [2, 1, 28, 28])), 1).dataSync()));
      const tapeOnly: LogitsFn = (t) => f(t);
      const opts = { binarySearchSteps: 2, steps: 40, initialConst: 10 };
      const ours = cwL2(f, x, [2, 1, 28, 28], labels, opts);
      const theirs = cwL2(tapeOnly, x, [2, 1, 28, 28], labels, opts);
      expect(ours.found).toEqual(theirs.found);
      expect(Array.from(ours.adv)).toEqual(Array.from(theirs.adv));
      expect(ours.found.some((v) => v)).toBe(true);
    } finally {
      f.dispose();
    }
  });
});
