/**
 * Backend selection (tfjs-node, wasm, cpu), lip's kernels for
 * tfjs-backend-wasm, and leak checks for tests.
 */
export {
  selectBackend,
  backendName,
  describeBackend,
  BACKEND_PREFERENCES,
  type BackendPreference,
  type SelectBackendOptions,
  type SelectedBackend,
} from './select_backend';
export { installWasmKernels, wasmKernelsInstalled } from './install_wasm_kernels';
export type { InstallWasmKernelsOptions } from './install_wasm_kernels';
export type { KernelChoice } from './kernels/kernel_choice';
export { WASM_MAX_THREADS } from './wasm_threads';
export { tensorCount, withNoLeak } from './memory';
