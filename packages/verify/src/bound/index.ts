export * from './lipschitz';
export { convNormUpperBound, CIRCULAR_WORK_LIMIT, EXACT_WORK_LIMIT, EXACT_MEMORY_LIMIT } from './conv';
export type { ConvGeometry, ConvBound, ConvWorkLimits } from './conv';
export { denseNormUpperBound, DENSE_WORK_LIMIT, DENSE_MEMORY_LIMIT } from './dense';
export type { DenseNormBound } from './dense';
export { SHAPE_RULES } from './shapes';
export type { ShapeContext, ShapeRule } from './shapes';
