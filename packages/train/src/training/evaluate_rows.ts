/** Loss, accuracy and KR of one batch without gradients, its forward pass in chunks. */
import * as tf from '@tensorflow/tfjs-core';
import { LipschitzSequential } from '../layers';
import { LossFunction } from '../losses';
import { accuracy, krMulticlass } from '../metrics';
import { oneHot, ShardGeometry, ShardRows } from './shard_gradients';

/**
 * [loss, acc, KR] of the batch `rows` (batch statistics over all of it).
 * The logits are computed `chunkRows` rows at a time (a sample's logits do
 * not depend on the others), which bounds the activations' memory.
 */
export function evaluateRows(
  model: LipschitzSequential,
  lossFn: LossFunction,
  rows: ShardRows,
  geometry: ShardGeometry,
  chunkRows: number,
): [number, number, number] {
  const [h, w, c] = geometry.inputShape;
  const rowSize = h * w * c;
  const m = rows.labels.length;
  const stats = tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    for (let start = 0; start < m; start += chunkRows) {
      const end = Math.min(start + chunkRows, m);
      const x = tf.tensor4d(rows.images.subarray(start * rowSize, end * rowSize), [end - start, h, w, c]);
      parts.push(model.apply(x, { training: false }) as tf.Tensor);
    }
    const logits = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    const y = oneHot(rows.labels, geometry.numClasses);
    return tf.stack([lossFn(y, logits), accuracy(y, logits), krMulticlass(y, logits)]);
  });
  const values = Array.from(stats.dataSync()) as [number, number, number];
  stats.dispose();
  return values;
}
