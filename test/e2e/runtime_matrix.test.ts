/**
 * The runtime matrix: every architecture (`ARCHITECTURES`) x both export
 * profiles x every opset `lip export` claims (MIN_OPSET..MAX_OPSET), plus the
 * shipped models (every models/*.onnx), run on the same inputs in
 *   - onnxruntime-node (the reference),
 *   - onnxruntime-web (wasm) under Node,
 *   - OpenCV DNN (Debian python3-opencv, through /usr/bin/python3),
 *   - Chromium (Debian's), through the browser page and @lip/runtime on onnxruntime-web;
 * each must agree with onnxruntime-node within 1e-4, and the ONNX checker
 * (python3-onnx, full_check) must pass on every file whose IR version it knows.
 * The models are untrained and small (8x8x1 inputs) so the whole matrix takes
 * seconds; the README's runtime table must list exactly this matrix.
 * LIP_MATRIX_REPORT=FILE writes the measured differences as JSON.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as ort from 'onnxruntime-node';
import { ARCHITECTURES, buildModel } from '@lip/train';
import { MAX_OPSET, MIN_OPSET, exportOnnx } from '@lip/export';
import { maxAbsDiff, normalArray, ROOT, sizeOf, tmpDirPerSuite } from '@lip/test-support';
import { browserMissing, launchChromium, startDemoServer } from '@lip/test-support/browser';

const TOL = 1e-4;
const INPUT: [number, number, number] = [8, 8, 1];
const BATCH = 4;
const PROFILES = ['default', 'portable'] as const;
const OPSETS = Array.from({ length: MAX_OPSET - MIN_OPSET + 1 }, (_, i) => MIN_OPSET + i);
const SHIPPED = path.join(ROOT, 'models', 'fashion-mnist-ortho.onnx');
/** Every shipped model, by file name. */
const SHIPPED_FILES = fs
  .readdirSync(path.join(ROOT, 'models'))
  .filter((f) => f.endsWith('.onnx'))
  .sort();
const PYTHON = '/usr/bin/python3';
const PY_SCRIPT = path.join(__dirname, 'runtime_matrix.py');

interface Entry {
  id: string;
  file: string;
  input: string;
  dims: number[];
  data: Float32Array;
  reference: Float32Array;
}

const tmp = tmpDirPerSuite('matrix');
const entries: Entry[] = [];
const manifest = tmp.path('manifest.json');
/** Largest difference from onnxruntime-node per runtime and entry, for LIP_MATRIX_REPORT. */
const report: Record<string, Record<string, number | string>> = {};

jest.setTimeout(600_000);

async function ortNode(file: string, data: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
    return Float32Array.from(out[session.outputNames[0]].data as Float32Array);
  } finally {
    await session.release();
  }
}

async function addEntry(id: string, file: string, dims: number[], seed: number): Promise<void> {
  // Uniform in [0, 1): the input range of the models.
  const data = Float32Array.from(normalArray(sizeOf(dims), seed), (v) => 0.5 + 0.5 * Math.tanh(v));
  const input = tmp.path(`${entries.length}.f32`);
  fs.writeFileSync(input, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  entries.push({ id, file, input, dims, data, reference: await ortNode(file, data, dims) });
}

/** Runs runtime_matrix.py; null when python3 or its module is missing. */
function python(mode: 'checker' | 'opencv'): Record<string, unknown> | null {
  if (!fs.existsSync(PYTHON)) return null;
  const r = spawnSync(PYTHON, [PY_SCRIPT, mode, manifest], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 300_000 });
  if (r.status === 3) return null;
  if (r.status !== 0) throw new Error(`runtime_matrix.py ${mode} failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function record(runtime: string, id: string, value: number | string): void {
  (report[runtime] ??= {})[id] = value;
}

/** Every entry whose logits differ from onnxruntime-node's by more than TOL, or that failed, as [id, what]. */
function disagreements(runtime: string, got: (e: Entry) => Float32Array | string): [string, string][] {
  const bad: [string, string][] = [];
  for (const e of entries) {
    const y = got(e);
    if (typeof y === 'string') {
      record(runtime, e.id, y);
      bad.push([e.id, y]);
      continue;
    }
    const d = y.length === e.reference.length ? maxAbsDiff(y, e.reference) : Infinity;
    record(runtime, e.id, d);
    if (!(d <= TOL)) bad.push([e.id, `max |difference| ${d} (${y.length} logits)`]);
  }
  return bad;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  let seed = 1;
  for (const arch of ARCHITECTURES.keys()) {
    const model = buildModel(arch, { seed: 7, inputShape: INPUT, logger: { warn: () => {} } });
    try {
      for (const profile of PROFILES) {
        for (const opset of OPSETS) {
          const file = tmp.path(`${arch}-${profile}-${opset}.onnx`);
          fs.writeFileSync(file, exportOnnx(model, { opset, portable: profile === 'portable', architecture: arch }));
          await addEntry(`${arch}/${profile}/${opset}`, file, [BATCH, INPUT[2], INPUT[0], INPUT[1]], seed++);
        }
      }
    } finally {
      model.dispose();
    }
  }
  for (const f of SHIPPED_FILES) await addEntry(`shipped ${f}`, path.join(ROOT, 'models', f), [BATCH, 1, 28, 28], seed++);
  fs.writeFileSync(manifest, JSON.stringify(entries.map(({ id, file, input, dims }) => ({ id, file, input, dims }))));
});

afterAll(() => {
  if (process.env.LIP_MATRIX_REPORT) fs.writeFileSync(process.env.LIP_MATRIX_REPORT, `${JSON.stringify(report, null, 2)}\n`);
});

test('the matrix covers every architecture, both profiles and every claimed opset', () => {
  expect(ARCHITECTURES.size).toBeGreaterThanOrEqual(3);
  expect(SHIPPED_FILES).toEqual(expect.arrayContaining(['fashion-mnist-ortho.onnx', 'fashion-mnist-sll.onnx']));
  expect(entries).toHaveLength(ARCHITECTURES.size * PROFILES.length * OPSETS.length + SHIPPED_FILES.length);
  // Untrained logits are small but not degenerate: a difference of 1e-4 would show.
  for (const e of entries) expect(Math.max(...e.reference.map(Math.abs))).toBeGreaterThan(1e-3);
});

test('the ONNX checker (full_check) passes on every file whose IR version it knows', () => {
  const result = python('checker') as Record<string, string> | null;
  if (!result) {
    console.warn(`skipped: no ${PYTHON} with the onnx module (Debian: apt-get install python3-onnx)`);
    return;
  }
  for (const e of entries) record('onnx checker', e.id, result[e.id]);
  const failed = entries.filter((e) => !(result[e.id] === 'ok' || result[e.id]?.startsWith('skipped: IR version')));
  expect(failed.map((e) => [e.id, result[e.id]])).toEqual([]);
  // Debian's onnx 1.12 checks IR <= 8: opsets up to 18. The others must say exactly that.
  const checked = entries.filter((e) => result[e.id] === 'ok').map((e) => e.id);
  expect(checked).toEqual(expect.arrayContaining([...ARCHITECTURES.keys()].flatMap((a) => PROFILES.map((p) => `${a}/${p}/${MIN_OPSET}`))));
});

test('onnxruntime-web (wasm) under Node agrees with onnxruntime-node', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'ort_web_matrix_runner.js'), manifest], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`onnxruntime-web runner failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as Record<string, { logits?: string; error?: string }>;
  expect(
    disagreements('onnxruntime-web (Node)', (e) => {
      const o = out[e.id];
      if (!o?.logits) return `error: ${o?.error ?? 'no result'}`;
      const buf = Buffer.from(o.logits, 'base64');
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    }),
  ).toEqual([]);
});

test('OpenCV DNN (Debian python3-opencv) loads every file and agrees with onnxruntime-node', () => {
  const out = python('opencv') as Record<string, { logits?: number[]; error?: string }> | null;
  if (!out) {
    console.warn(`skipped: no ${PYTHON} with cv2 (Debian: apt-get install python3-opencv)`);
    return;
  }
  expect(
    disagreements('OpenCV DNN', (e) => {
      const o = out[e.id];
      return o?.logits ? Float32Array.from(o.logits) : `error: ${o?.error ?? 'no result'}`;
    }),
  ).toEqual([]);
});

const skipBrowser = browserMissing();
(skipBrowser ? test.skip : test)('Chromium (the browser page, @lip/runtime on onnxruntime-web) agrees with onnxruntime-node', async () => {
  const files = Object.fromEntries(entries.map((e, i) => [`/matrix/${i}.onnx`, e.file]));
  const server = await startDemoServer({ model: SHIPPED, data: null, files });
  const browser = await launchChromium();
  try {
    await browser.page.goto(server.url);
    await browser.page.evaluate(() => (window as unknown as { lipDemo: { ready: Promise<void> } }).lipDemo.ready);
    const got = new Map<string, Float32Array | string>();
    for (const [i, e] of entries.entries()) {
      try {
        const logits = await browser.page.evaluate(
          ([url, data]) => (window as unknown as { lipDemo: { logits(u: string, d: number[]): Promise<number[]> } }).lipDemo.logits(url, data),
          [`/matrix/${i}.onnx`, Array.from(e.data)] as [string, number[]],
        );
        got.set(e.id, Float32Array.from(logits));
      } catch (err) {
        got.set(e.id, `error: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    expect(disagreements('Chromium', (e) => got.get(e.id)!)).toEqual([]);
    expect(browser.errors).toEqual([]);
  } finally {
    await browser.close();
    await server.close();
  }
});
if (skipBrowser) test('Chromium: skipped', () => console.warn(skipBrowser));

test("the README's runtime table lists exactly this matrix", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('<!-- runtime-matrix -->'), readme.indexOf('<!-- /runtime-matrix -->'));
  expect(table.length).toBeGreaterThan(0);
  const rows = table
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.split('|').map((c) => c.trim()));
  const listed = rows.map((r) => r[1].replace(/`/g, ''));
  expect(listed).toEqual([...[...ARCHITECTURES.keys()], ...SHIPPED_FILES]);
  for (const r of rows.slice(0, ARCHITECTURES.size)) {
    expect(r[2]).toBe('default, portable');
    expect(r[3]).toBe(`${MIN_OPSET}–${MAX_OPSET}`);
  }
});
