import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { expectCloseRelMax, flat, mulberry32, Nested, shapeOf, uniformArray } from '@lip/test-support';
import { KERNEL_SETUPS, useKernelSetup } from '@lip/test-support/kernels';
import { expectNoTensorLeak, onCpu } from '@lip/test-support/tf';
import { InvalidArgumentError } from '../errors';
import { fullSort, groupSort, groupSort2 } from './group_sort';

interface Fixture {
  activations: Array<Record<string, Nested>>;
  activations2d: Array<Record<string, Nested>>;
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../testdata/torchlip-v0.1.1-reference.json'), 'utf8')) as Fixture;
const act = fixture.activations[0];
const act2d = fixture.activations2d[0];

/**
 * The straightforward GroupSort: a bubble-sort network of tf.minimum /
 * tf.maximum on the channel slices of each group (slow on wasm, but its
 * gradient is tfjs's own).
 */
function referenceGroupSort(x: tf.Tensor, n: number): tf.Tensor {
  const c = x.shape[x.rank - 1];
  const groups = tf.reshape(x, [-1, c / n, n]);
  // Copy: tfjs records split's output array on the tape, so it must not be mutated.
  const cols = [...tf.split(groups, n, 2)];
  for (let pass = 0; pass < n - 1; pass++) {
    for (let i = 0; i < n - 1 - pass; i++) {
      const lo = tf.minimum(cols[i], cols[i + 1]);
      const hi = tf.maximum(cols[i], cols[i + 1]);
      cols[i] = lo;
      cols[i + 1] = hi;
    }
  }
  return tf.reshape(tf.concat(cols, 2), x.shape);
}

describe.each(KERNEL_SETUPS)('GroupSort on %s, %s kernels', (backend, kernels) => {
  useKernelSetup(backend, kernels);

  const nhwcCases: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
    ['groupSort2', (x) => groupSort2(x)],
    ['groupSort4', (x) => groupSort(x, 4)],
    ['fullSort', (x) => fullSort(x)],
  ];

  it.each(nhwcCases)('%s matches the NHWC fixture (and its NCHW copy) to 1e-6 relative', (name, op) => {
    const x = tf.tensor4d(flat(act.inputNHWC), shapeOf(act.inputNHWC) as [number, number, number, number]);
    const y = op(x);
    expectCloseRelMax(y.dataSync(), flat(act[`${name}NHWC`]));
    const nchw = tf.transpose(y, [0, 3, 1, 2]);
    expect(nchw.shape).toEqual(shapeOf(act[`${name}NCHW`]));
    expectCloseRelMax(nchw.dataSync(), flat(act[`${name}NCHW`]));
    tf.dispose([x, y, nchw]);
  });

  it.each(nhwcCases)('%s matches the 2-D (dense) fixture to 1e-6 relative', (name, op) => {
    const x = tf.tensor2d(flat(act2d.input), shapeOf(act2d.input) as [number, number]);
    const y = op(x);
    expect(y.shape).toEqual(shapeOf(act2d[name]));
    expectCloseRelMax(y.dataSync(), flat(act2d[name]));
    tf.dispose([x, y]);
  });

  it('groupSort2 is ordered and equals min/max up to one rounding of a - b (exactly with the SIMD kernel)', () => {
    const rand = mulberry32(5);
    // Pairs spanning many magnitudes, plus exact ties and signed zeros.
    const pairs: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const e1 = Math.floor(rand() * 60) - 30;
      const e2 = Math.floor(rand() * 60) - 30;
      pairs.push((rand() - 0.5) * 2 ** e1, (rand() - 0.5) * 2 ** e2);
    }
    pairs.push(1.5, 1.5, -0, 0, 0, -0, 3, -3, 1, 1e-8, -1e-8, 1);
    while (pairs.length % 8 !== 0) pairs.push(0.25, -0.25);
    const data = Float32Array.from(pairs);
    const x = tf.tensor2d(data, [data.length / 8, 8]);
    const y = groupSort2(x).dataSync();
    const bad: string[] = [];
    let inexact = 0;
    for (let i = 0; i < data.length; i += 2) {
      const a = data[i];
      const b = data[i + 1];
      const ulp = 2 ** -23 * Math.max(Math.abs(a), Math.abs(b));
      const lo = Math.abs(y[i] - Math.min(a, b));
      const hi = Math.abs(y[i + 1] - Math.max(a, b));
      if (!(y[i] <= y[i + 1]) || lo > ulp || hi > ulp) bad.push(`(${a}, ${b}) -> (${y[i]}, ${y[i + 1]})`);
      if (lo > 0 || hi > 0) inexact++;
    }
    expect(bad).toEqual([]);
    // The composed form rounds (the test exercises the rounding it tolerates); lip's SIMD kernel is exact.
    if (backend === 'wasm' && kernels === 'simd') expect(inexact).toBe(0);
    else expect(inexact).toBeGreaterThan(0);
    tf.dispose(x);
  });

  it.each([
    ['groupSort2', 2, (x: tf.Tensor) => groupSort2(x)],
    ['groupSort(x, 3)', 3, (x: tf.Tensor) => groupSort(x, 3)],
    ['groupSort(x, 4)', 4, (x: tf.Tensor) => groupSort(x, 4)],
    ['fullSort', 12, (x: tf.Tensor) => fullSort(x)],
  ] as Array<[string, number, (x: tf.Tensor) => tf.Tensor]>)('%s: value and gradient equal the min/max network on cpu', async (_name, n, op) => {
    const shape = [2, 3, 4, 12];
    const size = 2 * 3 * 4 * 12;
    const xData = uniformArray(size, 17 + n, -2, 2);
    const wData = uniformArray(size, 18 + n, -2, 2);
    const [value, grad] = tf.tidy(() => {
      const x = tf.tensor(xData, shape);
      const w = tf.tensor(wData, shape);
      const f = (t: tf.Tensor) => tf.sum(tf.mul(op(t), w));
      return [op(x).dataSync(), tf.grad(f)(x).dataSync()];
    });
    const [refValue, refGrad] = await onCpu(() =>
      tf.tidy(() => {
        const x = tf.tensor(xData, shape);
        const w = tf.tensor(wData, shape);
        const f = (t: tf.Tensor) => tf.sum(tf.mul(referenceGroupSort(t, n), w));
        return [referenceGroupSort(x, n).dataSync(), tf.grad(f)(x).dataSync()];
      }),
    );
    expectCloseRelMax(value, refValue);
    // The gradient is a permutation of w: equal exactly, up to float32 of the inputs.
    expectCloseRelMax(grad, refGrad);
  });

  it('leaks no tensors, in the forward pass or the gradient', () => {
    const x = tf.tensor2d(uniformArray(6 * 8, 3, -2, 2), [6, 8]);
    for (const op of [(t: tf.Tensor) => groupSort2(t), (t: tf.Tensor) => groupSort(t, 4), fullSort]) {
      op(x).dispose(); // warm the P/Q cache
      expectNoTensorLeak(op, x);
    }
    tf.dispose(x);
  });

  it('groupSort(x, 1) is the identity (a copy)', () => {
    const x = tf.tensor2d([[3, 1, 2]]);
    const y = groupSort(x, 1);
    expect(y).not.toBe(x);
    expect(Array.from(y.dataSync())).toEqual([3, 1, 2]);
    tf.dispose([x, y]);
  });
});

describe('argument checks', () => {
  it('rejects bad group sizes with InvalidArgumentError naming the parameter', () => {
    const x = tf.ones([2, 12]);
    const odd = tf.ones([2, 5]);
    expect(() => groupSort(x, 5)).toThrow(InvalidArgumentError);
    expect(() => groupSort(x, 5)).toThrow("groupSort: 'n' must divide the channel count 12, got 5");
    expect(() => groupSort(x, 0)).toThrow("groupSort: 'n' must be an integer >= 1, got 0");
    expect(() => groupSort(x, 2.5)).toThrow("'n' must be an integer >= 1, got 2.5");
    expect(() => groupSort2(odd)).toThrow('groupSort2: the channel count (last axis) must be even, got 5');
    expect(() => fullSort(tf.scalar(1))).toThrow("fullSort: 'x' must have at least one axis");
    tf.dispose([x, odd]);
  });
});
