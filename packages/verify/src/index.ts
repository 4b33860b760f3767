/**
 * @lip/verify: certificates, sound Lipschitz bounds and verification of ONNX
 * classifiers. Loads no TensorFlow.js and no training code: the attacks and
 * the ONNX -> tfjs translator they need are in `@lip/verify/attacks`.
 */
export * from './onnx/read';
export * from './bound';
export * from './report';
export {
  DEFAULT_BATCH_SIZE, INPUT_RANGE_TOLERANCE, SESSION_VALUE_BUDGET, modelInputRange, openSession, ortMessage,
} from './session';
export type { LipSession, SessionOptions } from './session';
export {
  CERTIFICATE_ROUNDING_MARGIN, binaryCertificates, certify, headAwareCertificates, headRowDistances, multiclassCertificates,
  predictClasses,
} from './certificates';
export type { CertificateKind, Certificates, CertifyOptions } from './certificates';
export {
  certificateFormula, certifyLogits, chooseLipschitz, claimedHeadBodyLipschitz, claimedLipschitz,
} from './model_certificates';
export type { ChooseLipschitzOptions, LipschitzChoice, LipschitzSource } from './model_certificates';
export { dataSpaceCertificates, resolveModelInput, resolveTransform, toModelInput } from './model_input';
export type { ImageDims, InputLayout, InputTransform, ModelInput, ResolvedTransform } from './model_input';
export { loadVerifyData } from './data';
export type { VerifyData, VerifyDataOptions } from './data';
export { certifiedRobustAccuracy, verifyModel } from './verify';
export type { CertifiedAccuracyPoint, VerifyOptions, VerifyPreprocessing, VerifyResult } from './verify';
