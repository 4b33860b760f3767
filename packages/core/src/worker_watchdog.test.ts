import * as os from 'os';
import { InvalidArgumentError } from './errors';
import {
  SilenceTimer,
  WORKER_SILENCE_FLOOR_MS,
  WORKER_SILENCE_PER_ROW_MS,
  formatDuration,
  stuckWorkerTestHook,
  terminateWithin,
  workerSilenceBound,
} from './worker_watchdog';

const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);

describe('workerSilenceBound', () => {
  it('is max(floor, rows x per-row budget), times the workers per core beyond 1', () => {
    expect(workerSilenceBound(0, 1, {})).toBe(WORKER_SILENCE_FLOOR_MS);
    expect(workerSilenceBound(10, 1, {})).toBe(WORKER_SILENCE_FLOOR_MS);
    expect(workerSilenceBound(1000, 1, {})).toBe(1000 * WORKER_SILENCE_PER_ROW_MS);
    expect(workerSilenceBound(1000, 4 * cores, {})).toBe(4 * 1000 * WORKER_SILENCE_PER_ROW_MS);
  });

  it('never exceeds what setTimeout takes (a longer delay would fire at once)', () => {
    expect(workerSilenceBound(1e9, 64, {})).toBe(2 ** 31 - 1);
  });

  it('$LIP_WORKER_TIMEOUT_MS replaces it; a bad value is an error naming the variable', () => {
    expect(workerSilenceBound(1000, 8, { LIP_WORKER_TIMEOUT_MS: '2500' })).toBe(2500);
    for (const bad of ['0', '-5', 'soon', 'NaN']) {
      expect(() => workerSilenceBound(1, 1, { LIP_WORKER_TIMEOUT_MS: bad })).toThrow(
        new InvalidArgumentError(`$LIP_WORKER_TIMEOUT_MS must be a positive number of milliseconds, got ${JSON.stringify(bad)}`),
      );
    }
  });
});

test('formatDuration', () => {
  expect([850, 2000, 2500, 119_000, 120_000, 270_000].map(formatDuration)).toEqual(['850 ms', '2 s', '2.5 s', '119 s', '2 min', '4.5 min']);
});

test('stuckWorkerTestHook parses <worker>:<request> and rejects anything else', () => {
  expect(stuckWorkerTestHook({})).toBeNull();
  expect(stuckWorkerTestHook({ LIP_TEST_STUCK_WORKER: '1:4' })).toEqual({ worker: 1, request: 4 });
  for (const bad of ['1', '1:0', 'a:b', '1:2:3']) {
    expect(() => stuckWorkerTestHook({ LIP_TEST_STUCK_WORKER: bad })).toThrow(InvalidArgumentError);
  }
});

describe('SilenceTimer', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('fires once the bound passes without heard(); heard() counts from then; stop() disarms', () => {
    const silent: number[] = [];
    const timer = new SilenceTimer((ms) => silent.push(ms));
    timer.start(1000);
    jest.advanceTimersByTime(900);
    timer.heard();
    jest.advanceTimersByTime(900);
    expect(silent).toEqual([]);
    jest.advanceTimersByTime(100);
    expect(silent).toEqual([1000]);
    // Fired: heard() does not re-arm it.
    timer.heard();
    jest.advanceTimersByTime(5000);
    expect(silent).toEqual([1000]);
    timer.start(200);
    timer.stop();
    jest.advanceTimersByTime(5000);
    expect(silent).toEqual([1000]);
  });
});

test('terminateWithin gives up on a worker that cannot be stopped, and unreferences it', async () => {
  const stuck = { terminate: () => new Promise<number>(() => undefined), unref: jest.fn() };
  await terminateWithin(stuck, 50);
  expect(stuck.unref).toHaveBeenCalledTimes(1);
  const fine = { terminate: jest.fn(async () => 1), unref: jest.fn() };
  await terminateWithin(fine, 50);
  expect(fine.terminate).toHaveBeenCalledTimes(1);
  expect(fine.unref).not.toHaveBeenCalled();
});
