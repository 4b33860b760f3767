/**
 * A data-parallel worker that stops answering (the test hook
 * $LIP_TEST_STUCK_WORKER blocks it for good) fails the run within the
 * watchdog's bound ($LIP_WORKER_TIMEOUT_MS, small here) with a
 * WorkerStuckError naming it, and the checkpoint on disk stays the last
 * complete one. The small bound is set when an epoch starts (each request
 * reads it), so the workers' start keeps the default bound however loaded
 * the machine. (Workers run dist/: build first, `npx tsc -b`.)
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { WorkerStuckError } from '@lip/core';
import { tmpDirPerSuite } from '@lip/test-support';
import { FASHION_DIR } from '@lip/test-support/data';
import { train } from './train';

const BOUND_MS = 3000;
// 64 images in batches of 32 over 2 workers: per epoch each worker gets 2 step
// requests (16 rows each) and 1 evaluation batch (32 of the 64 test images).
// Its 4th request is the first step of epoch 2.
const RUN = { arch: 'seed', dataDir: FASHION_DIR, backend: 'wasm' as const, seed: 3, limit: 64, batchSize: 32, epochs: 2, workers: 2 };
const STUCK = '1:4';

const tmp = tmpDirPerSuite('watchdog');
const savedEnv: Record<string, string | undefined> = {};
beforeAll(() => {
  for (const name of ['LIP_WORKER_TIMEOUT_MS', 'LIP_TEST_STUCK_WORKER']) savedEnv[name] = process.env[name];
});
afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** Every file under `dir`: relative path -> sha256 of its bytes. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    files.set(path.relative(dir, file), crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
  }
  return files;
}

test('a stuck worker fails the run within the bound, named; the checkpoint keeps epoch 1 and resumes', async () => {
  const outDir = tmp.path('run');
  process.env.LIP_TEST_STUCK_WORKER = STUCK;
  let afterEpoch1 = null as Map<string, string> | null;
  let epoch2Started = 0;
  let error: unknown;
  try {
    await train(
      { ...RUN, outDir },
      {
        onEpochEnd: (record) => {
          if (record.epoch === 1) afterEpoch1 = snapshot(outDir);
        },
        onEpochStart: ({ epoch }) => {
          if (epoch !== 2) return;
          process.env.LIP_WORKER_TIMEOUT_MS = String(BOUND_MS);
          epoch2Started = Date.now();
        },
      },
    );
  } catch (err) {
    error = err;
  }
  const elapsed = Date.now() - epoch2Started;
  expect(error).toBeInstanceOf(WorkerStuckError);
  expect((error as WorkerStuckError).exitCode).toBe(1);
  expect((error as Error).message).toBe(
    'data-parallel worker 1 of 2 stopped answering: no reply to its training step (16 rows) within 3 s; ' +
      "set $LIP_WORKER_TIMEOUT_MS to allow more. Training stops (the last complete epoch's checkpoint is kept)",
  );
  expect(epoch2Started).toBeGreaterThan(0);
  // After the bound, well before Jest's timeout (generous: a loaded machine).
  expect(elapsed).toBeGreaterThanOrEqual(BOUND_MS);
  expect(elapsed).toBeLessThan(BOUND_MS + 60_000);
  // The checkpoint on disk is epoch 1's, byte for byte (nothing partial, no staging left).
  expect([...afterEpoch1!.keys()].sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'train.json', 'weights.bin']);
  expect(snapshot(outDir)).toEqual(afterEpoch1);
  expect(JSON.parse(fs.readFileSync(path.join(outDir, 'train.json'), 'utf8')).epochs).toHaveLength(1);

  // Without the hook the run resumes from it and finishes.
  delete process.env.LIP_TEST_STUCK_WORKER;
  delete process.env.LIP_WORKER_TIMEOUT_MS;
  const resumed = await train({ ...RUN, outDir, resume: true });
  expect(resumed.trainState.epochs.map((e) => e.epoch)).toEqual([1, 2]);
  resumed.model.dispose();
});

test('a worker stuck at the first step: the run fails, named, and writes no checkpoint', async () => {
  process.env.LIP_TEST_STUCK_WORKER = '0:1';
  const setBound = (): void => {
    process.env.LIP_WORKER_TIMEOUT_MS = String(BOUND_MS);
  };
  await expect(train({ ...RUN, epochs: 1, outDir: tmp.path('first') }, { onEpochStart: setBound })).rejects.toThrow(
    /^data-parallel worker 0 of 2 stopped answering: no reply to its training step \(16 rows\) within 3 s/,
  );
  expect(fs.existsSync(tmp.path('first', 'train.json'))).toBe(false);
});
