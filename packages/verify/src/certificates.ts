/**
 * Robustness certificates (multiclass, binary, head-aware) with the float32
 * rounding allowance `CERTIFICATE_ROUNDING_MARGIN`. The formulas and their
 * rounding are @lip/core's `certificates/logits.ts`, the one implementation
 * (@lip/train's tensor metrics use it too); @lip/verify publishes them here.
 */
export {
  CERTIFICATE_ROUNDING_MARGIN,
  binaryCertificates,
  certifiedRobustAccuracy,
  certify,
  headAwareCertificates,
  headRowDistances,
  multiclassCertificates,
  predictClasses,
} from '@lip/core';
export type { CertificateKind, Certificates, CertifiedHead, CertifyOptions } from '@lip/core';
