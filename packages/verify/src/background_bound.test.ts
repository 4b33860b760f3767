/**
 * The bound on a worker thread (./background_bound.ts) gives what
 * `lipschitzBound` gives in process: the same bound, the same error class
 * and message, and the in-process computation whenever the worker gives no
 * usable answer. The real worker runs dist/bound_worker.js (`npx tsc -b`).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ModelError, ModelTooLargeError } from '@lip/core';
import { ROOT, tmpDirPerSuite } from '@lip/test-support';
import { gemmModel, productModel } from '@lip/test-support/onnx';
import { SpareBoundThread, backgroundBound, boundWorkerScript } from './background_bound';
import { LipschitzBound, lipschitzBound } from './bound';
import { readOnnxModel, readOnnxModelHashed } from './onnx/read';

/** The bound as plain data (the head's weights as an array), for deep equality. */
const plain = (b: LipschitzBound): unknown => ({ ...b, head: b.head && { ...b.head, weights: Array.from(b.head.weights) } });

async function settledResult(job: ReturnType<typeof backgroundBound>): Promise<LipschitzBound> {
  await job.settled;
  return job.result();
}

describe('backgroundBound', () => {
  const tmp = tmpDirPerSuite('background-bound');
  /** A worker script that posts `answer` (JSON) at once. */
  const answering = (name: string, answer: unknown): string => {
    const file = tmp.path(`${name}.js`);
    fs.writeFileSync(file, `require('worker_threads').parentPort.postMessage(${JSON.stringify(answer)});\n`);
    return file;
  };

  it('the worker script is built', () => {
    expect(boundWorkerScript()).not.toBeNull();
  });

  it.each([
    ['the shipped model', path.join(ROOT, 'models/fashion-mnist-ortho.onnx'), {}],
    ['a torchlip export, circular conv bound', path.join(ROOT, 'test/fixtures/audit/torchlip.onnx'), { exactConv: false }],
    ['a Keras NHWC CNN (exact conv bound)', path.join(ROOT, 'test/fixtures/audit/nhwc_keras.onnx'), {}],
  ])('%s: the same bound as in process, head weights included', async (_label, file, opts) => {
    const model = readOnnxModel(file);
    const inProcess = lipschitzBound(model, opts);
    const job = backgroundBound(model, opts);
    const fromWorker = await settledResult(job);
    expect(plain(fromWorker)).toEqual(plain(inProcess));
    expect(fromWorker.head?.weights).toBeInstanceOf(Float64Array);
  });

  it("the bound's own error comes back as the same class with the same message", async () => {
    const model = readOnnxModel(productModel(28, 28, 10, 4));
    expect(() => lipschitzBound(model, {})).toThrow(ModelError);
    let inProcess: unknown;
    try {
      lipschitzBound(model, {});
    } catch (err) {
      inProcess = err;
    }
    const job = backgroundBound(model, {});
    await job.settled;
    let fromWorker: unknown;
    try {
      job.result();
    } catch (err) {
      fromWorker = err;
    }
    expect(fromWorker).toBeInstanceOf(ModelError);
    expect(fromWorker).not.toBeInstanceOf(ModelTooLargeError);
    expect((fromWorker as Error).message).toBe((inProcess as Error).message);
    expect((fromWorker as ModelError).exitCode).toBe((inProcess as ModelError).exitCode);
  });

  it('a ModelTooLargeError from the worker is rebuilt as one (fatal in chooseLipschitz)', async () => {
    const model = readOnnxModel(gemmModel({ seed: 1 }));
    const script = answering('too-large', { error: { name: 'ModelTooLargeError', message: "node 'x': too large", exitCode: 2, lip: true } });
    const job = backgroundBound(model, {}, script);
    await job.settled;
    expect(() => job.result()).toThrow(ModelTooLargeError);
    expect(() => job.result()).toThrow("node 'x': too large");
  });

  it.each([
    ['no worker script', (): string | null => null],
    ['a script that throws at start', (): string => writeScript(tmp.path('boom.js'), "throw new Error('boom at start');\n")],
    ['an internal (non-lip) error', (): string => answering('internal', { error: { name: 'TypeError', message: 'x is undefined', exitCode: 1, lip: false } })],
    [
      'a lip error class the main thread does not know',
      (): string => answering('unknown', { error: { name: 'NewError', message: 'm', exitCode: 2, lip: true } }),
    ],
    ['a script that exits without answering', (): string => writeScript(tmp.path('silent.js'), 'process.exit(0);\n')],
  ])('%s: the bound is computed in process instead', async (_label, script) => {
    const model = readOnnxModel(gemmModel({ seed: 2 }));
    const job = backgroundBound(model, {}, script());
    expect(plain(await settledResult(job))).toEqual(plain(lipschitzBound(model, {})));
  });

  it("in process after no usable answer, the bound's error is thrown as lipschitzBound throws it", async () => {
    const model = readOnnxModel(productModel(28, 28, 10, 4));
    const job = backgroundBound(model, {}, null);
    await job.settled;
    expect(() => job.result()).toThrow(ModelError);
  });

  it('a thread started before its task (SpareBoundThread) gives the same bound once it gets one', async () => {
    const spare = SpareBoundThread.start();
    expect(spare).not.toBeNull();
    const model = readOnnxModel(path.join(ROOT, 'test/fixtures/audit/torchlip.onnx'));
    const job = backgroundBound(model, { exactConv: false }, boundWorkerScript(), spare);
    expect(plain(await settledResult(job))).toEqual(plain(lipschitzBound(model, { exactConv: false })));
  });

  it('a spare thread that stopped before its task: the bound is computed in process', async () => {
    const spare = SpareBoundThread.start(writeScript(tmp.path('dies.js'), 'process.exit(3);\n'));
    expect(spare).not.toBeNull();
    await new Promise<void>((resolve) => spare!.worker.once('exit', () => resolve()));
    expect(spare!.alive).toBe(false);
    const model = readOnnxModel(gemmModel({ seed: 4 }));
    const job = backgroundBound(model, {}, boundWorkerScript(), spare);
    expect(plain(await settledResult(job))).toEqual(plain(lipschitzBound(model, {})));
  });

  it('a spare thread that gets no task ends with end()', async () => {
    const spare = SpareBoundThread.start()!;
    const exited = new Promise<number>((resolve) => spare.worker.once('exit', resolve));
    spare.end();
    await expect(exited).resolves.toBeDefined();
    expect(SpareBoundThread.start(null)).toBeNull();
  });

  describe('SpareBoundThread.fold: the model read and folded on the thread', () => {
    const shipped = path.join(ROOT, 'models/fashion-mnist-ortho.onnx');

    it('gives what readOnnxModelHashed gives in process, then the bound it started for the fixed input shape', async () => {
      const spare = SpareBoundThread.start()!;
      const folded = await spare.fold(shipped, {}, true);
      const inProcess = readOnnxModelHashed(shipped, {});
      expect(folded).not.toBeNull();
      expect(folded!.sha256).toBe(inProcess.sha256);
      // (Maps compared entry by entry: under jest, the ones that crossed from the thread belong to another realm.)
      expect(mapsAsEntries(folded!.model)).toEqual(mapsAsEntries(inProcess.model));
      // The thread started the bound for [1, 28, 28] at once; its answer was posted before anyone asked, and is not lost.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const post = jest.spyOn(spare.worker, 'postMessage');
      const job = backgroundBound(folded!.model, { inputShape: [1, 28, 28] }, boundWorkerScript(), spare);
      expect(plain(await settledResult(job))).toEqual(plain(lipschitzBound(inProcess.model, { inputShape: [1, 28, 28] })));
      expect(post).not.toHaveBeenCalled();
      spare.end();
    });

    it('a task with other options than the started bound is posted, and answered after it', async () => {
      const bytes = gemmModel({ seed: 4 });
      const spare = SpareBoundThread.start()!;
      const folded = await spare.fold(bytes, { inputShape: [1, 28, 28] }, false);
      expect(folded!.sha256).toBe('');
      const model = readOnnxModel(bytes, { inputShape: [1, 28, 28] });
      // A dense work limit of 1 takes a cheaper, larger bound than the started one: the answers differ.
      const limited = { inputShape: [1, 28, 28], limits: { denseWork: 1 } };
      expect(lipschitzBound(model, limited).total).toBeGreaterThan(lipschitzBound(model, { inputShape: [1, 28, 28] }).total);
      const post = jest.spyOn(spare.worker, 'postMessage');
      const job = backgroundBound(folded!.model, limited, boundWorkerScript(), spare);
      expect(plain(await settledResult(job))).toEqual(plain(lipschitzBound(model, limited)));
      expect(post).toHaveBeenCalledTimes(1);
      spare.end();
    });

    it("the reader's error comes back as the same class with the same message", async () => {
      const bad = tmp.path('bad.onnx');
      fs.writeFileSync(bad, Buffer.from('not an onnx file at all'));
      let inProcess: unknown;
      try {
        readOnnxModelHashed(bad, {});
      } catch (err) {
        inProcess = err;
      }
      expect(inProcess).toBeInstanceOf(ModelError);
      const spare = SpareBoundThread.start()!;
      const onThread = spare.fold(bad, {}, true);
      await expect(onThread).rejects.toThrow(ModelError);
      await expect(onThread).rejects.toThrow((inProcess as Error).message);
      spare.end();
      const missing = SpareBoundThread.start()!;
      await expect(missing.fold(tmp.path('missing.onnx'), {}, true)).rejects.toThrow(/model file '.*missing\.onnx' does not exist/);
      missing.end();
    });

    it('a thread that stopped, or fails inside, gives null (then the caller reads in process)', async () => {
      const dead = SpareBoundThread.start(writeScript(tmp.path('dies-early.js'), 'process.exit(3);\n'))!;
      await new Promise<void>((resolve) => dead.worker.once('exit', () => resolve()));
      await expect(dead.fold(shipped, {}, true)).resolves.toBeNull();
      const broken = SpareBoundThread.start(
        writeScript(
          tmp.path('internal-error.js'),
          "const { parentPort } = require('worker_threads');\n" +
            "parentPort.once('message', () => parentPort.postMessage({ error: { name: 'TypeError', message: 'x is undefined', exitCode: 1, lip: false } }));\n",
        ),
      )!;
      await expect(broken.fold(shipped, {}, true)).resolves.toBeNull();
      broken.end();
    });
  });

  it('cancel stops the worker and settles', async () => {
    const model = readOnnxModel(path.join(ROOT, 'models/fashion-mnist-ortho.onnx'));
    const job = backgroundBound(model, {});
    job.cancel();
    await expect(job.settled).resolves.toBeUndefined();
  });
});

/** `value` with every Map (of any realm) replaced by its entries and every typed array by its type and sha256, recursively. */
function mapsAsEntries(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return `${Object.prototype.toString.call(value)} ${crypto.createHash('sha256').update(bytes).digest('hex')}`;
  }
  if (Object.prototype.toString.call(value) === '[object Map]') {
    return Array.from((value as Map<unknown, unknown>).entries(), ([k, v]) => [k, mapsAsEntries(v)]);
  }
  if (Array.isArray(value)) return value.map(mapsAsEntries);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapsAsEntries(v)]));
  }
  return value;
}

function writeScript(file: string, text: string): string {
  fs.writeFileSync(file, text);
  return file;
}
