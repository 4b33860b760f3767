/**
 * The bound thread the CLI starts before it loads (./bound_thread.ts): it is
 * adopted by `SpareBoundThread.start()` and gives the in-process bound, it
 * never keeps a process alive on its own, `verifyModel` ends it when it does
 * not need it, and it loads only the parts of @lip/core the bound uses. The
 * real worker runs dist/bound_worker.js (`npx tsc -b`).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT } from '@lip/test-support';
import { SpareBoundThread, backgroundBound } from './background_bound';
import { lipschitzBound } from './bound';
import { boundWorkerScript, prestartBoundThread, takePrestartedBoundThread } from './bound_thread';
import { readOnnxModel } from './onnx/read';
import { verifyModel } from './verify';

const exitOf = (worker: { once(event: 'exit', f: (code: number) => void): unknown }): Promise<number> => new Promise((resolve) => worker.once('exit', resolve));

describe('prestartBoundThread', () => {
  afterEach(() => {
    takePrestartedBoundThread(null);
  });

  it('is adopted by SpareBoundThread.start() and gives the in-process bound', async () => {
    const early = prestartBoundThread();
    expect(early).not.toBeNull();
    expect(prestartBoundThread()).toBe(early);
    const spare = SpareBoundThread.start();
    expect(spare?.worker).toBe(early!.worker);
    // Taken: a second start gets a new thread.
    const other = SpareBoundThread.start()!;
    expect(other.worker).not.toBe(early!.worker);
    other.end();
    const model = readOnnxModel(path.join(ROOT, 'test/fixtures/audit/torchlip.onnx'));
    const job = backgroundBound(model, { exactConv: false }, boundWorkerScript(), spare);
    await job.settled;
    expect(job.result()).toEqual(lipschitzBound(model, { exactConv: false }));
  });

  it('is not adopted for another script: it is ended', async () => {
    const early = prestartBoundThread()!;
    const exited = exitOf(early.worker);
    expect(SpareBoundThread.start(null)).toBeNull();
    await expect(exited).resolves.toBeDefined();
    expect(takePrestartedBoundThread(boundWorkerScript())).toBeNull();
  });

  it('verifyModel without a bound thread ends it', async () => {
    const early = prestartBoundThread()!;
    const exited = exitOf(early.worker);
    await expect(verifyModel(path.join(ROOT, 'models/fashion-mnist-ortho.onnx'), { data: path.join(ROOT, 'no-such-data') })).rejects.toThrow();
    await expect(exited).resolves.toBeDefined();
    expect(takePrestartedBoundThread(boundWorkerScript())).toBeNull();
  });

  it('does not keep a process alive, and its worker loads neither the whole of @lip/core nor onnxruntime', () => {
    const dist = path.join(ROOT, 'packages/verify/dist');
    const script = [
      `const t = require(${JSON.stringify(path.join(dist, 'bound_thread.js'))}).prestartBoundThread();`,
      `if (!t) throw new Error('no thread');`,
      `require(${JSON.stringify(path.join(dist, 'bound_worker.js'))});`,
      `const loaded = Object.keys(require.cache);`,
      `console.log(JSON.stringify(loaded.filter((f) => /core[\\\\/]dist[\\\\/]index\\.js$|onnxruntime/.test(f))));`,
    ].join('\n');
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.error).toBeUndefined();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([]);
  });
});
