export { buildModel } from './build_model';
export type { BuildModelOptions } from './build_model';
export { ARCHITECTURES, HEAD_NORMS, classifierHead, registerArchitecture } from './architectures';
export type { Architecture, ArchitectureOptions, HeadNorm } from './architectures';
