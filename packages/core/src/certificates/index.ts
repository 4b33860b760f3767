/**
 * @lip/core/certificates: the one implementation of certified radii from
 * logits (browser-safe: no Node and no tfjs imports), shared by @lip/verify,
 * @lip/train's metrics and @lip/runtime.
 *
 * @module @lip/core/certificates
 */
export { headRowDistances } from './head';
export type { HeadRows } from './head';
export {
  CERTIFICATE_ROUNDING_MARGIN,
  assertEpsilons,
  assertLipschitz,
  binaryCertificates,
  certifiedRobustAccuracy,
  certify,
  headAwareCertificates,
  headAwareCertificatesFromDistances,
  multiclassCertificates,
  predictClasses,
} from './logits';
export type { CertificateKind, Certificates, CertifiedHead, CertifyOptions, HeadDistances } from './logits';
