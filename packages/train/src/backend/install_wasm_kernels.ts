/**
 * Registers lip's kernels for tfjs-backend-wasm.
 *
 * Mechanism: kernels registered for backendName 'wasm' (`registerKernel`),
 * not a `registerGradient` override of Conv2D. Reasons:
 * - they serve every path that reaches the kernel on wasm: conv2d gradients
 *   from tfjs-layers, `tf.grad`, `customGrad` code elsewhere in lip, and
 *   `tf.conv2dTranspose` (a forward `Conv2DBackpropInput`);
 * - other backends (cpu, tfjs-node) keep their own kernels untouched, with
 *   no "which backend is active" test inside a global gradient;
 * - second-order gradients keep working: the tape records the kernel as
 *   usual and uses tfjs-core's gradient configs for it.
 * A composed kernel calls the stock wasm kernel functions from the registry
 * (see wasm_kernel_utils.ts), which does not re-enter the engine.
 *
 * Replacing a stock kernel keeps its `setupFunc` (the wasm binding that the
 * stock kernel, our fallback, needs), whether or not the backend has started.
 */
import { getGradient, getKernel, KernelConfig, KernelFunc, registerGradient, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm'; // registers the stock kernels first, so ours replace them
import { conv2DBackpropFilterWasm, makeConv2DBackpropInputWasm } from './conv_backprop_wasm';
import { makeConv2DWasm } from './conv2d_wasm';
import { makeBatchMatMulWasm } from './matmul_wasm';
import { makeIdentityWasm } from './identity_wasm';
import { makeAvgPoolGradWasm } from './pool_backprop_wasm';
import { makeSumWasm } from './sum_wasm';
import { biasAddGradConfig, biasAddKernelConfig, biasColumnSumGradConfig, biasColumnSumKernelConfig } from './kernels/bias_kernel';
import { conv2DBiasGradConfig, conv2DBiasKernelConfig } from './kernels/conv2d_bias_kernel';
import { bjorckGradKernelConfig, bjorckKernelConfig } from './kernels/bjorck_kernel';
import { groupSort2GradConfig, groupSort2GradKernelConfig, groupSort2KernelConfig } from './kernels/group_sort2_kernel';
import { type KernelChoice, kernelChoice, setKernelChoice } from './kernels/kernel_choice';
import { scaledL2PoolGradConfig, scaledL2PoolGradKernelConfig, scaledL2PoolKernelConfig } from './kernels/l2_pool_kernel';

const WASM = 'wasm';

/** The stock kernels we replaced, by kernel name. */
const stockKernels = new Map<string, KernelConfig>();

/** Calls the stock kernel we replaced (looked up per call: whichever was registered before us). */
function stock(name: string): KernelFunc {
  return (args) => {
    const kernelFunc = stockKernels.get(name)?.kernelFunc;
    if (kernelFunc == null) throw new Error(`tfjs-backend-wasm has no stock ${name} kernel`);
    return kernelFunc(args);
  };
}

/** Our kernel functions, built once so that re-installing can recognize them. */
const ourKernels: ReadonlyArray<{ kernelName: string; kernelFunc: KernelFunc }> = [
  // SIMD (kernels/conv_filter_grad.c), or composed of XNNPACK kernels when the choice is composed.
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilterWasm },
  { kernelName: 'Conv2DBackpropInput', kernelFunc: makeConv2DBackpropInputWasm(stock('Conv2DBackpropInput')) },
  // Winograd on 3x3 stride-1 convolutions under the simd choice (kernels/winograd.c), else XNNPACK.
  { kernelName: 'Conv2D', kernelFunc: makeConv2DWasm(stock('Conv2D')) },
  { kernelName: 'AvgPoolGrad', kernelFunc: makeAvgPoolGradWasm(stock('AvgPoolGrad')) },
  { kernelName: 'BatchMatMul', kernelFunc: makeBatchMatMulWasm(stock('BatchMatMul')) },
  { kernelName: 'Sum', kernelFunc: makeSumWasm(stock('Sum')) },
  // A shared buffer instead of a copy (simd; the tape's clones of saved tensors).
  { kernelName: 'Identity', kernelFunc: makeIdentityWasm(stock('Identity')) },
  // lip's own ops (wasm SIMD, backend/kernels/), which the functional ops use when the choice is simd.
  groupSort2KernelConfig,
  groupSort2GradKernelConfig,
  scaledL2PoolKernelConfig,
  scaledL2PoolGradKernelConfig,
  bjorckKernelConfig,
  bjorckGradKernelConfig,
  biasAddKernelConfig,
  biasColumnSumKernelConfig,
  conv2DBiasKernelConfig,
];

/** Gradients of lip's own ops (global, as tfjs's gradient registry is). */
const ourGradients = [groupSort2GradConfig, scaledL2PoolGradConfig, biasAddGradConfig, biasColumnSumGradConfig, conv2DBiasGradConfig];

export interface InstallWasmKernelsOptions {
  /**
   * lip's SIMD kernels or the composed tfjs versions, in this thread
   * (default: `LIP_KERNELS`, else simd; see kernels/kernel_choice.ts).
   */
  kernels?: KernelChoice;
}

/**
 * Installs lip's wasm kernels: `Conv2DBackpropFilter` (missing from
 * tfjs-backend-wasm 4.22), and faster `Conv2DBackpropInput`, `AvgPoolGrad`,
 * transposed `BatchMatMul` and leading-axes `Sum` (which fall back to the stock kernels where those are
 * faster or the composition does not apply), and lip's GroupSort2, L2
 * pooling and Björck SIMD kernels with their gradients, and the linear
 * layers' bias (added by SIMD or folded into the convolution; its gradient
 * a SIMD column sum). Idempotent;
 * `selectBackend('wasm')` calls it.
 */
export function installWasmKernels(options: InstallWasmKernelsOptions = {}): void {
  if (options.kernels !== undefined) setKernelChoice(options.kernels);
  kernelChoice(); // a bad LIP_KERNELS fails here, when the backend is chosen
  for (const config of ourGradients) {
    if (getGradient(config.kernelName) !== config) registerGradient(config);
  }
  for (const { kernelName, kernelFunc } of ourKernels) {
    const current = getKernel(kernelName, WASM);
    if (current?.kernelFunc === kernelFunc) continue;
    if (current != null) {
      stockKernels.set(kernelName, current);
      unregisterKernel(kernelName, WASM);
    }
    registerKernel({
      kernelName,
      backendName: WASM,
      kernelFunc,
      setupFunc: current?.setupFunc,
      disposeFunc: current?.disposeFunc,
    });
  }
}

/** True when every lip wasm kernel is the registered one. */
export function wasmKernelsInstalled(): boolean {
  return ourKernels.every(({ kernelName, kernelFunc }) => getKernel(kernelName, WASM)?.kernelFunc === kernelFunc);
}

/**
 * Puts tfjs-backend-wasm's own kernels back (and removes the ones it lacks).
 * For tests and benchmarks that compare against the stock backend.
 */
export function uninstallWasmKernels(): void {
  for (const { kernelName, kernelFunc } of ourKernels) {
    const current = getKernel(kernelName, WASM);
    if (current?.kernelFunc !== kernelFunc) continue;
    unregisterKernel(kernelName, WASM);
    const stock = stockKernels.get(kernelName);
    if (stock != null) registerKernel(stock);
    stockKernels.delete(kernelName);
  }
}
