/**
 * LseHKR, SoftHKR and the offset cross-entropy against their reference
 * formulas (test/fixtures/losses-reference.json, made in float64 by
 * tools/make-loss-fixtures.py from deel-torchlip's and AOL's code), their
 * shard forms, their options, and soft_hkr's state.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors';
import { LOSS_NAMES, LOSS_PARAMETERS, makeLoss, makeShareLoss } from './factory';
import { lseHkrMulticlass } from './lse_hkr';
import { marginCategoricalCrossentropy } from './margin_cce';
import { batchStatistics, meanAbsLogitShare } from './shares';
import { softHkrMulticlass, softHkrNextMean, softHkrTemperature } from './soft_hkr';
import { tauCategoricalCrossentropy } from './tau_cce';

interface Batch {
  labels: number[];
  logits: number[][];
  value: number;
  grad: number[][];
}
interface LseCase extends Batch {
  classes: number;
  alpha: number;
  minMargin: number;
  temperature: number;
  penalty: number;
}
interface SoftCall extends Batch {
  meanBefore: number;
  meanAbsLogit: number;
  temperatureUsed: number;
  meanAfter: number;
}
interface SoftCase {
  classes: number;
  alpha: number;
  minMargin: number;
  alphaMean: number;
  temperature: number;
  calls: SoftCall[];
}
interface MarginCase extends Batch {
  classes: number;
  offset: number;
  temperature: number;
}
const FIXTURE = path.join(__dirname, '../../../../test/fixtures/losses-reference.json');
const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as { lseHkr: LseCase[]; softHkr: SoftCase[]; marginCce: MarginCase[] };

type Loss = (y: tf.Tensor, f: tf.Tensor) => tf.Scalar;

const oneHot = (labels: number[], classes: number): tf.Tensor2D => tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32'));

/** The loss and d loss / d logits at `logits`, as numbers. */
function valueAndGrad(loss: Loss, labels: number[], logits: number[][], classes: number): { value: number; grad: number[][] } {
  const y = oneHot(labels, classes);
  const f = tf.tensor2d(logits);
  const { value, grad } = tf.valueAndGrad((p: tf.Tensor) => loss(y, p))(f);
  const out = { value: value.dataSync()[0], grad: grad.arraySync() as number[][] };
  tf.dispose([y, f, value, grad]);
  return out;
}

/** |a - b| <= 1e-6 |b|: the fixture criterion for values. */
function expectValueClose(actual: number, expected: number): void {
  expect(Number.isFinite(actual)).toBe(true);
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-6 * Math.abs(expected));
}

/** max |a - b| <= 1e-5 max |b|: the fixture criterion for gradients. */
function expectGradClose(actual: number[][], expected: number[][]): void {
  const scale = Math.max(...expected.flat().map(Math.abs));
  const worst = Math.max(...actual.flat().map((v, i) => Math.abs(v - expected.flat()[i])));
  expect(scale).toBeGreaterThan(0);
  expect(worst).toBeLessThanOrEqual(1e-5 * scale);
}

describe.each(['cpu', 'wasm'])('reference losses on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it.each(fixture.lseHkr.map((c, i) => [i, c] as const))('LseHKR case %i: value to 1e-6 relative, gradient to 1e-5', (_i, c) => {
    const r = valueAndGrad((y, f) => lseHkrMulticlass(y, f, c.alpha, c.minMargin, c.temperature, c.penalty), c.labels, c.logits, c.classes);
    expectValueClose(r.value, c.value);
    expectGradClose(r.grad, c.grad);
    // The same through the table, with the options by name.
    const opts = { alpha: c.alpha, minMargin: c.minMargin, temperature: c.temperature, penalty: c.penalty };
    const named = valueAndGrad(makeLoss('lse_hkr', opts), c.labels, c.logits, c.classes);
    expect(named.value).toBe(r.value);
  });

  it.each(fixture.softHkr.map((c, i) => [i, c] as const))(
    'SoftHKR sequence %i: the moving mean, the temperature, value and gradient of each call as the reference',
    (_i, c) => {
      let mean = c.minMargin; // the reference starts its mean at min_margin
      for (const call of c.calls) {
        expect(mean).toBeCloseTo(call.meanBefore, 12);
        const f = tf.tensor2d(call.logits);
        const meanAbs = meanAbsLogitShare(f, batchStatistics(call.labels, c.classes));
        expectValueClose(meanAbs.dataSync()[0], call.meanAbsLogit);
        tf.dispose([f, meanAbs]);
        // The reference takes the temperature from the mean including this batch (before its clamp to [0.005, 1000]).
        const meanWithBatch = c.alphaMean * mean + (1 - c.alphaMean) * call.meanAbsLogit;
        const temperature = softHkrTemperature(meanWithBatch, c.minMargin, c.temperature);
        expect(Math.abs(temperature - call.temperatureUsed)).toBeLessThanOrEqual(1e-12 * call.temperatureUsed);
        const r = valueAndGrad((y, p) => softHkrMulticlass(y, p, c.alpha, c.minMargin, temperature), call.labels, call.logits, c.classes);
        expectValueClose(r.value, call.value);
        expectGradClose(r.grad, call.grad);
        mean = softHkrNextMean(mean, call.meanAbsLogit, c.alphaMean);
        expect(Math.abs(mean - call.meanAfter)).toBeLessThanOrEqual(1e-12 * call.meanAfter);
      }
    },
  );

  it.each(fixture.marginCce.map((c, i) => [i, c] as const))('offset cross-entropy case %i: value to 1e-6 relative, gradient to 1e-5', (_i, c) => {
    const r = valueAndGrad((y, f) => marginCategoricalCrossentropy(y, f, c.offset, c.temperature), c.labels, c.logits, c.classes);
    expectValueClose(r.value, c.value);
    expectGradClose(r.grad, c.grad);
    const named = valueAndGrad(makeLoss('margin_cce', { offset: c.offset, temperature: c.temperature }), c.labels, c.logits, c.classes);
    expect(named.value).toBe(r.value);
  });

  it('leaks no tensors', () => {
    const y = oneHot([0, 1, 2, 1], 3);
    const f = tf.tensor2d([
      [0.3, -0.2, 0.5],
      [-0.1, 0.4, 0.2],
      [0.6, 0.1, -0.3],
      [0.2, 0.7, 0.1],
    ]);
    const stats = batchStatistics([0, 1, 2, 1], 3);
    const before = tf.memory().numTensors;
    for (const name of ['lse_hkr', 'soft_hkr', 'margin_cce']) {
      const loss = makeLoss(name);
      for (const call of [() => loss(y, f), () => loss.share(y, f, stats)]) {
        const out = call();
        expect(tf.memory().numTensors).toBe(before + 1);
        out.dispose();
      }
      const g = tf.grad((p: tf.Tensor) => loss(y, p))(f);
      expect(tf.memory().numTensors).toBe(before + 1);
      g.dispose();
    }
    tf.dispose([y, f]);
  });
});

describe('reference losses: shard forms', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  /** 3 uneven shards of a 16-row batch of 10 classes: the shares' values and gradients add up to the full batch's. */
  it.each([
    ['lse_hkr', {}],
    ['lse_hkr', { alpha: 0.5, minMargin: 0.25, temperature: 4, penalty: 2.5 }],
    ['soft_hkr', {}],
    ['soft_hkr', { alpha: 0.995, minMargin: 0.1, temperature: 50, runningMean: 0.37 }],
    ['margin_cce', {}],
    ['margin_cce', { offset: 0.4, temperature: 1 / 16 }],
  ] as const)('%s %j', (name, opts) => {
    const c = fixture.lseHkr[0];
    const loss = makeLoss(name, opts);
    const full = valueAndGrad(loss, c.labels, c.logits, 10);
    const stats = batchStatistics(c.labels, 10);
    let value = 0;
    const grad = c.logits.map((row) => row.map(() => 0));
    for (const [start, end] of [
      [0, 3],
      [3, 11],
      [11, 16],
    ]) {
      const part = valueAndGrad((y, f) => loss.share(y, f, stats), c.labels.slice(start, end), c.logits.slice(start, end), 10);
      value += part.value;
      part.grad.forEach((row, i) => (grad[start + i] = row));
    }
    expectValueClose(value, full.value);
    expectGradClose(grad, full.grad);
    // makeShareLoss is the same share with the same options.
    const y = oneHot(c.labels.slice(0, 3), 10);
    const f = tf.tensor2d(c.logits.slice(0, 3));
    const a = loss.share(y, f, stats);
    const b = makeShareLoss(name, { ...loss.options });
    const bv = b(y, f, stats);
    expect(bv.dataSync()[0]).toBe(a.dataSync()[0]);
    tf.dispose([y, f, a, bv]);
  });

  it('meanAbsLogitShare: the shares add up to mean |f| over all B x K logits', () => {
    const c = fixture.lseHkr[0];
    const stats = batchStatistics(c.labels, 10);
    const expected = c.logits.flat().reduce((s, v) => s + Math.abs(v), 0) / (16 * 10);
    let total = 0;
    for (const [start, end] of [
      [0, 5],
      [5, 16],
    ]) {
      const share = meanAbsLogitShare(tf.tensor2d(c.logits.slice(start, end)), stats);
      total += share.dataSync()[0];
      share.dispose();
    }
    expect(Math.abs(total - expected)).toBeLessThan(1e-6 * expected);
  });
});

describe('reference losses: options and state', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('are registered with their defaults: the deel-torchlip notebook for LseHKR, the classes for SoftHKR, AOL for the offset', () => {
    expect(LOSS_NAMES).toEqual(expect.arrayContaining(['lse_hkr', 'soft_hkr', 'margin_cce']));
    expect(LOSS_PARAMETERS.lse_hkr).toEqual({ alpha: 0.9, minMargin: 1, temperature: 10, penalty: 1 });
    expect(LOSS_PARAMETERS.soft_hkr).toEqual({ alpha: 0.9, minMargin: 1, alphaMean: 0.99, temperature: 1 });
    expect(LOSS_PARAMETERS.margin_cce).toEqual({ offset: Math.SQRT2, temperature: 0.25 });
    expect(makeLoss('soft_hkr').options).toEqual({ alpha: 0.9, minMargin: 1, alphaMean: 0.99, temperature: 1, runningMean: 1 });
    // The defaults are the functions' defaults.
    const c = fixture.lseHkr[0];
    const y = oneHot(c.labels, 10);
    const f = tf.tensor2d(c.logits);
    for (const [named, direct] of [
      [makeLoss('lse_hkr'), lseHkrMulticlass(y, f)],
      [makeLoss('margin_cce'), marginCategoricalCrossentropy(y, f)],
      [makeLoss('soft_hkr'), softHkrMulticlass(y, f, 0.9, 1, softHkrTemperature(1, 1, 1))],
    ] as const) {
      const v = named(y, f);
      expect(v.dataSync()[0]).toBe(direct.dataSync()[0]);
      tf.dispose([v, direct]);
    }
    tf.dispose([y, f]);
  });

  it.each([
    ['lse_hkr', { alpha: 100 }, "loss 'lse_hkr': 'alpha' must be a number in [0, 1], got 100"],
    ['lse_hkr', { alpha: -0.1 }, "loss 'lse_hkr': 'alpha' must be a number in [0, 1], got -0.1"],
    ['lse_hkr', { minMargin: 0 }, "loss 'lse_hkr': 'minMargin' must be a finite number > 0, got 0"],
    ['lse_hkr', { temperature: Number.NaN }, "loss 'lse_hkr': 'temperature' must be a finite number > 0, got NaN"],
    ['lse_hkr', { penalty: -1 }, "loss 'lse_hkr': 'penalty' must be a finite number > 0, got -1"],
    ['soft_hkr', { alpha: 10 }, "loss 'soft_hkr': 'alpha' must be a number in [0, 1], got 10"],
    ['soft_hkr', { alphaMean: 1.5 }, "loss 'soft_hkr': 'alphaMean' must be a number in [0, 1], got 1.5"],
    ['soft_hkr', { temperature: 0 }, "loss 'soft_hkr': 'temperature' must be a finite number > 0, got 0"],
    ['soft_hkr', { runningMean: Number.POSITIVE_INFINITY }, "loss 'soft_hkr': 'runningMean' must be a finite number > 0, got Infinity"],
    ['margin_cce', { offset: -1 }, "loss 'margin_cce': 'offset' must be a finite number >= 0, got -1"],
    ['margin_cce', { temperature: -0.25 }, "loss 'margin_cce': 'temperature' must be a finite number > 0, got -0.25"],
  ] as const)('%s rejects %j with one InvalidArgumentError naming the option', (name, opts, message) => {
    expect(() => makeLoss(name, opts)).toThrow(InvalidArgumentError);
    expect(() => makeLoss(name, opts)).toThrow(message);
    expect(() => makeShareLoss(name, opts)).toThrow(message);
  });

  it('setParameter validates, and the state is not a parameter', () => {
    const loss = makeLoss('lse_hkr');
    loss.temperature = 4;
    expect(loss.options.temperature).toBe(4);
    expect(() => (loss.alpha = 2)).toThrow("loss 'lse_hkr': 'alpha' must be a number in [0, 1], got 2");
    expect(loss.alpha).toBe(0.9);
    expect(() => makeLoss('margin_cce').setParameter('alpha', 0.5)).toThrow("loss 'margin_cce' has no parameter 'alpha' (its parameters: offset, temperature)");
    const soft = makeLoss('soft_hkr');
    expect(() => soft.setParameter('runningMean' as never, 2)).toThrow("loss 'soft_hkr' has no parameter 'runningMean'");
  });

  it('the losses need one logit per class', () => {
    const y = tf.ones([4, 1]);
    for (const name of ['lse_hkr', 'soft_hkr', 'margin_cce']) {
      expect(() => makeLoss(name)(y, y)).toThrow(InvalidArgumentError);
      expect(() => makeLoss(name)(y, y)).toThrow("'yPred' must be [batch, classes] with at least 2 classes, got [4, 1]");
    }
    y.dispose();
  });

  it('soft_hkr: observeStep moves the mean as the reference, and the next call takes its temperature from it', () => {
    const c = fixture.softHkr[1];
    const loss = makeLoss('soft_hkr', { alpha: c.alpha, minMargin: c.minMargin, alphaMean: c.alphaMean, temperature: c.temperature });
    expect(loss.state).toEqual({ runningMean: c.minMargin });
    let mean = c.minMargin;
    for (const call of c.calls) {
      const y = oneHot(call.labels, c.classes);
      const f = tf.tensor2d(call.logits);
      const v = loss(y, f);
      const expected = softHkrMulticlass(y, f, c.alpha, c.minMargin, softHkrTemperature(mean, c.minMargin, c.temperature));
      expect(v.dataSync()[0]).toBe(expected.dataSync()[0]);
      // Calling the loss (validation) does not move the mean; a training step does.
      expect(loss.state).toEqual({ runningMean: mean });
      loss.observeStep({ meanAbsLogit: call.meanAbsLogit });
      mean = softHkrNextMean(mean, call.meanAbsLogit, c.alphaMean);
      expect(loss.state).toEqual({ runningMean: mean });
      expect(Math.abs(mean - call.meanAfter)).toBeLessThanOrEqual(1e-12 * call.meanAfter);
      expect(loss.options.runningMean).toBe(mean);
      tf.dispose([y, f, v, expected]);
    }
    // A loss made with a checkpoint's state continues from it.
    const restored = makeLoss('soft_hkr', { ...loss.options });
    expect(restored.state).toEqual(loss.state);
    expect(() => loss.observeStep({ meanAbsLogit: Number.NaN })).toThrow("softHkrNextMean: 'meanAbsLogit' must be a finite number >= 0, got NaN");
  });

  it('losses without state ignore observeStep', () => {
    for (const name of LOSS_NAMES.filter((n) => n !== 'soft_hkr')) {
      const loss = makeLoss(name, { tau: 2 });
      const before = loss.options;
      loss.observeStep({ meanAbsLogit: 3 });
      expect(loss.state).toEqual({});
      expect(loss.options).toEqual(before);
    }
  });

  it('softHkrTemperature and softHkrNextMean clamp as the reference', () => {
    // T = clamp(temperature * minMargin / clamp(mean, minMargin, 20000), 0.005, 250)
    expect(softHkrTemperature(0.01, 1, 1)).toBe(1);
    expect(softHkrTemperature(4, 1, 2)).toBe(0.5);
    expect(softHkrTemperature(1e6, 1, 1)).toBe(0.005); // 1 / 20000, clamped
    expect(softHkrTemperature(1, 1, 1000)).toBe(250);
    // m' = clamp(alphaMean m + (1 - alphaMean) meanAbs, 0.005, 1000)
    expect(softHkrNextMean(1, 3, 0.5)).toBe(2);
    expect(softHkrNextMean(0.005, 0, 0.5)).toBe(0.005);
    expect(softHkrNextMean(1000, 5000, 0.5)).toBe(1000);
  });

  it('LseHKR with 2 classes: the soft maximum of one logit is that logit (the reference divides by log 1 = 0)', () => {
    const y = oneHot([0, 1, 1], 2);
    const rows = [
      [0.8, -0.3],
      [0.2, 0.1],
      [-0.4, 0.9],
    ];
    const f = tf.tensor2d(rows);
    const [alpha, minMargin, temperature] = [0.7, 1, 3];
    let expected = 0;
    rows.forEach((r, i) => {
      const pos = temperature * r[i === 0 ? 0 : 1];
      const neg = temperature * r[i === 0 ? 1 : 0];
      expected += (1 - alpha) * (neg - pos) + alpha * (Math.max(0, minMargin / 2 - pos) + Math.max(0, minMargin / 2 + neg));
    });
    const v = lseHkrMulticlass(y, f, alpha, minMargin, temperature, 1);
    expectValueClose(v.dataSync()[0], expected / 3);
    const g = tf.grad((p: tf.Tensor) => lseHkrMulticlass(y, p, alpha, minMargin, temperature, 1))(f);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([y, f, v, g]);
  });

  it('margin_cce with offset 0 is tau_cce with tau = 1 / temperature', () => {
    const c = fixture.marginCce[0];
    const y = oneHot(c.labels, c.classes);
    const f = tf.tensor2d(c.logits);
    const a = marginCategoricalCrossentropy(y, f, 0, 0.25);
    const b = tauCategoricalCrossentropy(y, f, 4);
    expect(Math.abs(a.dataSync()[0] - b.dataSync()[0])).toBeLessThan(1e-6 * b.dataSync()[0]);
    tf.dispose([y, f, a, b]);
  });
});
