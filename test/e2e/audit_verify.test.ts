/**
 * Issue 11: `lip verify` and `lip attack` on classifiers lip did not export
 * (test/fixtures/audit), with the user's own data.
 * - An ImageFolder of PNGs and an `.npy` pair (and an `.npz`), made from the
 *   16 committed test images (images16.json), give the accuracy onnxruntime
 *   gives on the same pixels, whatever the graph's layout (NCHW, NHWC) or batch.
 * - `--mean/--std` (and `--scale`) outside the graph: the same predictions as
 *   on pre-normalized data, certificates scaled by min(std) / scale.
 * - One certificate: `lip attack` checks what `lip verify` prints, on a file
 *   that declares no lipschitz_constant.
 * - A graph with no global bound: `lip bound` refuses, `lip verify` certifies
 *   nothing unless `--lipschitz L`, which it marks as the user's claim.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { verifyModel } from '@lip/verify';
import { tmpDirPerSuite } from '@lip/test-support';
import { expectLipOk, lip } from '@lip/test-support/cli';
import { haveFashionMnist, npyOf, pngBytes, zipBytes } from '@lip/test-support/data';
import { productModel } from '@lip/test-support/onnx';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'audit');
const images16 = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'images16.json'), 'utf8')) as { labels: number[]; bytes: number[][] };
const N = images16.labels.length;
const fixture = (name: string): string => path.join(FIXTURES, `${name}.onnx`);

/** onnxruntime's predicted class of each image (pixels / 255), one image per call, fed as [1, ...shape]. */
async function ortPredictions(file: string, pixels: readonly (readonly number[])[], shape: number[]): Promise<number[]> {
  const session = await ort.InferenceSession.create(file);
  try {
    const preds: number[] = [];
    for (const img of pixels) {
      const out = await session.run({
        [session.inputNames[0]]: new ort.Tensor(
          'float32',
          Float32Array.from(img, (v) => v / 255),
          [1, ...shape],
        ),
      });
      const z = Array.from(out[session.outputNames[0]].data as Float32Array);
      preds.push(z.indexOf(Math.max(...z)));
    }
    return preds;
  } finally {
    await session.release();
  }
}

const accuracyOf = (preds: readonly number[], labels: readonly number[]): number => preds.filter((p, i) => p === labels[i]).length / labels.length;

describe('lip verify and lip attack on foreign ONNX classifiers and your own data', () => {
  const tmp = tmpDirPerSuite('audit-verify');
  const folder = tmp.path('folder');
  const imagesNpy = tmp.path('images.npy');
  const labelsNpy = tmp.path('labels.npy');
  const npz = tmp.path('data.npz');
  const x01 = tmp.path('x01.npy');
  const x255 = tmp.path('x255.npy');
  const normalized = tmp.path('normalized.npy');
  /** ImageFolder samples: every image in the folder of its label, plus one copy in '0' and '8', which images16 lacks. */
  const folderSamples = [...images16.labels.map((label, i) => ({ label, i })), { label: 0, i: 0 }, { label: 8, i: 1 }];
  const MEAN = 0.25;
  const STD = 0.5;

  beforeAll(() => {
    for (let c = 0; c < 10; c++) fs.mkdirSync(path.join(folder, String(c)), { recursive: true });
    folderSamples.forEach(({ label, i }, k) => {
      fs.writeFileSync(path.join(folder, String(label), `img${String(k).padStart(2, '0')}.png`), pngBytes(28, 28, 1, Uint8Array.from(images16.bytes[i])));
    });
    const bytes = Uint8Array.from(images16.bytes.flat());
    const labels = Uint8Array.from(images16.labels);
    fs.writeFileSync(imagesNpy, npyOf(bytes, [N, 28, 28]));
    fs.writeFileSync(labelsNpy, npyOf(labels, [N]));
    fs.writeFileSync(
      npz,
      zipBytes([
        { name: 'x.npy', data: npyOf(bytes, [N, 28, 28]) },
        { name: 'y.npy', data: npyOf(labels, [N]) },
      ]),
    );
    const unit = Float32Array.from(bytes, (v) => v / 255);
    fs.writeFileSync(x01, npyOf(unit, [N, 28, 28]));
    fs.writeFileSync(x255, npyOf(Float32Array.from(bytes), [N, 28, 28]));
    fs.writeFileSync(
      normalized,
      npyOf(
        Float32Array.from(unit, (v) => (v - MEAN) / STD),
        [N, 28, 28],
      ),
    );
  });

  it('an ImageFolder of PNGs (mlp_softmax.onnx, NCHW): the accuracy of onnxruntime on the same pixels', async () => {
    const json = tmp.path('folder.json');
    const r = await lip('verify', fixture('mlp_softmax'), '--data', folder, '--json', json);
    expectLipOk(r);
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(j.dataFormat).toBe('image-folder');
    expect(j.n).toBe(folderSamples.length);
    const preds = await ortPredictions(
      fixture('mlp_softmax'),
      folderSamples.map((s) => images16.bytes[s.i]),
      [1, 28, 28],
    );
    expect(j.accuracy).toBe(
      accuracyOf(
        preds,
        folderSamples.map((s) => s.label),
      ),
    );
  });

  it('an .npy pair and an .npz (nhwc_keras.onnx, NHWC input): the accuracy of onnxruntime', async () => {
    const json = tmp.path('npy.json');
    const r = await lip('verify', fixture('nhwc_keras'), '--data', imagesNpy, '--labels', labelsNpy, '--json', json);
    expectLipOk(r);
    expect(r.out).toMatch(/^images +16 \(.*images\.npy, test; 28x28x1, fed as \[N, 28, 28, 1\]\)$/m);
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    const preds = await ortPredictions(fixture('nhwc_keras'), images16.bytes, [28, 28, 1]);
    expect(j.accuracy).toBe(accuracyOf(preds, images16.labels));
    expect(j.preprocessing).toMatchObject({ layout: 'nhwc', inputShape: [28, 28, 1], certificateFactor: 1 });
    const fromNpz = await verifyModel(fixture('nhwc_keras'), { data: npz });
    expect(Array.from(fromNpz.details.predictions)).toEqual(preds);
  });

  it('a graph exported with a fixed batch of 1 (batch1_cnn.onnx): the accuracy of onnxruntime, and of torch on 1000 test images', async () => {
    const json = tmp.path('batch1.json');
    expectLipOk(await lip('verify', fixture('batch1_cnn'), '--data', imagesNpy, '--labels', labelsNpy, '--batch-size', '5', '--json', json));
    const preds = await ortPredictions(fixture('batch1_cnn'), images16.bytes, [1, 28, 28]);
    expect(JSON.parse(fs.readFileSync(json, 'utf8')).accuracy).toBe(accuracyOf(preds, images16.labels));
    if (!haveFashionMnist()) return;
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'batch1_cnn.expected.json'), 'utf8')).accuracy;
    const res = await verifyModel(fixture('batch1_cnn'), { data: 'fashion-mnist', n: expected.images });
    // Images whose top two outputs lie within float32 rounding may flip between torch and onnxruntime: at most one.
    expect(Math.abs(res.accuracy * expected.images - expected.correct)).toBeLessThanOrEqual(1);
  });

  it('--mean/--std outside the graph: the predictions of pre-normalized data, certificates x min(std); --scale divides them', async () => {
    const model = fixture('mlp_softmax');
    const pre = await verifyModel(model, { data: normalized, labels: labelsNpy });
    const raw = await verifyModel(model, { data: x01, labels: labelsNpy, mean: [MEAN], std: [STD] });
    expect(Array.from(raw.details.predictions)).toEqual(Array.from(pre.details.predictions));
    expect(raw.preprocessing.certificateFactor).toBeCloseTo(STD, 15);
    const rawCerts = raw.details.certificates!;
    pre.details.certificates!.forEach((c, i) => {
      expect(rawCerts[i]).toBeLessThanOrEqual(c * STD);
      // The fed images are the same float32 values; only their rounding (delta, below 1e-6) is taken off.
      expect(rawCerts[i]).toBeGreaterThanOrEqual(c * STD - 1e-6);
    });
    // Stored as 0..255 with --scale 1/255: certificates in those units, 255 times larger.
    const stored = await verifyModel(model, { data: x255, labels: labelsNpy, scale: 1 / 255, mean: [MEAN], std: [STD] });
    expect(Array.from(stored.details.predictions)).toEqual(Array.from(pre.details.predictions));
    stored.details.certificates!.forEach((c, i) => expect(c / (255 * rawCerts[i])).toBeCloseTo(1, 4));

    const json = tmp.path('normalized.json');
    const r = await lip('verify', model, '--data', x01, '--labels', labelsNpy, '--mean', String(MEAN), '--std', String(STD), '--json', json);
    expectLipOk(r);
    expect(r.out).toMatch(/^preprocessing +- \[0\.25\] \/ \[0\.5\] outside the graph: .* x 0\.500000 \(min std \/ scale\)$/m);
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(j.meanCertificate).toBeCloseTo(raw.meanCertificate!, 12);
    expect((await lip('verify', model, '--data', x01, '--labels', labelsNpy, '--std', '0.5,0')).err).toMatch(/^error: '--std' must be/m);
  });

  it('lip attack checks the certificates lip verify prints, on a file that declares no lipschitz_constant', async () => {
    const model = fixture('batch1_cnn');
    const verifyJson = tmp.path('one-verify.json');
    const attackJson = tmp.path('one-attack.json');
    expectLipOk(await lip('verify', model, '--data', imagesNpy, '--labels', labelsNpy, '--json', verifyJson));
    const a = await lip(
      'attack',
      model,
      '--data',
      imagesNpy,
      '--labels',
      labelsNpy,
      '--n',
      String(N),
      '--attack',
      'deepfool',
      '--steps',
      '20',
      '--workers',
      '1',
      '--json',
      attackJson,
    );
    expectLipOk(a);
    expect(a.err).toMatch(/declares no lipschitz_constant; certifying with the bound/);
    const v = JSON.parse(fs.readFileSync(verifyJson, 'utf8'));
    const at = JSON.parse(fs.readFileSync(attackJson, 'utf8'));
    expect([v.lipschitzSource, at.lipschitzSource]).toEqual(['bound', 'bound']);
    expect(at.lipschitz).toBe(v.lipschitzUsed);
    expect(at.certificateKind).toMatch(/^head-aware/);
    expect(v.certificateKind).toBe('head-aware');
    const certs = at.results.map((x: { certificate: number }) => x.certificate);
    expect(certs.reduce((s: number, c: number) => s + c, 0) / N).toBeCloseTo(v.meanCertificate, 12);
    const lib = await verifyModel(model, { data: imagesNpy, labels: labelsNpy });
    expect(certs).toEqual(Array.from(lib.details.certificates!));
    expect(at.violations).toBe(0);
  });

  it("a graph with no global bound: lip bound refuses, lip verify certifies nothing unless --lipschitz, then marks it the user's claim", async () => {
    const model = tmp.path('product.onnx');
    fs.writeFileSync(model, productModel(28, 28, 10, 4));
    const bound = await lip('bound', model);
    expect(bound.code).toBe(2);
    expect(bound.err).toMatch(
      /^error: .*multiplies two input-dependent tensors.*unless you pass --lipschitz L, which they report as your claim, not a proof$/m,
    );

    const none = tmp.path('product-none.json');
    const r = await lip('verify', model, '--data', imagesNpy, '--labels', labelsNpy, '--json', none);
    expectLipOk(r);
    expect(r.err).toMatch(/^warning: no certified Lipschitz bound .*nothing is certified; pass --lipschitz L/m);
    expect(r.out).toMatch(/^certificates +NONE: no certified Lipschitz bound; pass --lipschitz L/m);
    expect(r.out).toMatch(/^Lipschitz used +none/m);
    expect(JSON.parse(fs.readFileSync(none, 'utf8'))).toMatchObject({ certified: false, lipschitzSource: null, meanCertificate: null, cra: [] });

    const claim = tmp.path('product-claim.json');
    const c = await lip('verify', model, '--data', imagesNpy, '--labels', labelsNpy, '--lipschitz', '3', '--json', claim);
    expectLipOk(c);
    expect(c.out).toMatch(/^Lipschitz used +3 \(--lipschitz: YOUR CLAIM, NOT A PROOF\)$/m);
    expect(c.err).toMatch(/YOUR CLAIM, NOT A PROOF/);
    expect(JSON.parse(fs.readFileSync(claim, 'utf8'))).toMatchObject({ certified: true, lipschitzSource: 'user', lipschitzProven: false });

    const noClaim = await lip('attack', model, '--data', imagesNpy, '--labels', labelsNpy, '--n', '2', '--workers', '1');
    expect(noClaim.code).toBe(2);
    expect(noClaim.err).toMatch(/^error: .*has no certified Lipschitz bound .*pass --lipschitz L/m);
    // A claim far below the real constant: the attack exposes it.
    const low = await lip(
      'attack',
      model,
      '--data',
      imagesNpy,
      '--labels',
      labelsNpy,
      '--n',
      '4',
      '--attack',
      'deepfool',
      '--workers',
      '1',
      '--lipschitz',
      '0.001',
    );
    expect(low.code).toBe(3);
    expect(low.out).toMatch(/VIOLATED/);
    expect(low.err).toMatch(/certificate violated: .*your --lipschitz 0\.001 is below the model's real Lipschitz constant/);
  });

  it('refuses data flags that do not apply, naming the flag', async () => {
    const r = await lip('verify', fixture('mlp_softmax'), '--data', 'fashion-mnist', '--labels', labelsNpy);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: '--labels' is for data files; 'fashion-mnist' is a built-in dataset/m);
    const shape = await lip('verify', fixture('mlp_softmax'), '--data', imagesNpy, '--labels', labelsNpy, '--input-shape', '28,28,1');
    expect(shape.code).toBe(2);
    expect(shape.err).toMatch(/^error: '--input-shape' \[28, 28, 1\] does not match the input 'image'/m);
  });
});
