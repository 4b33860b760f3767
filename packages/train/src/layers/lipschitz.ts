/**
 * What every Lipschitz layer promises, and the helpers the layer classes share.
 *
 * A dense/conv layer is made k-Lipschitz by reparametrization: the trainable
 * variable is the raw kernel, and `call()` uses a normalized kernel computed
 * from it inside the graph (deel-torchlip's parametrizations; Anil et al. 2019,
 * "Sorting out Lipschitz function approximation").
 */
import * as tf from '@tensorflow/tfjs-core';
import { layers } from '@tensorflow/tfjs-layers';
import { assertArg } from '../errors';

/** A layer whose Lipschitz constant (L2 -> L2) is known. */
export interface LipschitzLayer {
  readonly isLipschitz: true;
  /** The Lipschitz constant this layer guarantees. */
  lipschitzConstant(): number;
}

/** Options of `effectiveKernel`. */
export interface EffectiveKernelOptions {
  /**
   * Iterate power iteration and Björck to float32 convergence instead of using
   * the persistent vectors and the configured iteration counts (for export).
   * Default false: exactly the kernel `call()` uses.
   */
  converge?: boolean;
}

/** Options of `vanillaExport`. */
export interface VanillaExportOptions extends EffectiveKernelOptions {}

/** A dense or conv layer constrained by reparametrization (docs/architecture.md). */
export interface LipschitzLinear extends LipschitzLayer {
  readonly isLipschitzLinear: true;
  /** This layer's share of k, applied to the kernel. */
  kCoefLip: number;
  setKCoefLip(k: number): void;
  /**
   * Power iteration on the persistent vectors, outside any gradient tape. The
   * layer also runs it by itself in each `call()` with `training: true`
   * (constraint_updates.ts).
   */
  updateConstraints(niter?: number): void;
  /** Writes the normalized kernel into the raw one (deel-lip's `condense`); the function is unchanged. */
  condense(): void;
  /** The kernel `call()` uses (tfjs layout, times kCoefLip). */
  effectiveKernel(opts?: EffectiveKernelOptions): tf.Tensor;
  effectiveBias(): tf.Tensor | null;
  /** A plain tfjs Dense/Conv2D holding the effective weights. */
  vanillaExport(opts?: VanillaExportOptions): layers.Layer;
}

/** True when `layer` declares a known Lipschitz constant. */
export function isLipschitzLayer(layer: unknown): layer is layers.Layer & LipschitzLayer {
  return (
    typeof layer === 'object' &&
    layer !== null &&
    (layer as Partial<LipschitzLayer>).isLipschitz === true &&
    typeof (layer as Partial<LipschitzLayer>).lipschitzConstant === 'function'
  );
}

/** True when `layer` is a reparametrized dense/conv layer. */
export function isLipschitzLinear(layer: unknown): layer is layers.Layer & LipschitzLinear {
  return isLipschitzLayer(layer) && (layer as Partial<LipschitzLinear>).isLipschitzLinear === true;
}

const nameCounters = new Map<string, number>();

/**
 * A unique default layer name (`spectral_dense_1`, ...). tfjs-layers would
 * derive one from the class name, but ours contain `>`, which is not a valid
 * tensor-name character.
 */
export function defaultLayerName(prefix: string): string {
  const next = (nameCounters.get(prefix) ?? 0) + 1;
  nameCounters.set(prefix, next);
  return `${prefix}_${next}`;
}

/** Validates a Lipschitz coefficient: finite and > 0. */
export function assertKCoefLip(k: unknown, where: string): asserts k is number {
  assertArg(typeof k === 'number' && Number.isFinite(k) && k > 0, () => `${where}: 'kCoefLip' must be a finite number > 0, got ${String(k)}`);
}

/** Validates an iteration count: an integer >= min. */
export function assertIterations(n: unknown, name: string, where: string, min = 0): asserts n is number {
  assertArg(typeof n === 'number' && Number.isInteger(n) && n >= min, () => `${where}: '${name}' must be an integer >= ${min}, got ${String(n)}`);
}

/** Validates a positive integer. */
export function assertPositiveInt(n: unknown, name: string, where: string): asserts n is number {
  assertIterations(n, name, where, 1);
}

/** Validates an optional seed: an integer, or null/undefined for an unseeded draw. */
export function normalizeSeed(seed: unknown, where: string): number | undefined {
  if (seed === undefined || seed === null) return undefined;
  assertArg(typeof seed === 'number' && Number.isInteger(seed), () => `${where}: 'seed' must be an integer, got ${String(seed)}`);
  return seed;
}

/** Normalizes `n` or `[a, b]` to a pair of positive integers. */
export function normalizePair(value: unknown, name: string, where: string): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : value;
  assertArg(
    Array.isArray(pair) && pair.length === 2 && pair.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 1),
    () => `${where}: '${name}' must be a positive integer or a pair of them, got ${JSON.stringify(value)}`,
  );
  return [pair[0] as number, pair[1] as number];
}

/**
 * A seeded orthogonal matrix `[rows, cols]`: a standard normal draw whose
 * columns (rows when the matrix is wide) are orthonormalized by modified
 * Gram-Schmidt in float64. Same seed, same matrix, on every backend: the draw
 * is made in JS by tfjs-core's seeded generator.
 */
export function seededOrthogonal(rows: number, cols: number, seed: number | undefined): tf.Tensor2D {
  const wide = cols > rows;
  const [n, m] = wide ? [cols, rows] : [rows, cols]; // orthonormalize m vectors of length n
  const draw = tf.tidy(() => tf.randomNormal([m, n], 0, 1, 'float32', seed).dataSync());
  const q = Float64Array.from(draw);
  for (let j = 0; j < m; j++) {
    const qj = q.subarray(j * n, (j + 1) * n);
    for (let i = 0; i < j; i++) {
      const qi = q.subarray(i * n, (i + 1) * n);
      let dot = 0;
      for (let t = 0; t < n; t++) dot += qi[t] * qj[t];
      for (let t = 0; t < n; t++) qj[t] -= dot * qi[t];
    }
    let norm = 0;
    for (let t = 0; t < n; t++) norm += qj[t] * qj[t];
    norm = Math.sqrt(norm);
    for (let t = 0; t < n; t++) qj[t] /= norm;
  }
  // q holds m orthonormal vectors as rows of [m, n]; lay them out as [rows, cols].
  const out = new Float32Array(rows * cols);
  for (let j = 0; j < m; j++) {
    for (let t = 0; t < n; t++) {
      if (wide)
        out[j * cols + t] = q[j * n + t]; // row j of a [rows, cols] wide matrix
      else out[t * cols + j] = q[j * n + t]; // column j of a tall matrix
    }
  }
  return tf.tensor2d(out, [rows, cols]);
}

/** A seeded unit vector of `shape` (power-iteration starting point). */
export function seededUnitVector(shape: number[], seed: number | undefined): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', seed);
    return tf.div(x, tf.add(tf.norm(x), 1e-12));
  });
}
