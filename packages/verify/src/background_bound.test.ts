/**
 * The bound on a worker thread (./background_bound.ts) gives what
 * `lipschitzBound` gives in process: the same bound, the same error class
 * and message, and the in-process computation whenever the worker gives no
 * usable answer. The real worker runs dist/bound_worker.js (`npx tsc -b`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ModelError, ModelTooLargeError } from '@lip/core';
import { ROOT, tmpDirPerSuite } from '@lip/test-support';
import { gemmModel, productModel } from '@lip/test-support/onnx';
import { SpareBoundThread, backgroundBound, boundWorkerScript } from './background_bound';
import { LipschitzBound, lipschitzBound } from './bound';
import { readOnnxModel } from './onnx/read';

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

  it('finished() turns true as soon as the worker has computed, before its message is taken (a shared flag)', async () => {
    const model = readOnnxModel(path.join(ROOT, 'models/fashion-mnist-ortho.onnx'));
    const job = backgroundBound(model, {});
    let taken = false;
    void job.settled.then(() => (taken = true));
    // A worker needs tens of milliseconds to start: it cannot have computed yet.
    expect(job.finished()).toBe(false);
    // Spinning synchronously, this thread takes no message: only the shared flag can turn finished() true.
    const deadline = Date.now() + 60_000;
    while (!job.finished() && Date.now() < deadline);
    expect(job.finished()).toBe(true);
    expect(taken).toBe(false);
    expect(plain(await settledResult(job))).toEqual(plain(lipschitzBound(model, {})));
    expect(taken).toBe(true);
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

  it('a spare thread that warmed up while it waited (./bound/warmup.ts) gives the in-process bound of the shipped model', async () => {
    const spare = SpareBoundThread.start();
    expect(spare).not.toBeNull();
    // Time for its warm-up passes (a few tens of ms); the result must not depend on how many ran.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const model = readOnnxModel(path.join(ROOT, 'models/fashion-mnist-ortho.onnx'));
    const job = backgroundBound(model, {}, boundWorkerScript(), spare);
    expect(plain(await settledResult(job))).toEqual(plain(lipschitzBound(model)));
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

  it('cancel stops the worker and settles', async () => {
    const model = readOnnxModel(path.join(ROOT, 'models/fashion-mnist-ortho.onnx'));
    const job = backgroundBound(model, {});
    job.cancel();
    await expect(job.settled).resolves.toBeUndefined();
  });
});

function writeScript(file: string, text: string): string {
  fs.writeFileSync(file, text);
  return file;
}
