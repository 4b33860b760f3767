/**
 * @lip/verify: certificates, sound Lipschitz bounds and verification of ONNX
 * classifiers. Loads no TensorFlow.js and no training code: the attacks and
 * the ONNX -> tfjs translator they need are in `@lip/verify/attacks`.
 *
 * Every public name is listed here (test/api/api_report.test.ts checks it
 * against api/verify.api.md); the rest of `src/` is internal.
 *
 * @packageDocumentation
 * @module @lip/verify
 */
// The ONNX reader.
export { readOnnxModel, metadataJson, SUPPORTED_OPS, MAX_TENSOR_ELEMENTS, MAX_VALUE_ELEMENTS } from './onnx/read';
export type { OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, OnnxAttribute, OnnxDataType, OnnxDim, ReadOptions } from './onnx/read';
export type { FoldReport } from './ops/fold_model';

// The sound Lipschitz bound (`lip bound`) and its work limits.
export {
  lipschitzBound,
  BOUND_OPS,
  DENSE_WORK_LIMIT,
  EXACT_WORK_LIMIT,
  CIRCULAR_WORK_LIMIT,
  SYMBOLIC_STORE_LIMIT,
  SYMBOLIC_LIVE_LIMIT,
  SYMBOLIC_WORK_LIMIT,
} from './bound';
export type { LipschitzBound, LayerBound, LinearHead, BoundOptions, BoundLimits } from './bound';
// The bound cache (`lip verify`, `lip bound`; `--no-cache`).
export { boundCacheDir, cachedLipschitzBound, readOnnxModelHashed } from './bound/cache';
export type { ModelFileBytes } from './bound/cache';
export type { BoundCacheOptions, BoundCacheReport, HashedModel } from './bound/cache';
export { BOUND_CACHE_VERSION } from './bound/cache_version';

// onnxruntime sessions.
export { openSession, modelInputRange, DEFAULT_VERIFY_BATCH_SIZE, INPUT_RANGE_TOLERANCE, SESSION_VALUE_BUDGET } from './session';
export type { LipSession, SessionOptions } from './session';

// Certificates (the formulas are @lip/core's) and the choice of L.
export {
  CERTIFICATE_ROUNDING_MARGIN,
  binaryCertificates,
  certifiedRobustAccuracy,
  certify,
  headAwareCertificates,
  headRowDistances,
  multiclassCertificates,
  predictClasses,
} from './certificates';
export type { CertificateKind, Certificates, CertifiedHead, CertifyOptions } from './certificates';
export { certifyLogits, chooseLipschitz, claimedLipschitz } from './model_certificates';
export type { ChooseLipschitzOptions, LipschitzChoice, LipschitzSource } from './model_certificates';

// Data and their layout for the model.
export { loadVerifyData } from './data';
export type { VerifyData, VerifyDataOptions } from './data';
export { dataSpaceCertificates, resolveModelInput, resolveTransform, toModelInput } from './model_input';
export type { ImageDims, InputLayout, InputTransform, ModelInput, ResolvedTransform } from './model_input';

// `lip verify` and the HTML report.
export { verifyModel } from './verify';
export type { CertifiedAccuracyPoint, VerifyOptions, VerifyPreprocessing, VerifyResult } from './verify';
export { writeAttackReport, writeCraReport } from './report';
export type { AttackReportInput, CraReportInput, CraPoint } from './report';
