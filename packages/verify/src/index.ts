/**
 * @lip/verify: certificates, sound Lipschitz bounds and attacks on ONNX models.
 */
export * from './onnx/read';
export * from './session';
export * from './bound';
export * from './translate';
export * from './attacks';
export * from './report';
export * from './certificates';
export * from './verify';
