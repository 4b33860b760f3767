/**
 * Attacks split over worker_threads give the results of one thread. The
 * workers run the compiled dist/attacks/attack_worker.js: build first
 * (`npx tsc -b`).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { randomImages } from '@lip/test-support';
import { honestConvModel, referenceConvModel } from '@lip/test-support/onnx';
import { readOnnxModel } from '../onnx/read';
import { openSession } from '../session';
import { translateOnnx } from '../translate/translate';
import { AttackProgress } from './common';
import { cwL2 } from './cw';
import { AttackRunOptions, AttackRunResult, runAttack } from './run';

async function run(bytes: Uint8Array, images: Float32Array, n: number, chw: [number, number, number], opts: AttackRunOptions): Promise<AttackRunResult> {
  const model = readOnnxModel(bytes);
  const session = await openSession(model);
  try {
    return await runAttack(
      model,
      session,
      images,
      new Array<number>(n).fill(0),
      Array.from({ length: n }, (_, i) => i),
      chw,
      opts,
    );
  } finally {
    await session.close();
  }
}

/** Everything but the timing. */
function comparable(r: AttackRunResult): unknown {
  const { seconds: _s, workers: _w, adversarials, ...rest } = r;
  return { ...rest, adversarials: Array.from(adversarials) };
}

describe('attacks over worker_threads', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('cw: 2 and 3 workers give bit-identical results to 1 thread, abort early deciding on the whole batch', async () => {
    const bytes = honestConvModel(2, 'default');
    const n = 6;
    const chw: [number, number, number] = [1, 6, 6];
    const images = randomImages(n, chw, 3);
    const opts: AttackRunOptions = { attack: 'cw', binarySearchSteps: 4, steps: 300 };
    const one = await run(bytes, images, n, chw, opts);
    expect(one.workers).toBe(1);
    // Abort early fired.
    expect(one.gradientSteps!).toBeLessThan(4 * 300);

    // The coupling is real here: each half attacked on its own (its own abort-early loss) stops at other steps.
    const f = translateOnnx(readOnnxModel(bytes));
    try {
      const preds = one.results.map((r) => r.pred);
      const d = 36;
      const halves = [
        [0, 3],
        [3, 6],
      ].map(([a, b]) => cwL2(f, images.slice(a * d, b * d), [b - a, ...chw], preds.slice(a, b), { binarySearchSteps: 4, steps: 300, bounds: [0, 1] }));
      expect(halves.map((h) => h.gradientSteps)).not.toEqual([one.gradientSteps, one.gradientSteps]);
    } finally {
      f.dispose();
    }

    for (const workers of [2, 3]) {
      const split = await run(bytes, images, n, chw, { ...opts, workers });
      expect(split.workers).toBe(workers);
      expect(comparable(split)).toEqual(comparable(one));
    }
  });

  it('cw on the reference network shape (28x28, two conv blocks): 2 workers give bit-identical results', async () => {
    const bytes = referenceConvModel(3, 'portable');
    const n = 7;
    const images = randomImages(n, [1, 28, 28], 11);
    const opts: AttackRunOptions = { attack: 'cw', binarySearchSteps: 3, steps: 60 };
    const one = await run(bytes, images, n, [1, 28, 28], opts);
    const split = await run(bytes, images, n, [1, 28, 28], { ...opts, workers: 2 });
    expect(comparable(split)).toEqual(comparable(one));
  });

  it.each([
    ['pgd', { eps: 0.8, steps: 12, seed: 5 }],
    ['deepfool', { steps: 20 }],
    ['fmn', { steps: 25 }],
  ] as const)('%s: 2 workers give bit-identical results to 1 thread', async (attack, extra) => {
    const bytes = referenceConvModel(1, 'default');
    const n = 6;
    const images = randomImages(n, [1, 28, 28], 9);
    const opts: AttackRunOptions = { attack, ...extra };
    const one = await run(bytes, images, n, [1, 28, 28], opts);
    const split = await run(bytes, images, n, [1, 28, 28], { ...opts, workers: 2 });
    expect(split.workers).toBe(2);
    expect(comparable(split)).toEqual(comparable(one));
  });

  it('cw reports progress within binary-search steps, in one thread and through workers', async () => {
    const bytes = honestConvModel(5, 'portable');
    const n = 4;
    const images = randomImages(n, [1, 6, 6], 2);
    for (const workers of [1, 2]) {
      const seen: AttackProgress[] = [];
      await run(bytes, images, n, [1, 6, 6], { attack: 'cw', binarySearchSteps: 3, steps: 400, workers, onProgress: (p) => seen.push(p) });
      const milestones = seen.filter((p) => !p.detail);
      expect(milestones.map((p) => `${p.phase} ${p.done}/${p.total}`)).toEqual(['binary search step 1/3', 'binary search step 2/3', 'binary search step 3/3']);
      const ticks = seen.filter((p) => p.detail);
      // Throttled to every 1% of the 1200 Adam steps (or 200 ms): more than one per binary-search step.
      expect(ticks.length).toBeGreaterThan(6);
      expect(ticks.every((p) => p.total === 1200 && /^binary search step [123]\/3$/.test(p.phase))).toBe(true);
      const done = ticks.map((p) => p.done);
      expect(done).toEqual([...done].sort((a, b) => a - b));
      expect(done[done.length - 1]).toBe(1200);
    }
  });

  it('cw in one thread: batchLoss sees every image loss at each abort-early check, in image order', () => {
    const model = readOnnxModel(honestConvModel(1, 'default'));
    const f = translateOnnx(model);
    try {
      const n = 3;
      const images = randomImages(n, [1, 6, 6], 7);
      const seen: number[][] = [];
      const withHook = cwL2(f, images, [n, 1, 6, 6], [0, 0, 0], {
        binarySearchSteps: 2,
        steps: 50,
        batchLoss: (l) => {
          seen.push(Array.from(l));
          return l.reduce((a, b) => a + b, 0);
        },
      });
      const plain = cwL2(f, images, [n, 1, 6, 6], [0, 0, 0], { binarySearchSteps: 2, steps: 50 });
      expect(Array.from(withHook.adv)).toEqual(Array.from(plain.adv));
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((l) => l.length === n && l.every((v) => v >= 0))).toBe(true);
    } finally {
      f.dispose();
    }
  });
});
