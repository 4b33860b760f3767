/**
 * Soundness of the Lipschitz claims on random small networks of every layer
 * kind, exported to ONNX and run in onnxruntime:
 *  (a) ||f(x) - f(y)|| <= L ||x - y|| + 1e-5 for the claimed L, on random
 *      pairs, close pairs, and pairs along the direction of largest local
 *      stretch (top singular vector of the Jacobian, from tfjs gradients of
 *      the translated graph);
 *  (c) lipschitzBound(model) is never below the empirical largest Jacobian
 *      norm, nor below any difference quotient measured in (a).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import fc from 'fast-check';
import { lipschitzBound, openSession, readOnnxModel } from '@lip/verify';
import { translateOnnx } from '@lip/verify/attacks';
import { uniformArray } from '@lip/test-support';
import { jacobianNorms } from '@lip/test-support/measure';
import { LAYER_KINDS, LayerKind, randomLipModel, RECIPES } from '@lip/test-support/models';

/** Models per recipe (five recipes). */
const MODELS_PER_RECIPE = Number(process.env.LIP_SOUNDNESS_RUNS ?? 5);
const PAIRS = 64;
const GRADIENT_POINTS = 6;
/** Allowance for float32 logits (see docs/guarantees.md). */
const TOL = 1e-5;

const covered = new Set<LayerKind>();
const stats = { models: 0, pairs: 0, gradientPairs: 0, worstRatioToClaim: 0, worstRatioToBound: 0, worstGradientToBound: 0 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(() => {
  process.stdout.write(`soundness (Lipschitz): ${JSON.stringify(stats)}\n`);
});

function l2(a: ArrayLike<number>, b: ArrayLike<number>, from: number, len: number, from2 = from): number {
  let s = 0;
  for (let i = 0; i < len; i++) s += (a[from + i] - b[from2 + i]) ** 2;
  return Math.sqrt(s);
}

describe.each(Object.keys(RECIPES))('%s', (recipe) => {
  it(`f(x) - f(y) stays within L |x - y| and the bound is above every measured slope (${MODELS_PER_RECIPE} random models)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
        const m = randomLipModel(recipe, seed);
        m.kinds.forEach((k) => covered.add(k));
        stats.models++;
        const onnxModel = readOnnxModel(m.bytes);
        const bound = lipschitzBound(onnxModel).total;
        const session = await openSession(onnxModel);
        const translated = translateOnnx(onnxModel);
        const [c, h, w] = m.chw;
        const d = c * h * w;
        try {
          // (a) random pairs: independent points, and close pairs y = x + small noise.
          const xs = uniformArray(PAIRS * d, seed, 0, 1);
          const ys = uniformArray(PAIRS * d, seed + 1, 0, 1);
          for (let i = PAIRS / 2; i < PAIRS; i++) {
            const scale = 10 ** -(1 + (i % 4));
            for (let p = 0; p < d; p++) ys[i * d + p] = Math.min(1, Math.max(0, xs[i * d + p] + scale * (ys[i * d + p] - 0.5)));
          }
          const fx = await session.runBatched(xs, PAIRS, m.chw);
          const fy = await session.runBatched(ys, PAIRS, m.chw);
          const k = m.classes;
          for (let i = 0; i < PAIRS; i++) {
            const dx = l2(xs, ys, i * d, d);
            const df = l2(fx, fy, i * k, k);
            if (!(df <= m.claimed * dx + TOL)) throw new Error(`seed ${seed} pair ${i}: |f(x)-f(y)| = ${df} > L |x-y| + ${TOL} = ${m.claimed * dx + TOL}`);
            if (dx > 1e-2) {
              stats.worstRatioToClaim = Math.max(stats.worstRatioToClaim, df / dx / m.claimed);
              stats.worstRatioToBound = Math.max(stats.worstRatioToBound, df / dx / bound);
              // (c) a sound bound is above every difference quotient.
              if (!(df / dx <= bound * (1 + 1e-6) + TOL / dx)) throw new Error(`seed ${seed}: slope ${df / dx} above the bound ${bound}`);
            }
            stats.pairs++;
          }

          // Along the direction of largest stretch at interior points (kept inside the input range [0, 1]).
          const centers = uniformArray(GRADIENT_POINTS * d, seed + 2, 0.25, 0.75);
          const { norms, directions } = jacobianNorms(translated, centers, GRADIENT_POINTS, m.chw, k);
          for (let i = 0; i < GRADIENT_POINTS; i++) {
            stats.worstGradientToBound = Math.max(stats.worstGradientToBound, norms[i] / bound);
            // (c) the bound is never below the local Jacobian norm (the slope at x along v).
            if (!(norms[i] <= bound * (1 + 1e-5))) throw new Error(`seed ${seed}: Jacobian norm ${norms[i]} above the bound ${bound}`);
            if (!(norms[i] <= m.claimed * (1 + 1e-5))) throw new Error(`seed ${seed}: Jacobian norm ${norms[i]} above the claim ${m.claimed}`);
            const steps = [1e-3, 3e-2, 0.2];
            const along = new Float32Array(steps.length * 2 * d);
            steps.forEach((t, s) => {
              for (let p = 0; p < d; p++) {
                along[2 * s * d + p] = centers[i * d + p] + t * directions[i][p];
                along[(2 * s + 1) * d + p] = centers[i * d + p] - t * directions[i][p];
              }
            });
            const f0 = await session.runBatched(centers.slice(i * d, (i + 1) * d), 1, m.chw);
            const fa = await session.runBatched(along, 2 * steps.length, m.chw);
            for (let j = 0; j < 2 * steps.length; j++) {
              const dx = l2(along, centers, j * d, d, i * d);
              const df = l2(fa, f0, j * k, k, 0);
              if (!(df <= m.claimed * dx + TOL)) {
                throw new Error(`seed ${seed}: along the top singular vector, |f(x)-f(y)| = ${df} > L |x-y| + ${TOL} = ${m.claimed * dx + TOL}`);
              }
              stats.gradientPairs++;
            }
          }
        } finally {
          translated.dispose();
          await session.close();
          m.model.dispose();
        }
      }),
      { numRuns: MODELS_PER_RECIPE, seed: Number(process.env.LIP_FUZZ_SEED ?? 7) },
    );
  });
});

it('the recipes cover every Lipschitz layer kind', () => {
  expect([...covered].sort()).toEqual([...LAYER_KINDS].sort());
});
