import { ConvNormalization, LipLogger, LipschitzSequential } from '../layers';
import { assertArg } from '../errors';
import { ARCHITECTURES, ArchitectureOptions, HEAD_NORMS, HeadNorm } from './architectures';

/** Options of `buildModel`. */
export interface BuildModelOptions {
  /** Seeds every layer's weights (same seed, identical weights). Default: unseeded. */
  seed?: number;
  /** Per-sample input shape `[H, W, C]`. Default `[28, 28, 1]`. */
  inputShape?: [number, number, number];
  /** Output size. Default 10. */
  numClasses?: number;
  /** Normalization of the spectral convolutions. Default `'bjorck'`. */
  convNormalization?: ConvNormalization;
  /** Normalization of the classification head (`HEAD_NORMS`). Default `'spectral'`. */
  headNorm?: HeadNorm;
  /** Lipschitz constant of the network. Default 1. */
  kCoefLip?: number;
  /** Receives the warnings about non-Lipschitz layers (the Flatten). Default `LipschitzSequential.defaultLogger`. */
  logger?: LipLogger;
}

/** Seeds of successive layers are this far apart (each layer uses seed, seed+1, seed+2, seed+3). */
const LAYER_SEED_STRIDE = 1000;

/**
 * Builds a named architecture from `ARCHITECTURES` as a LipschitzSequential
 * (`'seed'` is the reference network).
 */
export function buildModel(arch: string, opts: BuildModelOptions = {}): LipschitzSequential {
  const definition = ARCHITECTURES.get(arch);
  assertArg(
    definition !== undefined,
    () => `buildModel: unknown 'arch' ${JSON.stringify(arch)}; known: ${[...ARCHITECTURES.keys()].join(', ')}`,
  );
  const { seed } = opts;
  assertArg(
    seed === undefined || Number.isInteger(seed),
    () => `buildModel: 'seed' must be an integer, got ${String(seed)}`,
  );
  const inputShape = opts.inputShape ?? [28, 28, 1];
  assertArg(
    Array.isArray(inputShape) && inputShape.length === 3 && inputShape.every((d) => Number.isInteger(d) && d > 0),
    () => `buildModel: 'inputShape' must be [H, W, C] of positive integers, got ${JSON.stringify(inputShape)}`,
  );
  const numClasses = opts.numClasses ?? 10;
  assertArg(
    Number.isInteger(numClasses) && numClasses >= 1,
    () => `buildModel: 'numClasses' must be an integer >= 1, got ${String(numClasses)}`,
  );
  const headNorm = opts.headNorm ?? 'spectral';
  assertArg(
    (HEAD_NORMS as readonly unknown[]).includes(headNorm),
    () => `buildModel: 'headNorm' must be one of ${HEAD_NORMS.join(', ')}, got ${JSON.stringify(headNorm)}`,
  );
  const resolved: ArchitectureOptions = {
    headNorm,
    inputShape,
    numClasses,
    convNormalization: opts.convNormalization ?? 'bjorck',
    layerSeed: (i) => (seed === undefined ? undefined : seed + LAYER_SEED_STRIDE * i),
  };
  return new LipschitzSequential({
    name: `lip_${arch}`,
    layers: definition.layers(resolved),
    kCoefLip: opts.kCoefLip ?? 1,
    logger: opts.logger,
  });
}
