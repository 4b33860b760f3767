/**
 * @lip/runtime: certified inference for lip-exported ONNX models. Each
 * prediction comes with its certified L2 radius, computed as `lip verify`
 * does, on onnxruntime-node or onnxruntime-web, in Node and in the browser.
 * Nothing here loads TensorFlow.js or training code.
 *
 * @packageDocumentation
 * @module @lip/runtime
 */
export { CertifiedClassifier, DEFAULT_RUNTIME_BATCH } from './classifier';
export type { Batch, BoundCheck, Classification, LoadOptions } from './classifier';
export { CERTIFICATE_BINARY, CERTIFICATE_MULTICLASS, readContract } from './contract';
export type { CertificateContract } from './contract';
export { CERTIFICATE_ROUNDING_MARGIN, certifiedRadius, predictedClass } from './certificates';
export type { CertificateParams } from './certificates';
// lip's one engine loader: 'auto' = onnxruntime-node when it loads, else onnxruntime-web.
export { ENGINE_ENV_VAR, EngineUnavailableError, applyEnv, inNode, loadEngine } from '@lip/core/engine';
export type { EngineChoice, EngineName, EnginePolicy, OrtModule, OrtSession, OrtTensor } from '@lip/core/engine';
export { readOnnxSummary } from './onnx_summary';
export type { OnnxSummary, ValueSummary } from './onnx_summary';
export type { ModelSource } from './source';
