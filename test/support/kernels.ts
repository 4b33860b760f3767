/**
 * lip's wasm kernels in tests: running code with the SIMD or the composed
 * kernels, the kernels a computation runs, the composed references a SIMD
 * kernel is checked against, and the backend x kernels setups the functional
 * ops are tested on. The kernel switch is internal to @lip/train, so it is
 * imported by path (jest loads the same module as the package's own).
 */
import * as tf from '@tensorflow/tfjs-core';
import { installWasmKernels } from '../../packages/train/src/backend/install_wasm_kernels';
import { type KernelChoice, setKernelChoice } from '../../packages/train/src/backend/kernels/kernel_choice';
import { bitsOf } from './compare';
import { mulberry32 } from './random';
import { onCpu, useBackend } from './tf';

/** [backend, kernels]: cpu, wasm with lip's SIMD kernels, and wasm's composed fallback (LIP_KERNELS=composed). */
export const KERNEL_SETUPS: ReadonlyArray<[string, KernelChoice]> = [
  ['cpu', 'composed'],
  ['wasm', 'simd'],
  ['wasm', 'composed'],
];

/**
 * For the calling describe block (or file): `backend` with lip's kernels
 * installed and `kernels` chosen (default: LIP_KERNELS), LIP_KERNELS again
 * after its last test.
 */
export function useKernelSetup(backend: string, kernels?: KernelChoice): void {
  useBackend(backend);
  beforeAll(() => installWasmKernels({ kernels }));
  afterAll(() => setKernelChoice(undefined));
}

/** Runs `fn` with the `choice` kernels, then goes back to LIP_KERNELS (also when `fn` throws). */
export function withKernels<T>(choice: KernelChoice, fn: () => T): T {
  setKernelChoice(choice);
  try {
    return fn();
  } finally {
    setKernelChoice(undefined);
  }
}

/** The two references of a SIMD kernel: `fn` with the composed kernels on wasm, then on the cpu backend. */
export async function composedReferences<T>(fn: () => T): Promise<T[]> {
  return [withKernels('composed', fn), await onCpu(fn)];
}

/** The names of the kernels `fn` runs with the `choice` kernels (its tensors are disposed). */
export async function kernelsRun(choice: KernelChoice, fn: () => tf.TensorContainer): Promise<string[]> {
  setKernelChoice(choice);
  try {
    return (await tf.profile(() => tf.tidy(fn))).kernelNames;
  } finally {
    setKernelChoice(undefined);
  }
}

/** `fn` runs every kernel of `kernelNames` with the SIMD kernels, and none of them with the composed ones. */
export async function expectOnlySimdRuns(kernelNames: string[], fn: () => tf.TensorContainer): Promise<void> {
  expect(await kernelsRun('simd', fn)).toEqual(expect.arrayContaining(kernelNames));
  const composed = await kernelsRun('composed', fn);
  for (const name of kernelNames) expect(composed).not.toContain(name);
}

/** Two runs of `fn` with the SIMD kernels give the same bits, array by array. */
export function expectSameBitsTwice(fn: () => Float32Array[]): void {
  const first = withKernels('simd', fn);
  const second = withKernels('simd', fn);
  expect(second.map(bitsOf)).toEqual(first.map(bitsOf));
}

/** With the SIMD kernels, `op` on `x` and its gradient leave exactly their two outputs behind: tensors and backend data. */
export function expectNoKernelLeak(op: (t: tf.Tensor) => tf.Tensor, x: tf.Tensor): void {
  withKernels('simd', () => {
    const backend = tf.backend();
    const before = [tf.memory().numTensors, backend.numDataIds()];
    const y = op(x);
    const g = tf.grad((t: tf.Tensor) => tf.sum(op(t)))(x);
    expect([tf.memory().numTensors, backend.numDataIds()]).toEqual([before[0] + 2, before[1] + 2]);
    tf.dispose([y, g]);
  });
}

/** Per-channel activations (bias-add outputs, GroupSort2 inputs) of the architectures (packages/train/src/models), batch 2. */
export const ARCH_ACTIVATION_SHAPES: number[][] = [
  // seed on 28x28x1: conv1, conv2, dense
  [2, 28, 28, 16],
  [2, 14, 14, 32],
  [2, 64],
  // seed on CIFAR 32x32x3
  [2, 32, 32, 16],
  [2, 16, 16, 32],
  // ortho / ortho-large on 28x28x1 and on CIFAR
  [2, 7, 7, 16],
  [2, 7, 7, 32],
  [2, 128],
  [2, 8, 8, 48],
  [2, 8, 8, 64],
  [2, 256],
];

/**
 * `fixed`, then random shapes up to `count`: rank 2 to 4, batch 1..5 (1 at 30%),
 * spatial sizes 1..9, channels drawn by `channels(int)` from the same seeded stream.
 */
export function randomActivationShapes(
  count: number,
  seed: number,
  fixed: number[][],
  channels: (int: (lo: number, hi: number) => number) => number,
): number[][] {
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const shapes = [...fixed];
  while (shapes.length < count) {
    const c = channels(int);
    const batch = rand() < 0.3 ? 1 : int(1, 5);
    const rank = int(2, 4);
    shapes.push(rank === 2 ? [batch, c] : rank === 3 ? [batch, int(1, 9), c] : [batch, int(1, 9), int(1, 9), c]);
  }
  return shapes;
}
