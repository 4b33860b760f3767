/**
 * (b) A certificate never exceeds the distance to an adversarial example
 * found by pgd, deepfool or fmn (small step counts), on random small
 * networks of every layer kind. Checked for the certificate `lip verify`
 * prints and `lip attack` checks (head-aware when the bound finds a linear
 * head, with the Lipschitz constant `chooseLipschitz` picks) and for the plain
 * multiclass one with the claimed constant. A deliberately false claim
 * (L / 10) must be caught, so the check is not vacuous.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import fc from 'fast-check';
import { certify, chooseLipschitz, openSession, readOnnxModel } from '@lip/verify';
import { AttackName, CertificateFn, VIOLATION_TOLERANCE, chosenCertificate, runAttack } from '@lip/verify/attacks';
import { uniformArray } from '@lip/test-support';
import { randomLipModel, RECIPES } from '@lip/test-support/models';

const MODELS_PER_RECIPE = Number(process.env.LIP_SOUNDNESS_RUNS ?? 2);
const IMAGES = 6;
const CANDIDATES = 200;
const ATTACKS: { attack: AttackName; steps: number }[] = [
  // pgd searches a ball just above the largest certificate (eps set per model below).
  { attack: 'pgd', steps: 15 },
  { attack: 'deepfool', steps: 20 },
  { attack: 'fmn', steps: 20 },
];

const stats = { models: 0, attacked: 0, found: 0, tightest: Infinity, caughtFalseClaims: 0 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(() => {
  process.stdout.write(`soundness (certificates vs attacks): ${JSON.stringify(stats)}\n`);
});

describe.each(Object.keys(RECIPES))('%s', (recipe) => {
  it(`no adversarial found by ${ATTACKS.map((a) => a.attack).join('/')} is closer than its certificate (${MODELS_PER_RECIPE} random models)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
        const m = randomLipModel(recipe, seed);
        stats.models++;
        const model = readOnnxModel(m.bytes);
        const session = await openSession(model);
        const d = m.chw[0] * m.chw[1] * m.chw[2];
        // The images closest to a decision boundary (smallest top-2 margin) of 200 random ones: attacks reach them within a few steps.
        const pool = uniformArray(CANDIDATES * d, seed, 0, 1);
        const poolLogits = await session.runBatched(pool, CANDIDATES, m.chw);
        const margin = (i: number): number => {
          const row = Array.from(poolLogits.subarray(i * m.classes, (i + 1) * m.classes)).sort((a, b) => b - a);
          return row[0] - row[1];
        };
        const chosen = Array.from({ length: CANDIDATES }, (_, i) => i)
          .sort((a, b) => margin(a) - margin(b))
          .slice(0, IMAGES);
        const images = new Float32Array(IMAGES * d);
        chosen.forEach((c, i) => images.set(pool.subarray(c * d, (c + 1) * d), i * d));
        const labels = new Array<number>(IMAGES).fill(0);
        const indices = Array.from({ length: IMAGES }, (_, i) => i);
        // What lip verify prints and lip attack checks: the claim, never below the bound, head-aware when possible.
        const verifyCertificate: CertificateFn = chosenCertificate(model, chooseLipschitz(model));
        // The plain multiclass certificate with the claimed constant (and a tenth of it, a false claim).
        const logits = await session.runBatched(images, IMAGES, m.chw);
        const multiclass = certify(logits, m.classes, { lipschitz: m.claimed }).certificates;
        const falseClaim = certify(logits, m.classes, { lipschitz: m.claimed / 10 }).certificates;
        const verified = Array.from(verifyCertificate(logits, IMAGES, m.classes).values);
        const eps = Math.max(0.05, 1.5 * Math.max(...multiclass, ...verified));
        let caught = false;
        try {
          for (const a of ATTACKS) {
            const r = await runAttack(model, session, images, labels, indices, m.chw, {
              attack: a.attack,
              steps: a.steps,
              eps: a.attack === 'pgd' ? eps : undefined,
              seed: seed % 1000,
              certificate: verifyCertificate,
            });
            expect(r.violations).toBe(0);
            r.results.forEach((x, i) => {
              stats.attacked++;
              if (x.distance === null) return;
              stats.found++;
              const cert = Math.max(x.certificate, multiclass[i]);
              stats.tightest = Math.min(stats.tightest, x.distance / Math.max(cert, 1e-12));
              if (x.distance < cert - VIOLATION_TOLERANCE) {
                throw new Error(
                  `seed ${seed} (${a.attack}): image ${i} has an adversarial at ${x.distance} but certificates ` +
                    `${x.certificate} (verify) and ${multiclass[i]} (multiclass)`,
                );
              }
              if (x.distance < falseClaim[i] - VIOLATION_TOLERANCE) caught = true;
            });
          }
          if (caught) stats.caughtFalseClaims++;
        } finally {
          await session.close();
          m.model.dispose();
        }
      }),
      { numRuns: MODELS_PER_RECIPE, seed: Number(process.env.LIP_FUZZ_SEED ?? 7) },
    );
  });
});

it('the attacks found adversarials, and false claims were caught', () => {
  expect(stats.found).toBeGreaterThan(stats.attacked / 4);
  // A tenth of the claim is exposed on many models.
  expect(stats.caughtFalseClaims).toBeGreaterThan(stats.models / 3);
});
