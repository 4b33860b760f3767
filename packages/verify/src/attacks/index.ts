/**
 * @lip/verify/attacks: L2 attacks on ONNX models and the ONNX -> tfjs
 * translator they differentiate through. A subpath of its own because it
 * loads TensorFlow.js; `@lip/verify` itself (reader, bound, certificates,
 * session, verifyModel, reports) does not.
 *
 * Every public name is listed here (test/api/api_report.test.ts checks it
 * against api/verify.api.md).
 *
 * @packageDocumentation
 * @module @lip/verify/attacks
 */
export { ADVERSARIAL_MARGIN } from './common';
export type { AttackOutput, AttackProgress, InputBounds, LogitsFn, LogitsVjp, Nchw } from './common';
export { cwL2, CW_DEFAULTS } from './cw';
export type { CwOptions } from './cw';
export { pgdL2, PGD_DEFAULTS } from './pgd';
export type { PgdLoss, PgdOptions } from './pgd';
export { deepFoolL2, DEEPFOOL_DEFAULTS } from './deepfool';
export type { DeepFoolOptions } from './deepfool';
export { fmnL2, FMN_DEFAULTS } from './fmn';
export type { FmnOptions } from './fmn';
export { hopSkipJumpL2, HSJA_DEFAULTS } from './hsja';
export type { HsjaOptions, PredictFn } from './hsja';
export { ATTACK_NAMES, DEFAULT_PGD_EPS, VIOLATION_TOLERANCE, chosenCertificate, multiclassCertificate, runAttack } from './run';
export type { AttackImageResult, AttackName, AttackOutcome, AttackRunOptions, AttackRunResult, CertificateFn } from './run';
export { translateOnnx, assertTranslationMatches, TRANSLATION_TOLERANCE, TRANSLATABLE_OPS } from '../translate';
export type { TranslatedModel, SampleInputs } from '../translate';
