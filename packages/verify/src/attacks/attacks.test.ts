import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { ModelError } from '@lip/train';
import { uniformArray } from '@lip/test-support';
import { honestConvModel, orthonormalLinearModel } from '@lip/test-support/onnx';
import { OnnxModel, readOnnxModel } from '../onnx/read';
import { LipSession, openSession } from '../session';
import { translateOnnx } from '../translate/translate';
import { cwL2 } from './cw';
import { AttackRunOptions, AttackRunResult, DEFAULT_PGD_EPS, multiclassCertificate, runAttack } from './run';
import { hopSkipJumpL2 } from './hsja';

/** Images near the middle of the box, so the box does not bind for small perturbations. */
function midImages(n: number, d: number, seed: number): Float32Array {
  return Float32Array.from(uniformArray(n * d, seed), (v) => 0.5 + 0.15 * v);
}

async function attack(bytes: Uint8Array, n: number, chw: [number, number, number], opts: AttackRunOptions, seed = 3): Promise<AttackRunResult> {
  const model = readOnnxModel(bytes);
  const session = await openSession(model);
  try {
    const d = chw[0] * chw[1] * chw[2];
    const images = midImages(n, d, seed);
    // Label each image with the model's own prediction: the images are correctly classified, so every one is attacked
    // as an 'adversarial found / none found' case rather than 'already misclassified'.
    const labels = await predictions(session, images, n, chw);
    return await runAttack(
      model,
      session,
      images,
      labels,
      Array.from({ length: n }, (_, i) => i),
      chw,
      opts,
    );
  } finally {
    await session.close();
  }
}

/** The model's predicted class of each image (argmax of onnxruntime's logits). */
async function predictions(session: LipSession, images: Float32Array, n: number, chw: readonly number[]): Promise<number[]> {
  const logits = await session.runBatched(images, n, chw);
  const k = logits.length / n;
  return Array.from({ length: n }, (_, i) => {
    const row = Array.from(logits.subarray(i * k, (i + 1) * k));
    return row.indexOf(Math.max(...row));
  });
}

describe('attacks', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('cw on an orthonormal linear model finds the exact boundary distance, never below the certificate', async () => {
    const { bytes, W, c } = orthonormalLinearModel(6, 6, 10, 11);
    const n = 6;
    const d = 36;
    const x = midImages(n, d, 5);
    // Exact distance to the nearest boundary, ignoring the box: min_j (f_y - f_j) / ||w_y - w_j|| = margin / sqrt(2).
    const f = (i: number, j: number): number => W.subarray(j * d, (j + 1) * d).reduce((s, w, p) => s + w * x[i * d + p], c[j]);
    const exact: number[] = [];
    const preds: number[] = [];
    for (let i = 0; i < n; i++) {
      const z = Array.from({ length: 10 }, (_, j) => f(i, j));
      const y = z.indexOf(Math.max(...z));
      preds.push(y);
      exact.push(Math.min(...z.map((v, j) => (j === y ? Infinity : (z[y] - v) / Math.SQRT2))));
    }
    const model = readOnnxModel(bytes);
    const fn = translateOnnx(model);
    try {
      const out = cwL2(fn, x, [n, 1, 6, 6], preds, { binarySearchSteps: 8, steps: 400 });
      for (let i = 0; i < n; i++) {
        expect(out.found[i]).toBe(true);
        let s = 0;
        for (let p = i * d; p < (i + 1) * d; p++) s += (out.adv[p] - x[p]) ** 2;
        const dist = Math.sqrt(s);
        expect(dist).toBeGreaterThanOrEqual(exact[i] - 1e-5);
        expect(dist).toBeLessThanOrEqual(exact[i] * 1.03 + 1e-3);
      }
    } finally {
      fn.dispose();
    }

    // Through the runner: onnxruntime re-check, certificates equal the exact distances.
    const r = await attack(bytes, n, [1, 6, 6], { attack: 'cw', binarySearchSteps: 8, steps: 400 }, 5);
    expect(r.translationMaxDiff).not.toBeNull();
    expect(r.violations).toBe(0);
    expect(r.found).toBe(n);
    r.results.forEach((res, i) => {
      expect(res.certificate).toBeCloseTo(exact[i], 4);
      expect(res.certificate).toBeLessThanOrEqual(exact[i]);
      expect(res.advPred).not.toBe(res.pred);
      expect(res.distance!).toBeGreaterThanOrEqual(res.certificate - 1e-5);
      expect(res.distance!).toBeLessThanOrEqual(res.certificate * 1.03 + 1e-3);
    });
  });

  it('the check can fail: certificates made with the false claim L = 1 of a model with weights x4 are violated', async () => {
    const { bytes } = orthonormalLinearModel(6, 6, 10, 11, 4);
    const r = await attack(bytes, 4, [1, 6, 6], { attack: 'cw', binarySearchSteps: 6, steps: 200, certificate: multiclassCertificate(1) });
    expect(r.lipschitz).toBe(1);
    expect(r.violations).toBe(4);
    for (const res of r.results) {
      expect(res.violated).toBe(true);
      // The real constant is 4: the boundary is at a quarter of the claimed certificate.
      expect(res.distance!).toBeLessThan(res.certificate * 0.5);
      expect(res.distance!).toBeGreaterThanOrEqual(res.certificate / 4 - 1e-5);
    }
    const conv = await attack(honestConvModel(4, 'default', 4), 4, [1, 6, 6], { attack: 'deepfool', certificate: multiclassCertificate(1) });
    expect(conv.violations).toBeGreaterThan(0);
  });

  it('by default checks the certificates lip verify prints: the bound replaces a false claim, so nothing is violated', async () => {
    const { bytes } = orthonormalLinearModel(6, 6, 10, 11, 4);
    const warnings: string[] = [];
    const r = await attack(bytes, 4, [1, 6, 6], { attack: 'cw', binarySearchSteps: 6, steps: 200, onWarning: (m) => warnings.push(m) });
    expect(r.lipschitzSource).toBe('bound');
    expect(r.lipschitz).toBeGreaterThan(3.99);
    expect(r.certificateKind).toMatch(/^head-aware/);
    expect(r.violations).toBe(0);
    expect(r.results.filter((x) => x.found)).toHaveLength(4);
    expect(warnings.some((w) => /claims L = 1 but the weights give a certified bound/.test(w))).toBe(true);
    expect(r.warnings).toEqual(warnings);
  });

  it.each([
    ['pgd', { eps: 1.0, steps: 40 }],
    ['deepfool', {}],
    ['fmn', { steps: 60 }],
    ['cw', { binarySearchSteps: 5, steps: 150 }],
  ] as const)('%s finds adversarials but no violation on honest 1-Lipschitz models', async (name, extra) => {
    for (const [bytes, chw] of [
      [honestConvModel(1, 'default'), [1, 6, 6]],
      [honestConvModel(1, 'portable'), [1, 6, 6]],
      [orthonormalLinearModel(5, 5, 10, 21).bytes, [1, 5, 5]],
    ] as const) {
      const r = await attack(bytes, 8, chw as [number, number, number], { attack: name, ...extra });
      expect(r.violations).toBe(0);
      expect(r.found).toBeGreaterThan(0);
      for (const res of r.results) {
        if (res.found) {
          expect(res.advPred).not.toBe(res.pred);
          expect(res.distance!).toBeGreaterThanOrEqual(res.certificate - 1e-5);
        } else {
          expect(res.distance).toBeNull();
        }
      }
    }
  });

  it('pgd counts nothing beyond its radius', async () => {
    const r = await attack(honestConvModel(1), 8, [1, 6, 6], { attack: 'pgd', eps: 0.01, steps: 10 });
    expect(r.found).toBe(r.results.filter((x) => x.certificate < 0.01).length);
    for (const res of r.results.filter((x) => x.found)) expect(res.distance!).toBeLessThanOrEqual(0.01 + 1e-6);
  });

  it('hsja runs through onnxruntime alone, within its query budget', async () => {
    const bytes = honestConvModel(3);
    const real = readOnnxModel(bytes);
    // The tfjs translator cannot read this copy; onnxruntime still runs the real bytes.
    const untranslatable: OnnxModel = { ...real, nodes: real.nodes.map((nd) => ({ ...nd, opType: nd.opType === 'Conv' ? 'NotAnOp' : nd.opType })) };
    const session: LipSession = await openSession(real);
    try {
      const n = 3;
      const images = midImages(n, 36, 9);
      const labels = await predictions(session, images, n, [1, 6, 6]);
      const idx = [0, 1, 2];
      await expect(runAttack(untranslatable, session, images, labels, idx, [1, 6, 6], { attack: 'cw', steps: 2, binarySearchSteps: 1 })).rejects.toBeInstanceOf(
        ModelError,
      );
      // The bound cannot read the copy either: the certificates are given.
      const r = await runAttack(untranslatable, session, images, labels, idx, [1, 6, 6], {
        attack: 'hsja',
        steps: 12,
        maxQueries: 3000,
        certificate: multiclassCertificate(1),
      });
      expect(r.translationMaxDiff).toBeNull();
      expect(r.found).toBe(n);
      expect(r.violations).toBe(0);
      // A decision-based attack lands close to what a gradient attack finds.
      const df = await runAttack(real, session, images, labels, idx, [1, 6, 6], { attack: 'deepfool' });
      r.results.forEach((res, i) => {
        expect(res.distance!).toBeGreaterThanOrEqual(res.certificate - 1e-5);
        expect(res.distance!).toBeLessThan(df.results[i].distance! * 1.5);
      });
    } finally {
      await session.close();
    }
    const cheat = await attack(orthonormalLinearModel(6, 6, 10, 11, 4).bytes, 3, [1, 6, 6], {
      attack: 'hsja',
      steps: 15,
      maxQueries: 4000,
      certificate: multiclassCertificate(1),
    });
    expect(cheat.violations).toBe(3);
  });

  it('hsja approaches the exact boundary of a linear two-class rule and respects its budget (defaults otherwise)', async () => {
    // Class 1 when w.x > 0.5: the distance of x to the boundary is |w.x - 0.5| / ||w||.
    const d = 20;
    const w = uniformArray(d, 4);
    const wn = Math.sqrt(w.reduce((a, v) => a + v * v, 0));
    const score = (x: Float32Array, off: number): number => w.reduce((a, v, p) => a + v * x[off + p], 0) - 0.5;
    let calls = 0;
    const predict = async (x: Float32Array, m: number): Promise<number[]> => {
      calls += m;
      return Array.from({ length: m }, (_, i) => (score(x, i * d) > 0 ? 1 : 0));
    };
    const x = midImages(2, d, 6);
    const labels = [0, 1].map((i) => (score(x, i * d) > 0 ? 1 : 0));
    const exact = [0, 1].map((i) => Math.abs(score(x, i * d)) / wn);
    const out = await hopSkipJumpL2(predict, x, 2, d, labels, { maxQueries: 3000, steps: undefined, seed: 1 });
    expect(out.found).toEqual([true, true]);
    // Default 64 steps would need far more than 3000 queries: the budget stops it.
    expect(Math.max(...out.queries)).toBeLessThanOrEqual(3000);
    expect(Math.max(...out.queries)).toBeGreaterThan(2000);
    expect(calls).toBe(out.queries[0] + out.queries[1]);
    for (let i = 0; i < 2; i++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += (out.adv[i * d + p] - x[i * d + p]) ** 2;
      expect(Math.sqrt(s)).toBeGreaterThanOrEqual(exact[i] - 1e-6);
      expect(Math.sqrt(s)).toBeLessThan(exact[i] * 1.1);
    }
  });

  it('pgd without eps attacks at DEFAULT_PGD_EPS; an unknown attack is refused', async () => {
    const { bytes } = orthonormalLinearModel(4, 4, 3, 1);
    const r = await attack(bytes, 2, [1, 4, 4], { attack: 'pgd' });
    expect(r.params.eps).toBeCloseTo(DEFAULT_PGD_EPS, 12);
    await expect(attack(bytes, 2, [1, 4, 4], { attack: 'nope' as 'cw' })).rejects.toThrow(/'attack' must be one of cw, pgd/);
  });
});
