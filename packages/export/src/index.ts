/**
 * @lip/export: trained Lipschitz models to plain ONNX graphs.
 */
export * from './onnx/builder';
export { EMITTERS, emitterFor, sortingNetwork } from './emitters';
export type { EmitContext, Emitter, Profile } from './emitters';
export {
  exportOnnx, exportCheckpoint, checkpointToOnnx, DEFAULT_OPSET, MIN_OPSET, MAX_OPSET, INPUT_NAME, OUTPUT_NAME,
  CERTIFICATE_MULTICLASS, CERTIFICATE_BINARY,
} from './export';
export type { ExportOptions, ExportResult } from './export';
