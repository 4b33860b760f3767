/**
 * Named architectures for `buildModel`. Each row builds the layer list of a
 * LipschitzSequential from resolved options; add a row to add an
 * architecture (`registerArchitecture`).
 */
import { layers } from '@tensorflow/tfjs-layers';
import { ConvNormalization, GroupSort2, ScaledL2NormPool2D, SpectralConv2D, SpectralDense } from '../layers';

/** Options every architecture receives, defaults filled in. */
export interface ArchitectureOptions {
  /** Per-sample input shape `[H, W, C]`. */
  inputShape: [number, number, number];
  /** Output size. */
  numClasses: number;
  /** Normalization of the spectral convolutions. */
  convNormalization: ConvNormalization;
  /**
   * Seed of layer `i` (its weights and power-iteration vectors), derived from
   * the model seed; undefined when the model is unseeded.
   */
  layerSeed(i: number): number | undefined;
}

/** A named architecture. */
export interface Architecture {
  /** One line for `--help` and error messages. */
  description: string;
  /** The layers, first one carrying `inputShape`. */
  layers(opts: ArchitectureOptions): layers.Layer[];
}

/**
 * The reference network of the deel-torchlip Fashion-MNIST notebook:
 * SpectralConv2D(16, 3x3, same) GroupSort2 ScaledL2NormPool2D(2)
 * SpectralConv2D(32, 3x3, same) GroupSort2 ScaledL2NormPool2D(2)
 * Flatten SpectralDense(64) GroupSort2 SpectralDense(numClasses, no bias).
 */
const seed: Architecture = {
  description: 'the deel-torchlip reference CNN: 2 spectral convs (16, 32) with GroupSort2 and L2 pooling, dense 64, dense out',
  layers: (o) => [
    new SpectralConv2D({
      filters: 16, kernelSize: 3, padding: 'same', inputShape: o.inputShape, normalization: o.convNormalization, seed: o.layerSeed(0),
    }),
    new GroupSort2(),
    new ScaledL2NormPool2D({ poolSize: 2 }),
    new SpectralConv2D({ filters: 32, kernelSize: 3, padding: 'same', normalization: o.convNormalization, seed: o.layerSeed(1) }),
    new GroupSort2(),
    new ScaledL2NormPool2D({ poolSize: 2 }),
    layers.flatten(),
    new SpectralDense({ units: 64, seed: o.layerSeed(2) }),
    new GroupSort2(),
    new SpectralDense({ units: o.numClasses, useBias: false, seed: o.layerSeed(3) }),
  ],
};

/** Architecture name -> definition. */
export const ARCHITECTURES: Map<string, Architecture> = new Map([['seed', seed]]);

/** Adds (or replaces) an architecture. */
export function registerArchitecture(name: string, arch: Architecture): void {
  ARCHITECTURES.set(name, arch);
}
