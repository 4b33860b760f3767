/**
 * @lip/export: trained Lipschitz models to plain ONNX graphs.
 *
 * Every public name is listed here (test/api/api_report.test.ts checks it
 * against api/export.api.md); the rest of `src/` is internal.
 *
 * @packageDocumentation
 * @module @lip/export
 */
export {
  exportOnnx,
  exportCheckpoint,
  checkpointToOnnx,
  DEFAULT_OPSET,
  MIN_OPSET,
  MAX_OPSET,
  INPUT_NAME,
  OUTPUT_NAME,
  CERTIFICATE_MULTICLASS,
  CERTIFICATE_BINARY,
} from './export';
export type { ExportOptions, ExportResult } from './export';
// The table of exportable layer classes and their emitters.
export { EMITTERS } from './emitters';
export type { EmitContext, Emitter, Profile } from './emitters';
// The ONNX graph writer the emitters use (tests of every package build graphs with it).
export { GraphBuilder, attr, tensorProto } from './onnx/builder';
export type { AttrValue, Dim, ElemType, GraphBuilderOptions, InitializerData, NodeOptions, TypedAttr } from './onnx/builder';
