/**
 * The one switch between lip's SIMD kernels and the composed versions:
 * LIP_KERNELS and installWasmKernels({ kernels }).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { InvalidArgumentError } from '../../errors';
import { groupSort2 } from '../../functional/group_sort';
import { installWasmKernels, uninstallWasmKernels } from '../install_wasm_kernels';
import { GROUP_SORT2 } from './group_sort2_kernel';
import { kernelChoice, setKernelChoice } from './kernel_choice';

const savedEnv = process.env.LIP_KERNELS;

function setEnv(value: string | undefined): void {
  if (value === undefined) delete process.env.LIP_KERNELS;
  else process.env.LIP_KERNELS = value;
  setKernelChoice(undefined); // read it again
}

/** True when groupSort2 ran lip's kernel. */
async function ranSimdKernel(): Promise<boolean> {
  const x = tf.ones([1, 4]);
  const profile = await tf.profile(() => tf.tidy(() => groupSort2(x)));
  x.dispose();
  return profile.kernelNames.includes(GROUP_SORT2);
}

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

afterEach(() => setEnv(savedEnv));

test('the default is simd; LIP_KERNELS=composed and LIP_KERNELS=simd choose', async () => {
  setEnv(undefined);
  installWasmKernels();
  expect(kernelChoice()).toBe('simd');
  expect(await ranSimdKernel()).toBe(true);
  setEnv('composed');
  expect(kernelChoice()).toBe('composed');
  expect(await ranSimdKernel()).toBe(false);
  setEnv('simd');
  expect(await ranSimdKernel()).toBe(true);
});

test('installWasmKernels({ kernels }) overrides LIP_KERNELS in this thread', async () => {
  setEnv('simd');
  installWasmKernels({ kernels: 'composed' });
  expect(kernelChoice()).toBe('composed');
  expect(await ranSimdKernel()).toBe(false);
  installWasmKernels({ kernels: 'simd' });
  expect(await ranSimdKernel()).toBe(true);
});

test('a bad LIP_KERNELS fails when the kernels are installed, naming the variable and the choices', () => {
  setEnv('fast');
  const message = "LIP_KERNELS must be one of simd, composed, got 'fast' (unset it for the default, simd)";
  expect(() => installWasmKernels()).toThrow(InvalidArgumentError);
  expect(() => installWasmKernels()).toThrow(message);
  expect(() => kernelChoice()).toThrow(message);
});

test("a bad 'kernels' option fails with InvalidArgumentError quoting it", () => {
  const bad = { kernels: 'fast' } as unknown as Parameters<typeof installWasmKernels>[0];
  expect(() => installWasmKernels(bad)).toThrow(InvalidArgumentError);
  expect(() => installWasmKernels(bad)).toThrow(`'kernels' must be one of simd, composed, got "fast"`);
});

test('without the kernels installed (or after uninstalling them) the composed form runs', async () => {
  setEnv('simd');
  installWasmKernels();
  expect(await ranSimdKernel()).toBe(true);
  uninstallWasmKernels();
  expect(tf.getKernel(GROUP_SORT2, 'wasm')).toBeUndefined();
  expect(await ranSimdKernel()).toBe(false);
  installWasmKernels();
  expect(await ranSimdKernel()).toBe(true);
});
