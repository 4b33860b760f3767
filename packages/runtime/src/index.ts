/**
 * @lip/runtime: certified inference for lip-exported ONNX models. Each
 * prediction comes with its certified L2 radius, computed as `lip verify`
 * does, on onnxruntime-node or onnxruntime-web, in Node and in the browser.
 * Nothing here loads TensorFlow.js or training code.
 */
export { CertifiedClassifier, DEFAULT_RUNTIME_BATCH } from './classifier';
export type { Batch, BoundCheck, Classification, LoadOptions } from './classifier';
export { CERTIFICATE_BINARY, CERTIFICATE_MULTICLASS, readContract } from './contract';
export type { CertificateContract } from './contract';
export { CERTIFICATE_ROUNDING_MARGIN, certifiedRadius, predictedClass } from './certificates';
export type { CertificateParams } from './certificates';
export { applyEnv, inNode, loadEngine } from './engine';
export type { EngineChoice, EngineName, OrtModule, OrtSession, OrtTensor } from './engine';
export { readOnnxSummary } from './onnx_summary';
export type { OnnxSummary, ValueSummary } from './onnx_summary';
export { describeSource, readSource } from './source';
export type { ModelSource } from './source';
