import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { GraphBuilder } from '@lip/export';
import { DataError } from '@lip/train';
import { seededBytes, tmpDirPerSuite } from '@lip/test-support';
import { startMirror, writeIdxSplit } from '@lip/test-support/data';
import { gemmModel, productModel } from '@lip/test-support/onnx';
import { verifyModel } from './verify';
import { multiclassCertificates } from './certificates';

/** Flatten -> Gemm(784 -> 10) scaled so that ||W||_2 is about `scale`; metadata claims L = `claim` (none when null). */
const linearModel = (claim: string | null, scale: number): Uint8Array =>
  gemmModel({ maxWeight: 0.05 * scale, biasStep: 0, seed: 3, metadata: { lipschitz_constant: claim } });

describe('verifyModel', () => {
  const tmp = tmpDirPerSuite('verify');
  const dataDir = tmp.path('data');
  const n = 40;
  const pixels = seededBytes(n * 784, 11);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  beforeAll(() => {
    writeIdxSplit(dataDir, { n, images: pixels, labels });
  });

  it('matches accuracy, certificates and CRA computed by hand from onnxruntime logits', async () => {
    const bytes = linearModel('100', 1);
    const res = await verifyModel(bytes, { data: dataDir, eps: [0, 0.01, 0.1], batchSize: 16 });
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.from(pixels, (p) => p / 255);
    const out = await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
    await session.release();
    const logits = out.logits.data as Float32Array;
    const certs = multiclassCertificates(logits, 10, 100);
    let correct = 0;
    const preds: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < 10; j++) if (logits[i * 10 + j] > logits[i * 10 + best]) best = j;
      preds.push(best);
      if (best === labels[i]) correct++;
    }
    expect(res.n).toBe(n);
    expect(res.accuracy).toBeCloseTo(correct / n, 12);
    expect(res.lipschitzUsed).toBe(100);
    expect(res.lipschitzSource).toBe('metadata');
    expect(res.lipschitzClaimed).toBe(100);
    expect(res.lipschitzBound).toBeGreaterThan(0);
    expect(res.lipschitzBound).toBeLessThan(100);
    expect(res.certificateKind).toBe('head-aware');
    // Head-aware certificates are at least the multiclass ones with the claimed L.
    expect(res.meanCertificate).toBeGreaterThanOrEqual(certs.reduce((a, c) => a + c, 0) / n);
    for (const p of res.cra) {
      let count = 0;
      for (let i = 0; i < n; i++) if (preds[i] === labels[i] && res.details.certificates[i] > p.eps) count++;
      expect(p.value).toBeCloseTo(count / n, 12);
    }
    expect(res.cra[0].value).toBeLessThanOrEqual(res.accuracy);
    expect(res.warnings).toEqual([]);
  });

  it('certifies with the bound, loudly, when the metadata claims less', async () => {
    const res = await verifyModel(linearModel('1', 4), { data: dataDir, n: 10 });
    expect(res.lipschitzClaimed).toBe(1);
    expect(res.lipschitzBound).toBeGreaterThan(1);
    expect(res.lipschitzUsed).toBe(res.lipschitzBound);
    expect(res.lipschitzSource).toBe('bound');
    expect(res.warnings.some((w) => /claims L = 1 .*NOT guaranteed/.test(w))).toBe(true);
    expect(res.n).toBe(10);
  });

  it('uses the bound when the metadata has no claim, and --lipschitz overrides a claim', async () => {
    const noClaim = await verifyModel(linearModel(null, 1), { data: dataDir, n: 5 });
    expect(noClaim.lipschitzSource).toBe('bound');
    const over = await verifyModel(linearModel('1', 1), { data: dataDir, n: 5, lipschitz: 50 });
    expect(over.lipschitzSource).toBe('user');
    expect(over.lipschitzProven).toBe(true);
    expect(over.lipschitzUsed).toBe(50);
  });

  it('takes the head body bound L_body never below the metadata head_body_lipschitz (as @lip/runtime certifies)', async () => {
    const withBody = (body: string | null): Uint8Array => {
      const bytes = linearModel('100', 1);
      if (body === null) return bytes;
      const m = onnx.ModelProto.decode(bytes);
      m.metadataProps.push({ key: 'head_body_lipschitz', value: body });
      return onnx.ModelProto.encode(m).finish();
    };
    // The body of Flatten -> Gemm is a Flatten: its certified bound is 1.
    const bound = await verifyModel(withBody(null), { data: dataDir, n: 5 });
    expect(bound.certificateKind).toBe('head-aware');
    expect(bound.headBodyLipschitz).toBe(1);
    const above = await verifyModel(withBody('2'), { data: dataDir, n: 5 });
    expect(above.headBodyLipschitz).toBe(2);
    expect(above.details.certificates[0]).toBeLessThan(bound.details.certificates[0]);
    expect((await verifyModel(withBody('0.5'), { data: dataDir, n: 5 })).headBodyLipschitz).toBe(1);
    await expect(verifyModel(withBody('nan'), { data: dataDir, n: 5 })).rejects.toThrow(/metadata head_body_lipschitz must be a number > 0, got "nan"/);
  });

  it('where the graph has no certified bound: accuracy without certificates, or certificates from --lipschitz marked as a claim', async () => {
    const bytes = productModel(28, 28, 10, 4);
    const warnings: string[] = [];
    const none = await verifyModel(bytes, { data: dataDir, eps: [0.1], onWarning: (m) => warnings.push(m) });
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({
      input: new ort.Tensor(
        'float32',
        Float32Array.from(pixels, (p) => p / 255),
        [n, 1, 28, 28],
      ),
    });
    await session.release();
    const logits = out.logits.data as Float32Array;
    const preds = Array.from({ length: n }, (_, i) => {
      let best = 0;
      for (let j = 1; j < 10; j++) if (logits[i * 10 + j] > logits[i * 10 + best]) best = j;
      return best;
    });
    expect(none.accuracy).toBe(preds.filter((p, i) => p === labels[i]).length / n);
    expect(Array.from(none.details.predictions)).toEqual(preds);
    expect(none).toMatchObject({
      certified: false,
      lipschitzUsed: null,
      lipschitzSource: null,
      lipschitzProven: false,
      lipschitzBound: null,
      certificateKind: null,
      meanCertificate: null,
      medianCertificate: null,
      cra: [],
    });
    expect(none.details.certificates).toBeNull();
    expect(warnings).toEqual(none.warnings);
    expect(warnings.join('\n')).toMatch(/no certified Lipschitz bound .*pass --lipschitz L/);

    const claim = await verifyModel(bytes, { data: dataDir, eps: [0.1], lipschitz: 2 });
    expect(claim).toMatchObject({ certified: true, lipschitzUsed: 2, lipschitzSource: 'user', lipschitzProven: false, certificateKind: 'multiclass' });
    expect(Array.from(claim.details.certificates!)).toEqual(Array.from(multiclassCertificates(logits, 10, 2)));
  });

  it('refuses data whose shape does not match the model', async () => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('input', 'float32', ['N', 3, 32, 32]);
    const [f] = b.node('Flatten', ['input'], { axis: 1 });
    b.node('Gemm', [f, b.initializer('W', new Float32Array(3072 * 10), [3072, 10])], {}, { outputs: ['logits'] });
    b.output('logits', ['N', 10]);
    b.setMetadata('lipschitz_constant', '1');
    await expect(verifyModel(b.toBytes(), { data: dataDir })).rejects.toThrow(DataError);
    await expect(verifyModel(b.toBytes(), { data: dataDir })).rejects.toThrow(/expects inputs of shape \[N, 3, 32, 32\]/);
  });

  describe('with the bound on a worker thread (boundWorker)', () => {
    /** The result without what depends on timing. */
    const comparable = (r: Awaited<ReturnType<typeof verifyModel>>): unknown => {
      const { seconds: _s, imagesPerSecond: _i, details, ...rest } = r;
      return {
        ...rest,
        details: {
          ...details,
          labels: Array.from(details.labels),
          predictions: Array.from(details.predictions),
          certificates: details.certificates && Array.from(details.certificates),
        },
      };
    };

    it.each([
      ['a claim above the bound', (): Uint8Array => linearModel('100', 1), {}],
      ['a claim below the bound (warning)', (): Uint8Array => linearModel('1', 4), {}],
      ['no certified bound (warning, nothing certified)', (): Uint8Array => productModel(28, 28, 10, 4), {}],
      ['no certified bound, --lipschitz', (): Uint8Array => productModel(28, 28, 10, 4), { lipschitz: 2 }],
    ])('%s: the same result and warnings as in process', async (_label, model, extra) => {
      const run = async (boundWorker: boolean): Promise<{ result: unknown; warnings: string[] }> => {
        const warnings: string[] = [];
        const r = await verifyModel(model(), { data: dataDir, eps: [0.01, 0.1], boundWorker, onWarning: (m) => warnings.push(m), ...extra });
        return { result: comparable(r), warnings };
      };
      const inProcess = await run(false);
      const onWorker = await run(true);
      expect(onWorker).toEqual(inProcess);
    });

    it('the cache: a miss stores the entry the worker computed, and the next run reads it', async () => {
      const cache = { dir: tmp.path('bound-cache') };
      const cold = await verifyModel(linearModel('1', 4), { data: dataDir, n: 10, boundCache: cache, boundWorker: true });
      expect(cold.boundCache).toMatchObject({ used: false, stored: true, note: null });
      expect(fs.existsSync(cold.boundCache!.path)).toBe(true);
      const warm = await verifyModel(linearModel('1', 4), { data: dataDir, n: 10, boundCache: cache, boundWorker: true });
      expect(warm.boundCache).toMatchObject({ used: true, stored: false, path: cold.boundCache!.path });
      const inProcess = await verifyModel(linearModel('1', 4), { data: dataDir, n: 10, boundCache: cache });
      expect(comparable(warm)).toEqual(comparable(inProcess));
      expect(warm.lipschitzBound).toBe(cold.lipschitzBound);
    });

    it("the bound's errors come before a later failure's, as in process", async () => {
      // 5 classes, data labels up to 9 (a DataError after inference), and a broken claim (a ModelError of the bound's step).
      const bytes = gemmModel({ classes: 5, metadata: { lipschitz_constant: 'nan' } });
      const inProcess = verifyModel(bytes, { data: dataDir });
      await expect(inProcess).rejects.toThrow(/metadata lipschitz_constant must be a number > 0, got "nan"/);
      await expect(verifyModel(bytes, { data: dataDir, boundWorker: true })).rejects.toThrow(/metadata lipschitz_constant must be a number > 0, got "nan"/);
      // Without the broken claim, the later failure is the one reported.
      await expect(verifyModel(gemmModel({ classes: 5 }), { data: dataDir, boundWorker: true })).rejects.toThrow(
        /the model has 5 outputs but the data has labels up to 9/,
      );
    });

    it('data errors come first and stop the worker', async () => {
      await expect(verifyModel(linearModel('1', 1), { data: tmp.path('nope'), boundWorker: true })).rejects.toThrow(/nope does not exist/);
    });
  });

  it('a model that cannot be read is reported first, and nothing is downloaded for the data then', async () => {
    const mirror = await startMirror({});
    const saved = { mirror: process.env.LIP_DATA_MIRROR, cache: process.env.LIP_CACHE_DIR, data: process.env.LIP_DATA_DIR };
    Object.assign(process.env, { LIP_DATA_MIRROR: mirror.url, LIP_CACHE_DIR: tmp.path('empty-cache'), LIP_DATA_DIR: tmp.path('no-data') });
    try {
      // mnist is not installed here, so its test split would be downloaded.
      await expect(verifyModel(tmp.path('missing.onnx'), { data: 'mnist', boundCache: { dir: tmp.path('bounds') } })).rejects.toThrow(
        /missing\.onnx' does not exist/,
      );
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(mirror.requests).toEqual([]);
    } finally {
      for (const [key, value] of [
        ['LIP_DATA_MIRROR', saved.mirror],
        ['LIP_CACHE_DIR', saved.cache],
        ['LIP_DATA_DIR', saved.data],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await mirror.close();
    }
  });

  it('refuses a data folder that does not exist', async () => {
    await expect(verifyModel(linearModel('1', 1), { data: tmp.path('nope') })).rejects.toThrow(
      /'data' must be fashion-mnist, mnist, or an IDX file or folder, .*nope does not exist/,
    );
  });
});
