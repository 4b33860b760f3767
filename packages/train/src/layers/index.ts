/**
 * Lipschitz layers (tfjs-layers classes, NHWC) and the LipschitzSequential model.
 * Importing this module registers every class for serialization.
 */
import * as lipLayers from './exports_layers';

export type { EffectiveKernelOptions, LipschitzLayer, LipschitzLinear, VanillaExportOptions } from './lipschitz';
export { isLipschitzLayer, isLipschitzLinear } from './lipschitz';
export type { LipschitzLinearArgs, LipschitzDenseArgs, LipschitzConv2DArgs, LipPadding } from './linear_base';
export { LipschitzLinearBase, LipschitzDenseBase, LipschitzConv2DBase } from './linear_base';
export { SpectralDense } from './spectral_dense';
export type { SpectralDenseArgs } from './spectral_dense';
export { SpectralConv2D } from './spectral_conv2d';
export type { SpectralConv2DArgs, ConvNormalization } from './spectral_conv2d';
export { FrobeniusDense } from './frobenius_dense';
export type { FrobeniusDenseArgs } from './frobenius_dense';
export { FrobeniusConv2D } from './frobenius_conv2d';
export { OrthogonalConv2D, DEFAULT_NITER_BCOP } from './orthogonal_conv2d';
export type { OrthogonalConv2DArgs } from './orthogonal_conv2d';
export { OrthogonalConv2DTranspose } from './orthogonal_conv2d_transpose';
export type { OrthogonalConv2DTransposeArgs } from './orthogonal_conv2d_transpose';
export type { FrobeniusConv2DArgs } from './frobenius_conv2d';
export { LipschitzActivationBase, GroupSort, GroupSort2, FullSort, MaxMin } from './activations';
export type { GroupSortArgs, GroupSort2Args, FullSortArgs, MaxMinArgs } from './activations';
export { ScaledL2NormPool2D, ScaledAvgPool2D, ScaledGlobalL2NormPool2D, InvertibleDownSampling } from './pooling';
export type { ScaledPool2DArgs, ScaledGlobalL2NormPool2DArgs, InvertibleDownSamplingArgs } from './pooling';
export { LayerCentering, BatchCentering, DEFAULT_CENTERING_MOMENTUM } from './centering';
export type { LayerCenteringArgs, BatchCenteringArgs } from './centering';
export { Householder, DEFAULT_HOUSEHOLDER_THETA } from './householder';
export type { HouseholderArgs } from './householder';
export { AOLDense, AOLConv2D } from './aol';
export type { AOLDenseArgs, AOLConv2DArgs } from './aol';
export { SLLBase, SLLDense, SLLConv2D } from './sll';
export type { SLLArgs, SLLDenseArgs, SLLConv2DArgs, SLLWeights } from './sll';
export { LipResidual } from './residual';
export type { LipResidualArgs } from './residual';
export { LipschitzSequential } from './lipschitz_sequential';
export { withConstraintsHeld, constraintsHeld } from './constraint_updates';
export type { LipschitzSequentialArgs, LipLogger } from './lipschitz_sequential';
/** Factories of every layer, tfjs-layers style: `lipLayers.spectralDense(args)`. */
export { lipLayers };
