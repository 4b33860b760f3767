/**
 * Sharding does not change the maths: the shards' shares of the loss add up
 * to the full-batch loss, and their gradients to the full-batch gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { maxRelDiff } from '@lip/test-support';
import { FASHION_DIR } from '@lip/test-support/data';
import { selectBackend, withNoLeak } from '../backend';
import { loadDatasetFromDir } from '../data/node';
import { accuracy, krMulticlass } from '../metrics';
import { batchStatistics, LOSS_NAMES, makeLoss, makeShareLoss } from '../losses';
import { buildModel } from '../models';
import { oneHot, shardGradients } from './shard_gradients';

const GEOMETRY = { inputShape: [28, 28, 1] as [number, number, number], numClasses: 10 };

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('loss shares add up to the full-batch loss', () => {
  // Class 3 absent from the batch, class 0 in one shard only.
  const labels = Uint8Array.from([0, 1, 2, 2, 4, 5, 6, 7, 8, 9, 1, 1, 5, 9, 8, 7, 6, 4, 2, 1]);
  const logits = Float32Array.from({ length: labels.length * 10 }, (_, i) => Math.sin(1.3 * i) * 0.4);
  const cuts = [0, 1, 8, 13, 20];

  test.each(LOSS_NAMES.map((n) => [n]))('%s', (name) => {
    // lse_hkr and soft_hkr weigh KR and hinge by alpha in [0, 1].
    const opts = name === 'lse_hkr' || name === 'soft_hkr' ? { alpha: 0.7, minMargin: 0.3, runningMean: 0.4 } : { alpha: 50, minMargin: 0.3, tau: 4 };
    const stats = batchStatistics(labels, 10);
    const [full, shared] = withNoLeak(() =>
      tf.tidy(() => {
        const y = oneHot(labels, 10);
        const f = tf.tensor2d(logits, [labels.length, 10]);
        const whole = makeLoss(name, opts)(y, f).dataSync()[0];
        const share = makeShareLoss(name, opts);
        let sum = 0;
        for (let s = 0; s + 1 < cuts.length; s++) {
          const part = (t: tf.Tensor) => tf.slice(t, [cuts[s], 0], [cuts[s + 1] - cuts[s], 10]);
          sum += share(part(y), part(f), stats).dataSync()[0];
        }
        return [whole, sum];
      }),
    );
    expect(Number.isFinite(full)).toBe(true);
    expect(Math.abs(shared - full)).toBeLessThan(1e-5 * Math.max(1, Math.abs(full)));
  });

  test('the shard form refuses a binary output', () => {
    const y = tf.ones([4, 1]);
    expect(() => makeShareLoss('hkr')(y, y, { size: 4, positives: [4] })).toThrow(/multiclass only/);
    y.dispose();
  });
});

describe('shard gradients of the seed network add up to the full-batch gradient', () => {
  // wasm: the cpu backend takes minutes on the conv gradients (wasm matches cpu: backend/*.test.ts).
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  test('3 uneven shards in chunks of 5 rows, real Fashion-MNIST, HKR', () => {
    const ds = loadDatasetFromDir(FASHION_DIR, 'fashion-mnist', 'train', { limit: 30 });
    const model = buildModel('seed', { seed: 5, logger: { warn: () => undefined } });
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const lossFn = makeLoss('hkr', { alpha: 100, minMargin: 0.25 });
    const stats = batchStatistics(ds.labels, 10);
    const full = tf.tidy(() => {
      const x = tf.tensor4d(ds.images, [30, 28, 28, 1]);
      const y = oneHot(ds.labels, 10);
      let logits: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        logits = tf.keep(model.apply(x, { training: true }) as tf.Tensor);
        return lossFn(y, logits);
      }, vars);
      return {
        grads: vars.map((v) => grads[v.name].dataSync() as Float32Array),
        metrics: [value.dataSync()[0], accuracy(y, logits!).dataSync()[0], krMulticlass(y, logits!).dataSync()[0], tf.mean(tf.abs(logits!)).dataSync()[0]],
      };
    });

    const share = makeShareLoss('hkr', { alpha: 100, minMargin: 0.25 });
    const sums = vars.map((v) => new Float64Array(v.size));
    const metrics = [0, 0, 0, 0];
    withNoLeak(() => {
      for (const [start, end] of [
        [0, 4],
        [4, 17],
        [17, 30],
      ]) {
        const shard = { images: ds.images.subarray(start * 784, end * 784), labels: ds.labels.subarray(start, end) };
        const r = shardGradients(model, vars, share, shard, GEOMETRY, stats, 5);
        r.grads.forEach((g, i) => g.dataSync().forEach((v, j) => (sums[i][j] += v)));
        r.metrics.dataSync().forEach((v, i) => (metrics[i] += v));
        tf.dispose([...r.grads, r.metrics]);
      }
    });
    sums.forEach((s, i) => expect(maxRelDiff(s, full.grads[i])).toBeLessThan(1e-5));
    expect(maxRelDiff(metrics, full.metrics)).toBeLessThan(1e-5);
    model.dispose();
  });
});
