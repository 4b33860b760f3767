/**
 * End to end on a model trained here: `train()` on real Fashion-MNIST (the
 * `seed` network, wasm backend), then `lip export` in both profiles,
 * onnxruntime against tfjs on the whole test set, the ONNX checker,
 * onnxruntime-web, `lip verify`, `lip bound` and `lip attack` (issues 3 and 4,
 * "Done when").
 * The last block shows that the checks can fail: the same graph with every
 * Conv/Gemm weight multiplied by 4 still claims L = 1, and `lip attack` and
 * `lip bound` say it is not so.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as L from '@lip/train';
import * as LN from '@lip/train/node';
import { exportCheckpoint } from '@lip/export';
import { onePerClass } from '@lip/train';
import { openSession, readOnnxModel } from '@lip/verify';
import { multiclassCertificate, runAttack } from '@lip/verify/attacks';
import { maxAbsDiff, tmpDirPerSuite } from '@lip/test-support';
import { expectLipOk, lip } from '@lip/test-support/cli';
import { FASHION_DIR, haveFashionMnist } from '@lip/test-support/data';
import { onnxFullCheck, onnxMetadata, pythonWithOnnx, scaleLinearWeights } from '@lip/test-support/onnx';
import { argmax, ortLogits, predictOrtWeb } from '@lip/test-support/ort';

/** The small training run shared by every test: about 30 s of wasm on one core. */
const TRAIN = { arch: 'seed', limit: 3000, epochs: 2, batchSize: 128, lr: 5e-3, seed: 7, backend: 'wasm' as const, workers: 1 };
/**
 * Reduced CW for CI: the reference's 6 binary-search steps (c from 1e-3 up to
 * 100; with 2, c never leaves 1e-2 and nothing is found), 200 steps each
 * instead of 8000.
 */
const CW_BINARY_STEPS = 6;
const CW_STEPS = 200;
const CW_ARGS = ['--attack', 'cw', '--one-per-class', '--binary-search-steps', String(CW_BINARY_STEPS), '--steps', String(CW_STEPS)];
const TOL = 1e-5;
/** Weight factor of the cheating model: 4 linear layers, so its true constant is about 4^4 times the honest one. */
const CHEAT = 4;

const describeData = haveFashionMnist() ? describe : describe.skip;
if (!haveFashionMnist()) {
  console.warn(`e2e skipped: the Fashion-MNIST IDX files are neither in ${FASHION_DIR} nor in $LIP_DATA_DIR`);
}

describeData('the seed network, trained, exported and verified', () => {
  const work = tmpDirPerSuite('e2e');
  let ckpt: string;
  const onnxFile = { default: '', portable: '' };
  let test: L.Dataset;
  /** The tfjs reference: the checkpoint with its weights normalized to convergence (what the export writes). */
  let twinLogits: Float32Array;
  /** The checkpoint as trained (its own training-time kernels). */
  let ownLogits: Float32Array;
  const ortByProfile: Record<string, Float32Array> = {};

  beforeAll(async () => {
    ckpt = work.path('checkpoint');
    const result = await LN.train({ ...TRAIN, outDir: ckpt, dataDir: FASHION_DIR });
    result.model.dispose();
    expect(result.trainState.epochs).toHaveLength(TRAIN.epochs);

    test = await LN.loadDataset('fashion-mnist', 'test', { dataDir: FASHION_DIR });
    const { model } = await LN.loadCheckpoint(ckpt);
    const twin = model.vanillaExport({ converge: true });
    twinLogits = new Float32Array(test.n * 10);
    ownLogits = new Float32Array(test.n * 10);
    const batch = 1000;
    for (let start = 0; start < test.n; start += batch) {
      const m = Math.min(batch, test.n - start);
      tf.tidy(() => {
        const x = tf.tensor4d(test.images.subarray(start * 784, (start + m) * 784), [m, 28, 28, 1]);
        twinLogits.set((twin.predict(x) as tf.Tensor).dataSync(), start * 10);
        ownLogits.set((model.predict(x) as tf.Tensor).dataSync(), start * 10);
      });
    }
    twin.dispose();
    model.dispose();
  }, 600_000);

  describe('issue 3: export', () => {
    it('lip export writes both profiles; the library writes the same bytes', async () => {
      for (const profile of ['default', 'portable'] as const) {
        const file = work.path(`seed-${profile}.onnx`);
        const r = await lip('export', ckpt, '-o', file, ...(profile === 'portable' ? ['--portable'] : []));
        expectLipOk(r);
        expect(r.out).toMatch(new RegExp(`wrote .*seed-${profile}\\.onnx \\(\\d+ bytes, ${profile} profile, Lipschitz constant 1\\)`));
        onnxFile[profile] = file;
        const meta = onnxMetadata(fs.readFileSync(file));
        expect(meta.profile).toBe(profile);
        expect(meta.architecture).toBe('seed');
        expect(Number(meta.lipschitz_constant)).toBeCloseTo(1, 12);
        expect(JSON.parse(meta.class_names)).toEqual([...L.FASHION_MNIST_CLASS_NAMES]);
        expect(JSON.parse(meta.input_range)).toEqual([0, 1]);

        const viaLibrary = work.path(`library-${profile}.onnx`);
        const result = await exportCheckpoint(ckpt, viaLibrary, { portable: profile === 'portable' });
        expect(result.bytes).toBe(fs.statSync(file).size);
        expect(Buffer.compare(fs.readFileSync(viaLibrary), fs.readFileSync(file))).toBe(0);
      }
      // The portable profile leaves out what WebGL/WebGPU lack.
      const ops = (f: string): string[] => readOnnxModel(f).nodes.map((n) => n.opType);
      expect(ops(onnxFile.default)).toEqual(expect.arrayContaining(['Conv', 'Gemm']));
      for (const op of ['Max', 'Min', 'TopK', 'LpPool']) expect(ops(onnxFile.portable)).not.toContain(op);
    });

    it.each(['default', 'portable'] as const)('onnxruntime-node matches tfjs within 1e-5 on the 10,000 test images (%s profile)', async (profile) => {
      expect(onnxFile[profile]).not.toBe('');
      const got = await ortLogits(onnxFile[profile], test.images, test.n, 28, 28);
      ortByProfile[profile] = got;
      expect(got.length).toBe(test.n * 10);
      expect(maxAbsDiff(got, twinLogits)).toBeLessThanOrEqual(TOL);
      // The model as trained makes the same decisions (its kernels are a few Björck steps from converged).
      const own = argmax(ownLogits, test.n);
      const same = argmax(got, test.n).filter((p, i) => p === own[i]).length;
      expect(same / test.n).toBeGreaterThanOrEqual(0.999);
    });

    it.each(['default', 'portable'] as const)('onnxruntime-web (wasm, under Node) gives the same logits within 1e-5 (%s profile)', (profile) => {
      // The first 2,000 test images (the whole set takes 5 times longer and says the same).
      const n = 2000;
      // One channel: NHWC and NCHW hold the same bytes.
      const got = predictOrtWeb(fs.readFileSync(onnxFile[profile]), test.images.subarray(0, n * 784), [n, 1, 28, 28]);
      expect(maxAbsDiff(got, twinLogits.subarray(0, n * 10))).toBeLessThanOrEqual(TOL);
    });

    it('passes the ONNX checker with full_check (both profiles)', () => {
      const python = pythonWithOnnx();
      if (!python) {
        console.warn('ONNX checker skipped: no python3 with the onnx module (apt install python3-onnx)');
        return;
      }
      for (const file of [onnxFile.default, onnxFile.portable]) expect(onnxFullCheck(python, file)).toBe('');
    });
  });

  describe('issue 4: verify, bound and attacks on the honest model', () => {
    it('lip verify prints the table and writes the JSON; its accuracy is the one onnxruntime gives', async () => {
      const json = work.path('verify.json');
      const report = work.path('report');
      const r = await lip('verify', onnxFile.default, '--json', json, '--report', report);
      expectLipOk(r);
      for (const row of ['accuracy', 'mean certificate', 'CRA eps=36/255 = 0.1412', 'CRA eps=1.0', 'Lipschitz used', 'Lipschitz bound']) {
        expect(r.out).toContain(row);
      }
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(j.n).toBe(10_000);
      const labels = test.labels;
      const preds = argmax(ortByProfile.default ?? (await ortLogits(onnxFile.default, test.images, test.n, 28, 28)), test.n);
      const accuracy = preds.filter((p, i) => p === labels[i]).length / test.n;
      expect(j.accuracy).toBeCloseTo(accuracy, 10);
      expect(j.accuracy).toBeGreaterThan(0.6);
      expect(j.cra.map((p: { label: string }) => p.label)).toEqual(['36/255', '72/255', '108/255', '0.25', '0.5', '1.0']);
      const byEps = [...j.cra].sort((a: { eps: number }, b: { eps: number }) => a.eps - b.eps);
      for (let i = 1; i < byEps.length; i++) expect(byEps[i].value).toBeLessThanOrEqual(byEps[i - 1].value);
      expect(j.cra[0].value).toBeGreaterThan(0);
      expect(j.cra[0].value).toBeLessThanOrEqual(j.accuracy);
      expect(j.lipschitzClaimed).toBe(1);
      expect(j.lipschitzSource).toBe('metadata');
      expect(j.lipschitzBound).toBeLessThanOrEqual(1 + 1e-6);
      expect(j.warnings).toEqual([]);
      expect(fs.existsSync(path.join(report, 'index.html'))).toBe(true);
    });

    it('lip bound: at most the claimed 1, consistent with the metadata', async () => {
      const json = work.path('bound.json');
      const r = await lip('bound', onnxFile.default, '--json', json);
      expectLipOk(r);
      expect(r.out).toMatch(/consistent \(bound <= claim\)/);
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(j.total).toBeGreaterThan(0.5);
      expect(j.total).toBeLessThanOrEqual(1 + 1e-6);
      expect(j.consistent).toBe(true);
      // Two convs and two dense layers, each at most 1 (up to the bound's own 1e-6 rounding margin).
      const linear = j.layers.filter((l: { op: string }) => l.op === 'Conv' || l.op === 'Gemm');
      expect(linear).toHaveLength(4);
      for (const l of linear) expect(l.factor).toBeLessThanOrEqual(1 + 1e-5);
    });

    it('lip attack --attack cw --one-per-class: no violation, and every adversarial changes the class in onnxruntime', async () => {
      const json = work.path('cw.json');
      const r = await lip('attack', onnxFile.default, ...CW_ARGS, '--json', json);
      expectLipOk(r);
      expect(r.out).toMatch(/^Image # +Certificate +Distance to adversarial$/m);
      expect(r.out).toMatch(/0 certificate violations/);
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(j.violations).toBe(0);
      expect(j.results).toHaveLength(10);
      expect(j.translationMaxDiff).toBeLessThanOrEqual(TOL);
      const indices = onePerClass(test.labels);
      expect(j.results.map((x: { index: number }) => x.index)).toEqual(indices);
      expect(j.found).toBeGreaterThanOrEqual(5);

      // The same run through the library, its adversarials re-run in a session of our own.
      const model = readOnnxModel(onnxFile.default);
      const images = new Float32Array(10 * 784);
      indices.forEach((idx, i) => images.set(test.images.subarray(idx * 784, (idx + 1) * 784), i * 784));
      const session = await openSession(model);
      const lib = await runAttack(
        model,
        session,
        images,
        indices.map((i) => test.labels[i]),
        indices,
        [1, 28, 28],
        { attack: 'cw', binarySearchSteps: CW_BINARY_STEPS, steps: CW_STEPS },
      );
      await session.close();
      const advLogits = await ortLogits(onnxFile.default, lib.adversarials, 10, 28, 28);
      const origLogits = await ortLogits(onnxFile.default, images, 10, 28, 28);
      const advPred = argmax(advLogits, 10);
      const pred = argmax(origLogits, 10);
      lib.results.forEach((res, i) => {
        expect(res.distance).toBe(j.results[i].distance);
        if (!res.found) return;
        expect(advPred[i]).not.toBe(pred[i]);
        expect(advPred[i]).toBe(res.advPred);
        let d2 = 0;
        for (let p = 0; p < 784; p++) d2 += (lib.adversarials[i * 784 + p] - images[i * 784 + p]) ** 2;
        expect(Math.sqrt(d2)).toBeCloseTo(res.distance!, 4);
        expect(Math.sqrt(d2)).toBeGreaterThanOrEqual(res.certificate - TOL);
        for (let p = 0; p < 784; p++) {
          expect(lib.adversarials[i * 784 + p]).toBeGreaterThanOrEqual(0);
          expect(lib.adversarials[i * 784 + p]).toBeLessThanOrEqual(1);
        }
      });
    });

    it.each([
      ['pgd', ['--eps', '1.0', '--steps', '20']],
      ['deepfool', ['--steps', '20']],
      ['fmn', ['--steps', '50']],
    ])('lip attack --attack %s on 200 test images: no violation', async (attack, extra) => {
      const json = work.path(`${attack}.json`);
      const r = await lip('attack', onnxFile.default, '--attack', attack, '--n', '200', ...extra, '--json', json);
      expectLipOk(r);
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(j.results).toHaveLength(200);
      expect(j.violations).toBe(0);
      expect(j.found).toBeGreaterThan(0);
      for (const x of j.results) {
        if (x.found) {
          expect(x.advPred).not.toBe(x.pred);
          expect(x.distance).toBeGreaterThanOrEqual(x.certificate - TOL);
        }
      }
    });
  });

  describe('issue 4: the check can fail (weights x4, metadata still L = 1)', () => {
    let cheat: string;

    beforeAll(() => {
      const { bytes, scaled } = scaleLinearWeights(fs.readFileSync(onnxFile.default), CHEAT);
      expect(scaled).toHaveLength(4);
      expect(onnxMetadata(bytes).lipschitz_constant).toBe('1');
      cheat = work.path('cheat.onnx');
      fs.writeFileSync(cheat, bytes);
    });

    it('lip attack checks the certificates lip verify prints: the bound replaces the false claim, so nothing is violated', async () => {
      const json = work.path('cheat-deepfool.json');
      const r = await lip('attack', cheat, '--attack', 'deepfool', '--one-per-class', '--json', json);
      expectLipOk(r);
      expect(r.err).toMatch(/warning: WARNING: the model claims L = 1 but the weights give a certified bound/);
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(j.lipschitzSource).toBe('bound');
      expect(j.lipschitz).toBeGreaterThan(100);
      expect(j.violations).toBe(0);
    });

    it('the false claim itself is exposed: certificates made with L = 1 are violated', async () => {
      // DeepFool: the cheapest attack that finds them (CW finds them too, in 10 times the time).
      const model = readOnnxModel(cheat);
      const indices = onePerClass(test.labels);
      const images = new Float32Array(10 * 784);
      indices.forEach((idx, i) => images.set(test.images.subarray(idx * 784, (idx + 1) * 784), i * 784));
      const session = await openSession(model);
      const r = await runAttack(
        model,
        session,
        images,
        indices.map((i) => test.labels[i]),
        indices,
        [1, 28, 28],
        { attack: 'deepfool', certificate: multiclassCertificate(1) },
      );
      await session.close();
      expect(r.violations).toBeGreaterThan(0);
      for (const x of r.results.filter((y) => y.violated)) {
        expect(x.found).toBe(true);
        expect(x.advPred).not.toBe(x.pred);
        expect(x.distance!).toBeLessThan(x.certificate - TOL);
      }
    });

    it('lip bound reports the real bound, 4^4 times the honest one, and flags the claim', async () => {
      const json = work.path('cheat-bound.json');
      const r = await lip('bound', cheat, '--json', json);
      expectLipOk(r);
      expect(r.out).toMatch(/WARNING: metadata lipschitz_constant = 1 is BELOW the certified bound/);
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      const honest = JSON.parse(fs.readFileSync(work.path('bound.json'), 'utf8')).total;
      expect(j.consistent).toBe(false);
      expect(j.total / honest).toBeCloseTo(CHEAT ** 4, 3);
    });

    it('lip verify does not certify with the claim: it warns and uses the bound', async () => {
      const json = work.path('cheat-verify.json');
      const r = await lip('verify', cheat, '--n', '500', '--json', json);
      expectLipOk(r);
      expect(r.err).toMatch(/warning: /);
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(j.lipschitzSource).toBe('bound');
      expect(j.lipschitzUsed).toBeGreaterThan(100);
    });
  });
});
