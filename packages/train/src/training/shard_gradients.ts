/**
 * Gradients of one shard of a batch, the computation each data-parallel
 * worker runs (and the in-process trainer for batches larger than a chunk).
 *
 * The shard's loss is its exact share of the full-batch loss
 * (`ShareLossFunction`, losses/shares.ts), so the shards' gradients add up
 * to the full-batch gradient whatever the split. The shard is processed in
 * chunks of at most `chunkRows` rows whose gradients are added: the same
 * sum, with the activations of one chunk alive at a time (memory bounded
 * whatever the batch size).
 */
import * as tf from '@tensorflow/tfjs-core';
import { LipschitzLinearBase, LipschitzSequential, withConstraintsHeld } from '../layers';
import { accuracyShare, BatchStatistics, krMulticlassShare, meanAbsLogitShare, ShareLossFunction } from '../losses';

/** Rows of one shard: `images` holds `labels.length` rows of `h * w * c` pixels. */
export interface ShardRows {
  images: Float32Array;
  labels: Uint8Array;
}

/** Per-sample input shape `[H, W, C]` and the class count. */
export interface ShardGeometry {
  inputShape: [number, number, number];
  numClasses: number;
}

/** Entries of a step's metrics: [loss, accuracy, KR, mean |logit|]. */
export const STEP_METRICS = 4;

/** One-hot `[m, K]` of `labels`. */
export function oneHot(labels: Uint8Array, numClasses: number): tf.Tensor2D {
  const y = new Float32Array(labels.length * numClasses);
  for (let r = 0; r < labels.length; r++) y[r * numClasses + labels[r]] = 1;
  return tf.tensor2d(y, [labels.length, numClasses]);
}

/** What `shardGradients` returns; the caller owns the tensors. */
export interface ShardGradients {
  /** Gradients of the shard's share of the loss, in `vars` order. */
  grads: tf.Tensor[];
  /**
   * The shard's shares of [loss, accuracy, KR, mean |logit|] of the whole
   * batch (the last for a loss with state: `LipLoss.observeStep`).
   */
  metrics: tf.Tensor1D;
}

/**
 * Gradients of `shareLoss` over the rows of `shard` (a part of the batch
 * that `stats` describe) with respect to `vars`, in chunks of `chunkRows`.
 * The model's constraints are used as they are: the caller updated them
 * once for the step, and no chunk updates them again (`withConstraintsHeld`),
 * so every chunk, and every worker's shard, sees the same vectors.
 */
export function shardGradients(
  model: LipschitzSequential,
  vars: tf.Variable[],
  shareLoss: ShareLossFunction,
  shard: ShardRows,
  geometry: ShardGeometry,
  stats: BatchStatistics,
  chunkRows: number,
): ShardGradients {
  return withConstraintsHeld(() => shardGradientsHeld(model, vars, shareLoss, shard, geometry, stats, chunkRows));
}

function shardGradientsHeld(
  model: LipschitzSequential,
  vars: tf.Variable[],
  shareLoss: ShareLossFunction,
  shard: ShardRows,
  geometry: ShardGeometry,
  stats: BatchStatistics,
  chunkRows: number,
): ShardGradients {
  const rows = shard.labels.length;
  if (rows === 0) return { grads: vars.map((v) => tf.zerosLike(v)), metrics: tf.zeros([STEP_METRICS]) as tf.Tensor1D };
  const linear = model.layers.filter((l): l is LipschitzLinearBase => l instanceof LipschitzLinearBase);
  if (rows <= chunkRows || linear.length === 0) {
    return chunkedGradients(model, vars, shareLoss, shard, geometry, stats, chunkRows);
  }
  const raw = linear.map((l) => l.rawKernel);
  try {
    const frozen = linear.map((l) => l.freezeEffectiveKernel());
    // The chunks differentiate with respect to the frozen kernels in place of the raw ones.
    const chunkVars = vars.map((v) => {
      const i = raw.indexOf(v);
      return i < 0 ? v : frozen[i];
    });
    const { grads, metrics } = chunkedGradients(model, chunkVars, shareLoss, shard, geometry, stats, chunkRows);
    const kernelGrads = linear.map((_, i) => grads[chunkVars.indexOf(frozen[i])]);
    const { value, grads: rawGrads } = tf.variableGrads(
      () => tf.addN(linear.map((l, i) => tf.sum(tf.mul(l.effectiveKernel(), kernelGrads[i])))) as tf.Scalar,
      raw,
    );
    const out = vars.map((v, j) => (raw.includes(v) ? rawGrads[v.name] : grads[j]));
    tf.dispose([value, ...kernelGrads]);
    return { grads: out, metrics };
  } finally {
    for (const l of linear) l.unfreezeEffectiveKernel();
  }
}

/** The chunks' gradients with respect to `vars`, added. */
function chunkedGradients(
  model: LipschitzSequential,
  vars: tf.Variable[],
  shareLoss: ShareLossFunction,
  shard: ShardRows,
  geometry: ShardGeometry,
  stats: BatchStatistics,
  chunkRows: number,
): ShardGradients {
  const [h, w, c] = geometry.inputShape;
  const rowSize = h * w * c;
  const rows = shard.labels.length;
  let grads: tf.Tensor[] | null = null;
  let metrics: tf.Tensor1D | null = null;
  for (let start = 0; start < rows; start += chunkRows) {
    const end = Math.min(start + chunkRows, rows);
    const x = tf.tensor4d(shard.images.subarray(start * rowSize, end * rowSize), [end - start, h, w, c]);
    const y = oneHot(shard.labels.subarray(start, end), geometry.numClasses);
    let logits: tf.Tensor | undefined;
    const { value, grads: byName } = tf.variableGrads(() => {
      const out = model.apply(x, { training: true }) as tf.Tensor;
      logits = tf.keep(out);
      return shareLoss(y, out, stats);
    }, vars);
    const chunkMetrics = tf.tidy(
      () => tf.stack([value, accuracyShare(y, logits!, stats), krMulticlassShare(y, logits!, stats), meanAbsLogitShare(logits!, stats)]) as tf.Tensor1D,
    );
    const chunkGrads = vars.map((v) => byName[v.name]);
    if (grads === null || metrics === null) {
      grads = chunkGrads;
      metrics = chunkMetrics;
    } else {
      const sums: tf.Tensor[] = grads.map((g, i) => tf.add(g, chunkGrads[i]));
      const total = tf.add(metrics, chunkMetrics) as tf.Tensor1D;
      tf.dispose([...grads, ...chunkGrads, metrics, chunkMetrics]);
      grads = sums;
      metrics = total;
    }
    tf.dispose([x, y, value, logits!]);
  }
  return { grads: grads!, metrics: metrics! };
}
