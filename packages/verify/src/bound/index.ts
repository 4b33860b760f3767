/** The sound Lipschitz bound of an ONNX graph (`lipschitz.ts`) and its parts: rules, value propagation, dense and conv norms, shape rules. */
export { lipschitzBound } from './lipschitz';
export type { LinearHead, LipschitzBound } from './lipschitz';
export { largestValueElements, propagateValues, inferShapes } from './propagate';
export { BOUND_RULES, BOUND_OPS } from './rules';
export { SYMBOLIC_ELEMENT_LIMIT, SYMBOLIC_LIVE_LIMIT, SYMBOLIC_STORE_LIMIT, SYMBOLIC_WORK_LIMIT } from './bounder';
export type { BoundLimits, BoundOptions, LayerBound, Val as BoundValue } from './bounder';
export { convNormUpperBound, CIRCULAR_WORK_LIMIT, EXACT_WORK_LIMIT, EXACT_MEMORY_LIMIT } from './conv';
export type { ConvBoundGeometry, ConvBound, ConvWorkLimits } from './conv';
export { denseNormUpperBound, DENSE_WORK_LIMIT, DENSE_MEMORY_LIMIT } from './dense';
export type { DenseNormBound } from './dense';
export { SHAPE_RULES } from './shapes';
export type { ShapeContext, ShapeRule } from './shapes';
