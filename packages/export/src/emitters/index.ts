import { Emitter } from './context';
import { emitConv2D, emitDense } from './linear';
import { emitScaledAvgPool2D, emitScaledGlobalL2NormPool2D, emitScaledL2NormPool2D } from './pool';
import { emitFlatten, emitIdentity, emitInvertibleDownSampling } from './reshape';
import { emitFullSort, emitGroupSort, emitGroupSort2, emitMaxMin } from './sort';

export { onnxDims } from './context';
export type { EmitContext, Emitter, Profile } from './context';
export { sortingNetwork } from './sort';

/**
 * The one table: tfjs layer className -> ONNX emitter. A class missing here is
 * refused. Each emitter documents its default and portable forms.
 */
export const EMITTERS: ReadonlyArray<readonly [className: string, emitter: Emitter]> = [
  ['Lip>SpectralDense', emitDense], // Gemm
  ['Lip>FrobeniusDense', emitDense], // Gemm
  ['Lip>SpectralConv2D', emitConv2D], // Conv, explicit pads
  ['Lip>FrobeniusConv2D', emitConv2D], // Conv, explicit pads
  ['Lip>OrthogonalConv2D', emitConv2D], // Conv, explicit pads
  ['Lip>GroupSort2', emitGroupSort2], // Min/Max | Relu arithmetic
  ['Lip>GroupSort', emitGroupSort], // TopK | sorting network
  ['Lip>FullSort', emitFullSort], // TopK | sorting network
  ['Lip>MaxMin', emitMaxMin], // Relu/Neg/Concat
  ['Lip>ScaledL2NormPool2D', emitScaledL2NormPool2D], // Mul-AveragePool-Sqrt (both)
  ['Lip>ScaledAvgPool2D', emitScaledAvgPool2D], // AveragePool
  ['Lip>ScaledGlobalL2NormPool2D', emitScaledGlobalL2NormPool2D], // Mul-GlobalAveragePool-Sqrt (both)
  ['Lip>InvertibleDownSampling', emitInvertibleDownSampling], // Reshape/Transpose
  ['Flatten', emitFlatten], // Transpose to NHWC, Flatten
  ['InputLayer', emitIdentity],
];

const BY_CLASS = new Map<string, Emitter>(EMITTERS.map(([c, e]) => [c, e]));

/** The emitter for a layer class, or undefined when the class cannot be exported. */
export function emitterFor(className: string): Emitter | undefined {
  return BY_CLASS.get(className);
}
