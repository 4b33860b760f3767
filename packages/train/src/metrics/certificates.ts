/**
 * Certificates and certified robust accuracy of tfjs logits. They read the
 * tensors and call @lip/core's certificates (`certificates/logits.ts`: the
 * formulas, with the float32 rounding allowance), so a radius here is the one
 * `lip verify` gives for the same logits:
 *
 *     multiclass: (top1 - top2 - s) / (sqrt(2) L)      binary (one logit): (|f| - s) / L
 *
 * (Tsuzuku, Sato & Sugiyama 2018, "Lipschitz-margin training"; s is the
 * allowance CERTIFICATE_ROUNDING_MARGIN (|f_1| + |f_2| + 1)).
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertEpsilons, assertLipschitz, binaryCertificates, certifiedRobustAccuracy, multiclassCertificates, predictClasses } from '@lip/core';
import { assertArg } from '../errors';
import { isBinaryOutput } from './accuracy';

/** Logits as `[n, classes]` rows (`classes` 1 for a binary classifier's single logit). */
function logitRows(yPred: tf.Tensor, where: string): { logits: Float32Array; classes: number } {
  if (isBinaryOutput(yPred)) return { logits: yPred.dataSync() as Float32Array, classes: 1 };
  assertArg(yPred.rank === 2, () => `${where}: 'yPred' must be [batch, classes] or [batch, 1], got [${yPred.shape.join(', ')}]`);
  return { logits: yPred.dataSync() as Float32Array, classes: yPred.shape[1] as number };
}

function float64Certificates(yPred: tf.Tensor, lipschitz: number, where: string): Float64Array {
  assertLipschitz(lipschitz, where);
  const { logits, classes } = logitRows(yPred, where);
  return classes === 1 ? binaryCertificates(logits, lipschitz) : multiclassCertificates(logits, classes, lipschitz);
}

/** The largest float32 <= x (x >= 0), so storing a radius in a float32 tensor never enlarges it. */
function float32Below(x: number): number {
  const rounded = Math.fround(x);
  if (rounded <= x) return rounded;
  const bits = new Uint32Array(Float32Array.of(rounded).buffer);
  bits[0] -= 1;
  return new Float32Array(bits.buffer)[0];
}

/**
 * Certified radius of each sample, `[B]` (float32, rounded down): see the
 * module comment for the formula. `yPred` is logits `[B, K]`, or a binary
 * classifier's single logit `[B, 1]` / `[B]`.
 */
export function certificates(yPred: tf.Tensor, lipschitz = 1): tf.Tensor1D {
  const radii = float64Certificates(yPred, lipschitz, 'certificates');
  return tf.tensor1d(Float32Array.from(radii, float32Below), 'float32');
}

/**
 * Certified robust accuracy at each radius in `eps`: the fraction of samples
 * correctly classified (as in `accuracy`) AND with certificate > eps
 * (@lip/core's `certifiedRobustAccuracy` on the float64 certificates; NaN
 * for an empty batch). Reads the data; returns plain numbers in the order of
 * `eps`. `yTrue` is one-hot `[B, K]`, or labels `[B, 1]` / `[B]` (> 0 for the
 * positive class) for a binary classifier.
 */
export function certifiedRobustAccuracyFromTensors(yTrue: tf.Tensor, yPred: tf.Tensor, eps: readonly number[], lipschitz = 1): number[] {
  const where = 'certifiedRobustAccuracyFromTensors';
  assertEpsilons(eps, where);
  assertArg(yTrue.size === yPred.size, () => `${where}: 'yTrue' [${yTrue.shape.join(', ')}] and 'yPred' [${yPred.shape.join(', ')}] must have the same size`);
  const radii = float64Certificates(yPred, lipschitz, where);
  const { logits, classes } = logitRows(yPred, where);
  const predicted = predictClasses(logits, classes);
  const labels = predictClasses(yTrue.dataSync(), classes);
  return certifiedRobustAccuracy(
    predicted.map((p, i) => (p === labels[i] ? 1 : 0)),
    radii,
    eps,
  );
}
