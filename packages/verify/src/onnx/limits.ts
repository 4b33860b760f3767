/**
 * Size limits on ONNX tensors and values. A leaf module: the reader checks
 * tensors against them, and the bound's value propagation (which the reader's
 * folding runs) checks computed values, without importing the reader.
 */

/** Largest number of elements one tensor (initializer or declared value) may have: 2^28 (1 GiB of float32). */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;
/**
 * Largest number of elements per sample of a value computed by the graph
 * (activations, folded constants): 2^24 (64 MiB of float32). The bound and
 * the session refuse a graph whose shapes exceed it before allocating.
 */
export const MAX_VALUE_ELEMENTS = 2 ** 24;
