/**
 * Factories of the Lipschitz layers, exported as the `lipLayers` namespace
 * (`lipLayers.spectralDense({ units: 10 })`), like `tf.layers`.
 */
import { FullSort, FullSortArgs, GroupSort, GroupSort2, GroupSort2Args, GroupSortArgs, MaxMin, MaxMinArgs } from './activations';
import {
  InvertibleDownSampling,
  InvertibleDownSamplingArgs,
  ScaledAvgPool2D,
  ScaledGlobalL2NormPool2D,
  ScaledGlobalL2NormPool2DArgs,
  ScaledL2NormPool2D,
  ScaledPool2DArgs,
} from './pooling';
import { FrobeniusConv2D, FrobeniusConv2DArgs } from './frobenius_conv2d';
import { BatchCentering, BatchCenteringArgs, LayerCentering, LayerCenteringArgs } from './centering';
import { Householder, HouseholderArgs } from './householder';
import { OrthogonalConv2D, OrthogonalConv2DArgs } from './orthogonal_conv2d';
import { OrthogonalConv2DTranspose, OrthogonalConv2DTransposeArgs } from './orthogonal_conv2d_transpose';
import { AOLConv2D, AOLConv2DArgs, AOLDense, AOLDenseArgs } from './aol';
import { SLLConv2D, SLLConv2DArgs, SLLDense, SLLDenseArgs } from './sll';
import { LipResidual, LipResidualArgs } from './residual';
import { FrobeniusDense, FrobeniusDenseArgs } from './frobenius_dense';
import { LipschitzSequential, LipschitzSequentialArgs } from './lipschitz_sequential';
import { SpectralConv2D, SpectralConv2DArgs } from './spectral_conv2d';
import { SpectralDense, SpectralDenseArgs } from './spectral_dense';

export function spectralDense(args: SpectralDenseArgs): SpectralDense {
  return new SpectralDense(args);
}

export function spectralConv2d(args: SpectralConv2DArgs): SpectralConv2D {
  return new SpectralConv2D(args);
}

export function frobeniusDense(args: FrobeniusDenseArgs): FrobeniusDense {
  return new FrobeniusDense(args);
}

export function frobeniusConv2d(args: FrobeniusConv2DArgs): FrobeniusConv2D {
  return new FrobeniusConv2D(args);
}

export function orthogonalConv2d(args: OrthogonalConv2DArgs): OrthogonalConv2D {
  return new OrthogonalConv2D(args);
}

export function orthogonalConv2dTranspose(args: OrthogonalConv2DTransposeArgs): OrthogonalConv2DTranspose {
  return new OrthogonalConv2DTranspose(args);
}

export function lipschitzSequential(args?: LipschitzSequentialArgs): LipschitzSequential {
  return new LipschitzSequential(args);
}

export function groupSort(args: GroupSortArgs): GroupSort {
  return new GroupSort(args);
}

export function groupSort2(args?: GroupSort2Args): GroupSort2 {
  return new GroupSort2(args);
}

export function fullSort(args?: FullSortArgs): FullSort {
  return new FullSort(args);
}

export function maxMin(args?: MaxMinArgs): MaxMin {
  return new MaxMin(args);
}

export function scaledL2NormPool2d(args?: ScaledPool2DArgs): ScaledL2NormPool2D {
  return new ScaledL2NormPool2D(args);
}

export function scaledAvgPool2d(args?: ScaledPool2DArgs): ScaledAvgPool2D {
  return new ScaledAvgPool2D(args);
}

export function scaledGlobalL2NormPool2d(args?: ScaledGlobalL2NormPool2DArgs): ScaledGlobalL2NormPool2D {
  return new ScaledGlobalL2NormPool2D(args);
}

export function invertibleDownSampling(args?: InvertibleDownSamplingArgs): InvertibleDownSampling {
  return new InvertibleDownSampling(args);
}

export function layerCentering(args?: LayerCenteringArgs): LayerCentering {
  return new LayerCentering(args);
}

export function batchCentering(args?: BatchCenteringArgs): BatchCentering {
  return new BatchCentering(args);
}

export function householder(args?: HouseholderArgs): Householder {
  return new Householder(args);
}

export function aolDense(args: AOLDenseArgs): AOLDense {
  return new AOLDense(args);
}

export function aolConv2d(args: AOLConv2DArgs): AOLConv2D {
  return new AOLConv2D(args);
}

export function sllDense(args?: SLLDenseArgs): SLLDense {
  return new SLLDense(args);
}

export function sllConv2d(args?: SLLConv2DArgs): SLLConv2D {
  return new SLLConv2D(args);
}

export function lipResidual(args: LipResidualArgs): LipResidual {
  return new LipResidual(args);
}
