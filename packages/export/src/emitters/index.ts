import { Emitter } from './context';
import { emitConv2D, emitDense } from './linear';
import { emitScaledAvgPool2D, emitScaledGlobalL2NormPool2D, emitScaledL2NormPool2D } from './pool';
import { emitFlatten, emitIdentity, emitInvertibleDownSampling } from './reshape';
import { emitLipResidual, emitSLLConv2D, emitSLLDense } from './residual';
import { emitFullSort, emitGroupSort, emitGroupSort2, emitMaxMin } from './sort';
import { emitBatchCentering, emitLayerCentering } from './centering';
import { emitHouseholder } from './householder';
import { emitOrthogonalConv2D, emitOrthogonalConv2DTranspose } from './orthogonal';

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
  ['Lip>OrthogonalConv2D', emitOrthogonalConv2D], // Conv, explicit pads | stride s: Reshape-Transpose-Reshape (space-to-depth), Conv
  ['Lip>OrthogonalConv2DTranspose', emitOrthogonalConv2DTranspose], // Conv (adjoint kernel), Reshape-Transpose-Reshape (depth-to-space), [Add]
  ['Lip>GroupSort2', emitGroupSort2], // Min/Max | Relu arithmetic
  ['Lip>GroupSort', emitGroupSort], // TopK | sorting network
  ['Lip>FullSort', emitFullSort], // TopK | sorting network
  ['Lip>MaxMin', emitMaxMin], // Relu/Neg/Concat
  ['Lip>Householder', emitHouseholder], // Gemm | Transpose-MatMul, Split, Min/Max | Relu arithmetic, Concat, Gemm | MatMul-Transpose
  ['Lip>BatchCentering', emitBatchCentering], // Add (bias - running mean)
  ['Lip>LayerCentering', emitLayerCentering], // [Transpose], Reshape, GlobalAveragePool, Sub, Reshape, [Transpose], Add
  ['Lip>ScaledL2NormPool2D', emitScaledL2NormPool2D], // Mul-AveragePool-Sqrt (both)
  ['Lip>ScaledAvgPool2D', emitScaledAvgPool2D], // AveragePool
  ['Lip>ScaledGlobalL2NormPool2D', emitScaledGlobalL2NormPool2D], // Mul-GlobalAveragePool-Sqrt (both)
  ['Lip>InvertibleDownSampling', emitInvertibleDownSampling], // Reshape/Transpose
  ['Lip>AOLDense', emitDense], // Gemm
  ['Lip>AOLConv2D', emitConv2D], // Conv, explicit pads
  ['Lip>SLLDense', emitSLLDense], // Gemm-Relu-Mul-Gemm-Sub
  ['Lip>SLLConv2D', emitSLLConv2D], // Conv-Relu-Mul-Conv-Sub
  ['Lip>LipResidual', (ctx) => emitLipResidual(ctx, emitterFor)], // the block's nodes, Mul, Mul, Add
  ['Flatten', emitFlatten], // Transpose to NHWC, Flatten
  ['InputLayer', emitIdentity],
];

const BY_CLASS = new Map<string, Emitter>(EMITTERS.map(([c, e]) => [c, e]));

/** The emitter for a layer class, or undefined when the class cannot be exported. */
export function emitterFor(className: string): Emitter | undefined {
  return BY_CLASS.get(className);
}
