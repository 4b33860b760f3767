export { buildModel } from './build_model';
export type { BuildModelOptions } from './build_model';
export { ARCHITECTURES, registerArchitecture } from './architectures';
export type { Architecture, ArchitectureOptions } from './architectures';
