/**
 * Where an attack finds nothing, `runAttack` reports how far it got: the
 * distance of the point closest to the boundary and the onnxruntime margin
 * left there (`AttackImageResult.closest`).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { uniformArray } from '@lip/test-support';
import { orthonormalLinearModel } from '@lip/test-support/onnx';
import { readOnnxModel } from '../onnx/read';
import { openSession } from '../session';
import { argmaxRows } from './common';
import { runAttack } from './run';

describe('runAttack where no adversarial is found', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('keeps the closest point reached: pgd on a linear model reaches its radius with the margin it could not close', async () => {
    // Orthonormal rows: the boundary with class j is (z_y - z_j) / sqrt(2) away, and a step of length r
    // lowers the margin z_y - max_j z_j by at most sqrt(2) r.
    const { bytes } = orthonormalLinearModel(6, 6, 10, 11);
    const model = readOnnxModel(bytes);
    const session = await openSession(model);
    try {
      const n = 6;
      const d = 36;
      const images = Float32Array.from(uniformArray(n * d, 5), (v) => 0.5 + 0.15 * v);
      const z = await session.runBatched(images, n, [1, 6, 6]);
      const preds = argmaxRows(z, n, 10);
      const margins = preds.map((y, i) => z[i * 10 + y] - Math.max(...Array.from(z.subarray(i * 10, i * 10 + 10)).filter((_, j) => j !== y)));
      const eps = (0.5 * Math.min(...margins)) / Math.SQRT2;
      const r = await runAttack(
        model,
        session,
        images,
        preds,
        Array.from({ length: n }, (_, i) => i),
        [1, 6, 6],
        { attack: 'pgd', eps },
      );
      expect(r.notFound).toBe(n);
      r.results.forEach((res, i) => {
        expect(res.outcome).toBe('none');
        expect(res.distance).toBeNull();
        expect(res.closest).not.toBeNull();
        expect(res.closest!.distance).toBeLessThanOrEqual(eps * (1 + 1e-6));
        expect(res.closest!.distance).toBeGreaterThan(eps * 0.99);
        expect(res.closest!.margin).toBeGreaterThanOrEqual(margins[i] - Math.SQRT2 * eps - 1e-5);
        expect(res.closest!.margin).toBeLessThan(margins[i] - Math.SQRT2 * eps * 0.9);
      });
      // The adversarials array still holds the originals where nothing was found.
      expect(Array.from(r.adversarials)).toEqual(Array.from(images));

      const found = await runAttack(
        model,
        session,
        images,
        preds,
        Array.from({ length: n }, (_, i) => i),
        [1, 6, 6],
        { attack: 'fmn' },
      );
      expect(found.found).toBe(n);
      for (const res of found.results) expect(res.closest).toBeNull();
    } finally {
      await session.close();
    }
  });
});
