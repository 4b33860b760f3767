/**
 * The one switch between lip's wasm SIMD kernels and the composed tfjs
 * versions they replace (kept as the fallback, and for comparison):
 * `LIP_KERNELS=simd|composed` in the environment (default simd), or
 * `installWasmKernels({ kernels })`, which overrides it in the calling
 * thread. Read by the functional ops and the kernels at each call.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../../errors';

export type KernelChoice = 'simd' | 'composed';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['simd', 'composed'];

export const DEFAULT_KERNEL_CHOICE: KernelChoice = 'simd';

function isKernelChoice(value: unknown): value is KernelChoice {
  return (KERNEL_CHOICES as readonly unknown[]).includes(value);
}

/** `LIP_KERNELS`, checked (undefined when unset or empty, or without `process`, as in browsers). */
export function kernelChoiceFromEnv(): KernelChoice | undefined {
  const value = typeof process === 'undefined' ? undefined : process.env?.LIP_KERNELS;
  if (value === undefined || value === '') return undefined;
  if (!isKernelChoice(value)) {
    throw new InvalidArgumentError(
      `LIP_KERNELS must be one of ${KERNEL_CHOICES.join(', ')}, got '${value}' (unset it for the default, ${DEFAULT_KERNEL_CHOICE})`,
    );
  }
  return value;
}

let chosen: KernelChoice | undefined;

/** The kernels in use in this thread: the last `setKernelChoice`, else `LIP_KERNELS`, else simd. */
export function kernelChoice(): KernelChoice {
  chosen ??= kernelChoiceFromEnv() ?? DEFAULT_KERNEL_CHOICE;
  return chosen;
}

/** Chooses the kernels of this thread; `undefined` goes back to `LIP_KERNELS` (read again). */
export function setKernelChoice(choice: KernelChoice | undefined): void {
  if (choice !== undefined && !isKernelChoice(choice)) {
    throw new InvalidArgumentError(`'kernels' must be one of ${KERNEL_CHOICES.join(', ')}, got ${JSON.stringify(choice)}`);
  }
  chosen = choice;
}

/**
 * True when an op should run lip's SIMD kernel `kernelName`: the wasm
 * backend active, the kernel registered (installWasmKernels), simd chosen.
 */
export function useSimdKernel(kernelName: string): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(kernelName, 'wasm') !== undefined && kernelChoice() === 'simd';
}
