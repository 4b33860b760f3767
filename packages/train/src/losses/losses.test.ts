import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers the gradients of the core ops (tfjs-core alone has none).
import '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN } from '../constants';
import { hingeMulticlass, hkrMulticlass, krMulticlass } from './multiclass';
import { hingeMarginBinary, hkrBinary, krBinary } from './binary';
import { tauCategoricalCrossentropy } from './tau_cce';
import { LOSS_NAMES, makeLoss } from './factory';

interface LossCase {
  binary?: boolean;
  yTrue: number[][];
  yPred: number[][];
  alpha: number;
  minMargin: number;
  krMulticlass?: number;
  hingeMulticlass?: number;
  hkrMulticlass?: number;
  kr?: number;
  hingeMargin?: number;
  hkr?: number;
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../../testdata/torchlip-v0.1.1-reference.json'), 'utf8')) as { losses: LossCase[] };
const multiclassCases = fixture.losses.map((c, i) => [i, c] as const).filter(([, c]) => !c.binary);
const binaryCases = fixture.losses.map((c, i) => [i, c] as const).filter(([, c]) => c.binary === true);

/** Fixture criterion for scalars: |a - b| <= 1e-6 * |b| (unless a scale is given). */
function expectScalarClose(actual: number, expected: number, scale = Math.abs(expected)): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-6 * scale);
}

const value = (t: tf.Scalar): number => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

/** KR multiclass in float64, as defined (an absent class contributes 0 for the missing mean). */
function krMulticlass64(y: number[][], f: number[][]): number {
  const k = y[0].length;
  let total = 0;
  for (let c = 0; c < k; c++) {
    let sp = 0;
    let np = 0;
    let sn = 0;
    let nn = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i][c] > 0) {
        sp += f[i][c];
        np++;
      } else {
        sn += f[i][c];
        nn++;
      }
    }
    total += (np > 0 ? sp / np : 0) - (nn > 0 ? sn / nn : 0);
  }
  return total / k;
}

describe.each(['cpu', 'wasm'])('losses on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it.each(multiclassCases)('multiclass fixture case %i: KR, hinge and HKR to 1e-6 relative', (_i, c) => {
    const y = tf.tensor2d(c.yTrue);
    const f = tf.tensor2d(c.yPred);
    const kr = c.krMulticlass as number;
    expectScalarClose(value(krMulticlass(y, f)), kr);
    expectScalarClose(value(hingeMulticlass(y, f, c.minMargin)), c.hingeMulticlass as number);
    expectScalarClose(value(hkrMulticlass(y, f, c.alpha, c.minMargin)), c.hkrMulticlass as number);
    tf.dispose([y, f]);
  });

  it.each(binaryCases)('binary fixture case %i: KR and hinge to 1e-6 relative, labels +-1 and 0/1', (_i, c) => {
    const f = tf.tensor2d(c.yPred);
    const kr = c.kr as number;
    for (const labels of [c.yTrue, c.yTrue.map((r) => r.map((v) => (v > 0 ? 1 : 0)))]) {
      const y = tf.tensor2d(labels);
      expectScalarClose(value(krBinary(y, f)), kr);
      expectScalarClose(value(hingeMarginBinary(y, f, c.minMargin)), c.hingeMargin as number);
      y.dispose();
    }
    f.dispose();
  });

  it.each(binaryCases)('binary fixture case %i: HKR = alpha * hinge - KR (the fixture adds KR, see hkrBinary)', (_i, c) => {
    const y = tf.tensor2d(c.yTrue);
    const f = tf.tensor2d(c.yPred);
    const hinge = c.hingeMargin as number;
    const kr = c.kr as number;
    // deel-torchlip v0.1.1-alpha's binary HKR, as recorded: alpha * hinge + KR.
    expect(Math.abs((c.hkr as number) - (c.alpha * hinge + kr))).toBeLessThan(1e-12 * (1 + Math.abs(c.hkr as number)));
    // Ours has the sign of the paper, the same as the multiclass HKR.
    const expected = c.alpha * hinge - kr;
    expectScalarClose(value(hkrBinary(y, f, c.alpha, c.minMargin)), expected);
    // And our primitives reproduce the recorded value with the old sign.
    const legacy = value(hingeMarginBinary(y, f, c.minMargin)) * c.alpha + value(krBinary(y, f));
    expectScalarClose(legacy, c.hkr as number);
    tf.dispose([y, f]);
  });

  it('a class absent from the batch gives finite values and gradients (multiclass)', () => {
    // 3 classes, class 2 never the label.
    const yRows = [
      [1, 0, 0],
      [0, 1, 0],
      [1, 0, 0],
      [0, 1, 0],
    ];
    const fRows = [
      [0.3, -0.2, 0.5],
      [-0.1, 0.4, 0.2],
      [0.6, 0.1, -0.3],
      [0.2, 0.7, 0.1],
    ];
    const y = tf.tensor2d(yRows);
    const f = tf.tensor2d(fRows);
    const kr = value(krMulticlass(y, f));
    expect(Math.abs(kr - krMulticlass64(yRows, fRows))).toBeLessThan(1e-6);
    for (const loss of [
      (p: tf.Tensor) => krMulticlass(y, p),
      (p: tf.Tensor) => hingeMulticlass(y, p, 0.5),
      (p: tf.Tensor) => hkrMulticlass(y, p, 10, 0.5),
      (p: tf.Tensor) => tauCategoricalCrossentropy(y, p, 5),
    ]) {
      expect(Number.isFinite(value(loss(f) as tf.Scalar))).toBe(true);
      const g = tf.grad(loss)(f);
      expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      g.dispose();
    }
    // d KR / d f_ik = (pos_ik / n_pos_k - neg_ik / n_neg_k) / K; class 2: -1/4 / 3 for all rows.
    const g = tf
      .grad((p: tf.Tensor) => krMulticlass(y, p))(f)
      .arraySync() as number[][];
    for (let i = 0; i < 4; i++) {
      expect(g[i][2]).toBeCloseTo(-1 / 12, 7);
      expect(g[i][0]).toBeCloseTo((yRows[i][0] > 0 ? 1 / 2 : -1 / 2) / 3, 7);
    }
    tf.dispose([y, f]);
  });

  it('a batch of one binary class gives finite values and gradients', () => {
    const y = tf.tensor2d([[1], [1], [1]]);
    const f = tf.tensor2d([[0.2], [-0.4], [0.9]]);
    expect(value(krBinary(y, f))).toBeCloseTo((0.2 - 0.4 + 0.9) / 3, 6);
    for (const loss of [(p: tf.Tensor) => krBinary(y, p), (p: tf.Tensor) => hkrBinary(y, p, 10, 1)]) {
      expect(Number.isFinite(value(loss(f)))).toBe(true);
      const g = tf.grad(loss)(f);
      expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      g.dispose();
    }
    tf.dispose([y, f]);
  });

  it('tauCategoricalCrossentropy equals CCE(y, tau f) / tau computed in float64', () => {
    const fRows = [
      [0.3, -0.2, 0.5, 0.1],
      [-0.1, 0.4, 0.2, -0.6],
      [0.6, 0.1, -0.3, 0.0],
    ];
    const labels = [2, 1, 0];
    for (const tau of [0.5, 1, 10, 256]) {
      let total = 0;
      for (let i = 0; i < 3; i++) {
        const z = fRows[i].map((v) => tau * v);
        const m = Math.max(...z);
        const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
        total += lse - z[labels[i]];
      }
      const expected = total / 3 / tau;
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 4);
      const f = tf.tensor2d(fRows);
      expectScalarClose(value(tauCategoricalCrossentropy(y, f, tau)), expected, expected);
      tf.dispose([y, f]);
    }
  });

  it('leaks no tensors', () => {
    const c = fixture.losses[0];
    const y = tf.tensor2d(c.yTrue);
    const f = tf.tensor2d(c.yPred);
    const before = tf.memory().numTensors;
    for (const name of LOSS_NAMES) {
      const out = makeLoss(name, { tau: 4 })(y, f);
      expect(tf.memory().numTensors).toBe(before + 1);
      out.dispose();
    }
    tf.dispose([y, f]);
  });
});

describe('makeLoss', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('selects by name, multiclass or binary by the shape of yPred', () => {
    const mc = fixture.losses[0];
    const bin = fixture.losses[3];
    const ym = tf.tensor2d(mc.yTrue);
    const fm = tf.tensor2d(mc.yPred);
    const yb = tf.tensor2d(bin.yTrue);
    const fb = tf.tensor2d(bin.yPred);
    const opts = { alpha: mc.alpha, minMargin: mc.minMargin };
    expectScalarClose(value(makeLoss('hkr', opts)(ym, fm)), mc.hkrMulticlass as number);
    expectScalarClose(value(makeLoss('kr')(ym, fm)), -(mc.krMulticlass as number));
    expectScalarClose(value(makeLoss('hinge', opts)(ym, fm)), mc.hingeMulticlass as number);
    const bopts = { alpha: bin.alpha, minMargin: bin.minMargin };
    expectScalarClose(value(makeLoss('hkr', bopts)(yb, fb)), bin.alpha * (bin.hingeMargin as number) - (bin.kr as number));
    expectScalarClose(value(makeLoss('kr')(yb, fb)), -(bin.kr as number));
    expectScalarClose(value(makeLoss('hinge', bopts)(yb, fb)), bin.hingeMargin as number);
    expect(value(makeLoss('tau_cce', { tau: 3 })(ym, fm))).toBeCloseTo(value(tauCategoricalCrossentropy(ym, fm, 3)), 6);
    // Defaults come from constants.ts.
    expect(value(makeLoss('hkr')(ym, fm))).toBeCloseTo(value(hkrMulticlass(ym, fm, DEFAULT_HKR_ALPHA, DEFAULT_MIN_MARGIN)), 5);
    tf.dispose([ym, fm, yb, fb]);
  });

  it('rejects unknown names and bad options with InvalidArgumentError', () => {
    expect(LOSS_NAMES).toEqual(['hkr', 'kr', 'hinge', 'tau_cce', 'lse_hkr', 'soft_hkr', 'margin_cce']);
    expect(() => makeLoss('mse')).toThrow(InvalidArgumentError);
    expect(() => makeLoss('mse')).toThrow(`'loss' must be one of hkr, kr, hinge, tau_cce, lse_hkr, soft_hkr, margin_cce, got "mse"`);
    expect(() => makeLoss('hkr', { alpha: -1 })).toThrow("loss 'hkr': 'alpha' must be a finite number >= 0, got -1");
    expect(() => makeLoss('hinge', { minMargin: 0 })).toThrow("loss 'hinge': 'minMargin' must be a finite number > 0, got 0");
    expect(() => makeLoss('tau_cce')).toThrow("loss 'tau_cce': option 'tau' is required (a number > 0)");
    expect(() => makeLoss('tau_cce', { tau: Number.NaN })).toThrow("'tau' must be a finite number > 0, got NaN");
  });

  it('rejects mismatched shapes', () => {
    const y = tf.ones([4, 3]);
    const f = tf.ones([4, 2]);
    expect(() => krMulticlass(y, f)).toThrow("krMulticlass: 'yTrue' [4, 3] and 'yPred' [4, 2] must have the same size");
    expect(() => hingeMarginBinary(tf.ones([4, 1]), f)).toThrow("hingeMarginBinary: 'yPred' must be [batch, 1] or [batch], got [4, 2]");
    expect(() => krMulticlass(tf.ones([4, 1]), tf.ones([4, 1]))).toThrow("krMulticlass: 'yPred' must be [batch, classes] with at least 2 classes, got [4, 1]");
    tf.dispose([y, f]);
  });
});
