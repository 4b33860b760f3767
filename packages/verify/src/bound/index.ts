export * from './lipschitz';
export { convNormUpperBound, CIRCULAR_WORK_LIMIT, EXACT_WORK_LIMIT, EXACT_MEMORY_LIMIT } from './conv';
export type { ConvGeometry, ConvBound } from './conv';
