/**
 * An attack worker that stops answering (the test hook $LIP_TEST_STUCK_WORKER
 * blocks it for good) fails the attack within the watchdog's bound
 * ($LIP_WORKER_TIMEOUT_MS, small here) with a WorkerStuckError naming it,
 * not one of the workers waiting for it at cw's barrier, and nobody stays
 * blocked. The workers run dist/: build first (`npx tsc -b`).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { WorkerStuckError } from '@lip/core';
import { randomImages } from '@lip/test-support';
import { honestConvModel } from '@lip/test-support/onnx';
import { readOnnxModel } from '../onnx/read';
import { openSession } from '../session';
import { AttackRunOptions, runAttack } from './run';

const BOUND_MS = 2000;
const N = 4;
const CHW: [number, number, number] = [1, 6, 6];
// Batches of 2 images over 2 workers: 1 image per worker per batch; request 2 is the second batch.
const RUN = { batchSize: 2, workers: 2 };

const savedEnv: Record<string, string | undefined> = {};
beforeAll(async () => {
  await tf.setBackend('wasm');
  for (const name of ['LIP_WORKER_TIMEOUT_MS', 'LIP_TEST_STUCK_WORKER']) savedEnv[name] = process.env[name];
});
afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/**
 * Runs the attack with worker `stuck` (`<worker>:<request>`) blocked. The small
 * bound is set once the first batch reports progress (each request reads it),
 * so the workers' start keeps the default bound however loaded the machine.
 * Returns the error and the milliseconds from then on.
 */
async function attackWithStuckWorker(stuck: string, opts: AttackRunOptions): Promise<{ error: unknown; elapsed: number }> {
  const model = readOnnxModel(honestConvModel(2, 'default'));
  const session = await openSession(model);
  process.env.LIP_TEST_STUCK_WORKER = stuck;
  let boundSet = 0;
  const onProgress = (): void => {
    if (boundSet > 0) return;
    process.env.LIP_WORKER_TIMEOUT_MS = String(BOUND_MS);
    boundSet = Date.now();
  };
  let error: unknown;
  try {
    await runAttack(model, session, randomImages(N, CHW, 3), new Array<number>(N).fill(0), [0, 1, 2, 3], CHW, { ...opts, ...RUN, onProgress });
  } catch (err) {
    error = err;
  } finally {
    await session.close();
  }
  expect(boundSet).toBeGreaterThan(0);
  return { error, elapsed: Date.now() - boundSet };
}

function expectStuckError(result: { error: unknown; elapsed: number }, message: string): void {
  expect(result.error).toBeInstanceOf(WorkerStuckError);
  expect((result.error as WorkerStuckError).exitCode).toBe(1);
  expect((result.error as Error).message).toBe(message);
  // After the bound, well before Jest's timeout (generous: a loaded machine).
  expect(result.elapsed).toBeGreaterThanOrEqual(BOUND_MS);
  expect(result.elapsed).toBeLessThan(BOUND_MS + 60_000);
}

it('cw: the worker stuck before the barrier is named, not the one waiting there (which spoke earlier)', async () => {
  // At its second batch, worker 1 speaks last, once worker 0 waits at the barrier, then blocks:
  // worker 0's silence is the longer.
  const result = await attackWithStuckWorker('1:2', { attack: 'cw', binarySearchSteps: 2, steps: 200 });
  expectStuckError(
    result,
    'attack worker 1 of 2 stopped answering during its cw on 1 image: nothing from it for 2 s; ' + 'set $LIP_WORKER_TIMEOUT_MS to allow more. The attack stops',
  );
});

it('pgd: a worker stuck at the start of its rows is named', async () => {
  const result = await attackWithStuckWorker('0:2', { attack: 'pgd', eps: 0.5, steps: 10, seed: 1 });
  expectStuckError(
    result,
    'attack worker 0 of 2 stopped answering during its pgd on 1 image: nothing from it for 2 s; ' +
      'set $LIP_WORKER_TIMEOUT_MS to allow more. The attack stops',
  );
});
