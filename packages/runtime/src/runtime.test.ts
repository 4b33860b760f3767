/**
 * @lip/runtime on small lip exports: the metadata contract and its refusals,
 * radii equal to @lip/verify's, checkBound, both engines, and no tfjs loaded.
 * (The shipped model's 10,000 test images: test/e2e/runtime_shipped_model.test.ts.)
 * The child-process tests run the built dist: `npx tsc -b` first.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl, LayersModel } from '@tensorflow/tfjs-layers';
import { onnx } from 'onnx-proto';
import { InvalidArgumentError, ModelError } from '@lip/core';
import * as L from '@lip/train';
import { exportOnnx } from '@lip/export';
import { certify, lipschitzBound } from '@lip/verify';
import { CertifiedClassifier, readContract, readOnnxSummary } from '@lip/runtime';
import { randomImages, ROOT, tmpDirPerSuite } from '@lip/test-support';
import { QUIET_LOGGER, randomizeWeights } from '@lip/test-support/tf';

const DIST = path.join(ROOT, 'packages', 'runtime', 'dist', 'index.js');
const tmp = tmpDirPerSuite('runtime');

/** A small lip network on 6x6x1 inputs: conv, GroupSort2, flatten, dense, GroupSort2, dense head of `classes`. */
function lipModel(classes: number, seed: number): LayersModel {
  const model = new L.LipschitzSequential({
    layers: [
      tfl.inputLayer({ inputShape: [6, 6, 1] }),
      new L.SpectralConv2D({ filters: 4, kernelSize: 3, seed }),
      new L.GroupSort2(),
      tfl.flatten(),
      new L.SpectralDense({ units: 8, seed: seed + 1 }),
      new L.GroupSort2(),
      new L.SpectralDense({ units: classes, useBias: false, seed: seed + 2 }),
    ],
    logger: QUIET_LOGGER,
  });
  randomizeWeights(model, seed);
  return model;
}

/** `n` 6x6 inputs in [0, 1), deterministic. */
const images = (n: number, seed: number): Float32Array => randomImages(n, [1, 6, 6], seed);

/** The same file with metadata keys set (a value of null removes the key). */
function withMetadata(bytes: Uint8Array, changes: Record<string, string | null>): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  m.metadataProps = m.metadataProps.filter((p) => !(p.key! in changes));
  for (const [key, value] of Object.entries(changes)) if (value !== null) m.metadataProps.push({ key, value });
  return onnx.ModelProto.encode(m).finish();
}

/** The same file with every Conv/Gemm weight multiplied by `factor` (metadata untouched). */
function scaled(bytes: Uint8Array, factor: number): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const weights = new Set(m.graph!.node.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm').map((n) => n.input[1]));
  for (const t of m.graph!.initializer) {
    if (!weights.has(t.name!)) continue;
    const copy = Uint8Array.from(t.rawData!);
    const v = new Float32Array(copy.buffer);
    for (let i = 0; i < v.length; i++) v[i] *= factor;
    t.rawData = copy;
  }
  return onnx.ModelProto.encode(m).finish();
}

let ten: Uint8Array; // 10 classes, the default profile
let tenFile: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const model = lipModel(10, 3);
  ten = exportOnnx(model, { classNames: 'abcdefghij'.split('') });
  model.dispose();
  tenFile = tmp.path('ten.onnx');
  fs.writeFileSync(tenFile, ten);
});

describe('readOnnxSummary', () => {
  it('reads metadata, the input (not the initializers), the output and the opset as onnx-proto decodes them', () => {
    const s = readOnnxSummary(ten, 'ten.onnx');
    const m = onnx.ModelProto.decode(ten);
    expect(s.metadata).toEqual(Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value])));
    expect(s.inputs).toEqual([{ name: 'input', elemType: 1, shape: ['N', 1, 6, 6] }]);
    expect(s.outputs).toEqual([{ name: 'logits', elemType: 1, shape: ['N', 10] }]);
    expect(s.opset).toBe(17);
  });

  it('refuses truncated or foreign bytes with one ModelError naming the file', () => {
    for (const cut of [1, 7, 100, ten.length - 3]) {
      expect(() => readOnnxSummary(ten.subarray(0, cut), 'cut.onnx')).toThrow(ModelError);
    }
    expect(() => readOnnxSummary(new TextEncoder().encode('{"not": "onnx"}'), 'x.json')).toThrow(/'x\.json'/);
    expect(() => readOnnxSummary(new Uint8Array(0), 'empty.onnx')).toThrow("'empty.onnx' holds no ONNX graph; pass the .onnx file lip export wrote");
  });
});

describe('the metadata contract', () => {
  const meta = (): Record<string, string> => readOnnxSummary(ten, 'ten.onnx').metadata;

  it('reads L, the certificate form, class names, input range and the head norms lip export writes', () => {
    const c = readContract(meta(), 10, 'ten.onnx');
    expect(c).toMatchObject({ form: 'multiclass', lipschitzSource: 'metadata', classNames: 'abcdefghij'.split(''), inputRange: [0, 1] });
    expect(c.lipschitz).toBeCloseTo(1, 12);
    expect(c.head!.bodyLipschitz).toBeCloseTo(1, 12);
    expect(c.head!.rowDistances).toHaveLength(100);
  });

  it('refuses a file without lipschitz_constant unless the caller passes one', () => {
    const { lipschitz_constant: _l, ...rest } = meta();
    expect(() => readContract(rest, 10, 'm.onnx')).toThrow(/'m\.onnx' declares no lipschitz_constant, so it certifies nothing.*pass \{ lipschitz: L \}/);
    const c = readContract(rest, 10, 'm.onnx', 2);
    expect([c.lipschitz, c.lipschitzSource]).toEqual([2, 'caller']);
    expect(() => readContract(rest, 10, 'm.onnx', -1)).toThrow(InvalidArgumentError);
    expect(() => readContract(rest, 10, 'm.onnx', NaN)).toThrow("'lipschitz' must be a finite number > 0, got NaN");
  });

  it.each([
    ['lipschitz_constant', 'abc', /metadata lipschitz_constant must be a number > 0, got "abc"/],
    ['lipschitz_constant', '0', /metadata lipschitz_constant must be a number > 0, got "0"/],
    ['certificate', 'linf: whatever', /metadata certificate "linf: whatever" is not a form @lip\/runtime knows/],
    ['certificate', 'binary: abs(logit) / L', /metadata certificate is binary but the model has 10 outputs/],
    ['class_names', '["a","b"]', /metadata class_names must be a JSON array of 10 strings/],
    ['class_names', '[oops', /metadata class_names is not valid JSON/],
    ['input_range', '[1, 0]', /metadata input_range must be JSON \[lo, hi\] with lo < hi/],
    ['head_body_lipschitz', null, /metadata has head_row_distances without head_body_lipschitz/],
    ['head_body_lipschitz', '-1', /metadata head_body_lipschitz must be a number > 0/],
    ['head_row_distances', '[[0]]', /metadata head_row_distances must be 10 rows/],
  ])('refuses metadata %s = %s', (key, value, message) => {
    const m = { ...meta() };
    if (value === null) delete m[key];
    else m[key] = value;
    expect(() => readContract(m, 10, 'bad.onnx')).toThrow(ModelError);
    expect(() => readContract(m, 10, 'bad.onnx')).toThrow(message);
  });

  it('refuses head norms that are negative, asymmetric or not zero on the diagonal', () => {
    const rows = JSON.parse(meta().head_row_distances) as number[][];
    const edited = (f: (r: number[][]) => void): Record<string, string> => {
      const r = rows.map((x) => [...x]);
      f(r);
      return { ...meta(), head_row_distances: JSON.stringify(r) };
    };
    expect(() =>
      readContract(
        edited((r) => {
          r[0][1] = -1;
        }),
        10,
        'm.onnx',
      ),
    ).toThrow(/\[0\]\[1\] must be a finite number >= 0/);
    expect(() =>
      readContract(
        edited((r) => {
          r[2][1] = 5;
        }),
        10,
        'm.onnx',
      ),
    ).toThrow(/is not symmetric at \[2\]\[1\]/);
    expect(() =>
      readContract(
        edited((r) => {
          r[3][3] = 1;
        }),
        10,
        'm.onnx',
      ),
    ).toThrow(/\[3\]\[3\] must be 0/);
  });
});

describe('CertifiedClassifier (onnxruntime-node)', () => {
  it('gives the labels and radii @lip/verify computes from the same logits, its bound and head', async () => {
    const clf = await CertifiedClassifier.load(ten, { engine: 'node' });
    expect([clf.engine, clf.inputShape, clf.outputs]).toEqual(['node', [1, 6, 6], 10]);
    const x = images(50, 5);
    const got = await clf.classify(x);
    const { logits } = await clf.logits(x);
    const bound = lipschitzBound(ten);
    // lip verify certifies with max(claim, bound) for L and for L_body.
    const head = { ...bound.head!, bodyLipschitz: Math.max(bound.head!.bodyLipschitz, clf.contract.head!.bodyLipschitz) };
    const expected = certify(logits, 10, { lipschitz: Math.max(clf.contract.lipschitz, bound.total), head });
    expect(expected.kind).toBe('head-aware');
    expect(got.map((r) => r.label)).toEqual(Array.from(expected.predictions));
    expect(got.map((r) => r.certifiedRadius)).toEqual(Array.from(expected.certificates));
    expect(got.map((r) => r.className)).toEqual(Array.from(expected.predictions, (p) => 'abcdefghij'[p]));
    expect(Array.from(got[3].scores)).toEqual(Array.from(logits.subarray(30, 40)));
    expect(got.some((r) => r.certifiedRadius > 0)).toBe(true);
    await clf.dispose();
  });

  it('loads a path, a file: URL and bytes alike, and accepts an array of inputs', async () => {
    const x = images(3, 9);
    const fromPath = await CertifiedClassifier.load(tenFile);
    const fromUrl = await CertifiedClassifier.load(pathToFileURL(tenFile));
    const fromBuffer = await CertifiedClassifier.load(ten.buffer.slice(ten.byteOffset, ten.byteOffset + ten.byteLength) as ArrayBuffer);
    const a = await fromPath.classify(x);
    expect(await fromUrl.classify(x)).toEqual(a);
    expect(await fromBuffer.classify([x.subarray(0, 36), x.subarray(36, 72), Array.from(x.subarray(72))])).toEqual(a);
    expect(fromPath.source).toBe(tenFile);
    for (const c of [fromPath, fromUrl, fromBuffer]) await c.dispose();
  });

  it('refuses bad inputs with one error that names them', async () => {
    const clf = await CertifiedClassifier.load(ten, { engine: 'node' });
    await expect(clf.classify(new Float32Array(40))).rejects.toThrow("'batch' holds 40 values, not a whole number of inputs of 36 values ([1, 6, 6])");
    const nan = images(2, 1);
    nan[36 + 7] = NaN;
    await expect(clf.classify(nan)).rejects.toThrow("'batch' input 1 holds NaN at index 7; inputs must be finite numbers");
    await expect(clf.classify([new Float32Array(5)])).rejects.toThrow("'batch[0]' must hold 36 values ([1, 6, 6]), got 5");
    expect(await clf.classify(new Float32Array(0))).toEqual([]);
    await clf.dispose();
    await expect(clf.classify(images(1, 1))).rejects.toThrow(/was disposed; load it again/);
    await expect(CertifiedClassifier.load(tmp.path('missing.onnx'))).rejects.toThrow(/model file '.*missing\.onnx' does not exist; check the path/);
    await expect(CertifiedClassifier.load(ten, { engine: 'gpu' as never })).rejects.toThrow(InvalidArgumentError);
    await expect(CertifiedClassifier.load(ten, { batchSize: 0 })).rejects.toThrow("'batchSize' must be an integer >= 1, got 0");
    await expect(CertifiedClassifier.load(ten.subarray(0, 50))).rejects.toThrow(ModelError);
  });

  it('refuses a file with no claim unless given one, and then certifies with it', async () => {
    const bare = withMetadata(ten, { lipschitz_constant: null });
    await expect(CertifiedClassifier.load(bare)).rejects.toThrow(/declares no lipschitz_constant/);
    const clf = await CertifiedClassifier.load(bare, { lipschitz: 2 });
    const [one] = await clf.classify(images(1, 2));
    const multiclass = certify(one.scores, 10, { lipschitz: 2 }).certificates[0];
    expect(one.certifiedRadius).toBeGreaterThanOrEqual(multiclass);
    await clf.dispose();
  });
});

describe('checkBound', () => {
  it('accepts an honest export and reports the bounds', async () => {
    const clf = await CertifiedClassifier.load(ten, { checkBound: true });
    expect(clf.boundCheck!.total).toBeLessThanOrEqual(clf.contract.lipschitz);
    expect(clf.boundCheck!.body).toBeLessThanOrEqual(clf.contract.head!.bodyLipschitz);
    await clf.dispose();
  });

  it('refuses a file whose weights exceed its claim, and one whose head norms or body claim are too small', async () => {
    await expect(CertifiedClassifier.load(scaled(ten, 2), { checkBound: true })).rejects.toThrow(
      /its lipschitz_constant is L = 1 but its weights give a certified bound of [2-9]\.\d+ \(lip bound\).*re-export the model or pass a lipschitz at least the bound/,
    );
    // Loaded without the check, the same file certifies on its (false) claim.
    await (await CertifiedClassifier.load(scaled(ten, 2))).dispose();
    // Three linear layers scaled by 2: each norm doubles, L and L_body are well above the claims of 1.
    await expect(CertifiedClassifier.load(scaled(ten, 2), { checkBound: true, lipschitz: 9 })).rejects.toThrow(
      /metadata head_body_lipschitz is 1 but the weights give a certified bound of [2-9]\.\d+ for the layers before the head/,
    );
    const rows = JSON.parse(readOnnxSummary(ten, 'x').metadata.head_row_distances) as number[][];
    rows[2][5] *= 0.9;
    rows[5][2] = rows[2][5];
    const tampered = withMetadata(ten, { head_row_distances: JSON.stringify(rows) });
    await expect(CertifiedClassifier.load(tampered, { checkBound: true })).rejects.toThrow(
      /metadata head_row_distances\[2\]\[5\] is .* but the head's weights give/,
    );
    await expect(CertifiedClassifier.load(tampered, { checkBound: true })).rejects.toThrow(ModelError);
  });
});

/** Runs `script` in a child Node process against the built dist; returns its JSON output. */
function child(script: string): unknown {
  const r = spawnSync(process.execPath, ['-e', script, DIST, tenFile], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`child failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const LOADED_TFJS = `Object.keys(require.cache).filter((k) => /@tensorflow|[\\\\/]packages[\\\\/](train|export|verify)[\\\\/]/.test(k))`;

describe('in Node, outside jest (the built dist)', () => {
  it('runs on onnxruntime-web too, with the radii of onnxruntime-node within 1e-5', async () => {
    const out = child(`
      const { CertifiedClassifier } = require(process.argv[1]);
      (async () => {
        const x = new Float32Array(${JSON.stringify(Array.from(images(20, 4)))});
        const clf = await CertifiedClassifier.load(process.argv[2], { engine: 'web' });
        const r = await clf.classify(x);
        console.log(JSON.stringify({ engine: clf.engine, r: r.map((e) => [e.label, e.certifiedRadius]) }));
      })().catch((e) => { console.error(e); process.exit(1); });`) as { engine: string; r: [number, number][] };
    expect(out.engine).toBe('web');
    const clf = await CertifiedClassifier.load(ten, { engine: 'node' });
    const ref = await clf.classify(images(20, 4));
    await clf.dispose();
    expect(out.r.map(([l]) => l)).toEqual(ref.map((e) => e.label));
    for (const [i, [, radius]] of out.r.entries()) expect(Math.abs(radius - ref[i].certifiedRadius)).toBeLessThanOrEqual(1e-5);
  });

  it('loads no tfjs and no training code, on either engine; checkBound alone brings in @lip/verify', () => {
    const out = child(`
      const { CertifiedClassifier } = require(process.argv[1]);
      (async () => {
        const loaded = {};
        // onnxruntime-node is optional: without it, 'web' alone.
        const engines = ['web'];
        try { require.resolve('onnxruntime-node'); engines.unshift('node'); } catch {}
        for (const engine of engines) {
          const clf = await CertifiedClassifier.load(process.argv[2], { engine });
          await clf.classify(new Float32Array(36 * 4).fill(0.5));
          await clf.dispose();
          loaded[engine] = ${LOADED_TFJS};
        }
        const checked = await CertifiedClassifier.load(process.argv[2], { checkBound: true });
        loaded.checkBound = ${LOADED_TFJS}.length;
        console.log(JSON.stringify(loaded));
      })().catch((e) => { console.error(e); process.exit(1); });`) as { node: string[]; web: string[]; checkBound: number };
    expect(out.node ?? []).toEqual([]);
    expect(out.web).toEqual([]);
    // Guards the probe: @lip/verify (and with it tfjs) does show up once checkBound is asked for.
    expect(out.checkBound).toBeGreaterThan(0);
  });
});

describe('in a browser bundle', () => {
  it('bundles for the browser (esbuild) from the dist without Node built-ins, tfjs or training code, in under 64 KB', async () => {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      stdin: { contents: "export { CertifiedClassifier } from '@lip/runtime';", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['onnxruntime-web'],
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((f) => /@tensorflow|packages\/(train|export|verify)\/|proper-lockfile|yauzl/.test(f))).toEqual([]);
    expect(inputs).toEqual(expect.arrayContaining(['packages/runtime/dist/read_source_browser.js', 'packages/core/dist/errors.js']));
    expect(inputs).not.toContain('packages/runtime/dist/read_source_node.js');
    expect(result.outputFiles[0].contents.length).toBeLessThan(64 * 1024);
  });
});

describe('engine choice', () => {
  it('takes an onnxruntime module the caller imported, and refuses anything else', async () => {
    const ort = await import('onnxruntime-node');
    const clf = await CertifiedClassifier.load(ten, { engine: ort as never });
    expect(clf.engine).toBe('custom');
    expect((await clf.classify(images(2, 3))).length).toBe(2);
    await clf.dispose();
    await expect(CertifiedClassifier.load(ten, { engine: { Tensor: 1 } as never })).rejects.toThrow(
      "'engine' must be 'auto', 'node', 'web' or an onnxruntime module (with Tensor and InferenceSession.create)",
    );
  });
});
