/**
 * Watchdogs of the worker pools (data-parallel training, attack workers, the
 * threaded wasm backend's pthread workers at startup): a worker that stays
 * silent longer than a generous bound is reported by name and its pool fails
 * with `WorkerStuckError` (exit code 1) instead of waiting forever.
 *
 * The bound for work on `rows` rows shared by `workers` workers:
 *   max(WORKER_SILENCE_FLOOR_MS, rows * WORKER_SILENCE_PER_ROW_MS) * max(1, workers / cores)
 * (the last factor: more workers than cores share them). Measured work is
 * about 1 ms per row (training: 1,000 images/s per worker; a cw step: 0.25 ms
 * per image), so 1 s per row leaves a margin of about 1000 for slower models,
 * backends and machines. `$LIP_WORKER_TIMEOUT_MS` replaces the bound (tests
 * set a small one).
 */
import * as os from 'os';
import { InvalidArgumentError, LipError } from './errors';

/** No worker is declared stuck sooner than this (startup included). */
export const WORKER_SILENCE_FLOOR_MS = 120_000;
/** Silence allowed per row of the work a worker was given. */
export const WORKER_SILENCE_PER_ROW_MS = 1_000;
/** Environment variable replacing the bound (milliseconds). */
export const WORKER_TIMEOUT_ENV = 'LIP_WORKER_TIMEOUT_MS';
/** Test hook: `<worker>:<request>` makes that worker block forever at that request (see `stuckWorkerTestHook`). */
export const STUCK_WORKER_TEST_ENV = 'LIP_TEST_STUCK_WORKER';

/** Longest delay `setTimeout` takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A worker that stopped answering; its pool was stopped. */
export class WorkerStuckError extends LipError {
  constructor(message: string) {
    super(message, 1);
  }
}

/** How long a worker given `rows` rows (0 for startup) may stay silent (see the module comment). */
export function workerSilenceBound(rows: number, workers: number, env: NodeJS.ProcessEnv = process.env): number {
  const override = env[WORKER_TIMEOUT_ENV];
  if (override !== undefined && override !== '') {
    const ms = Number(override);
    if (!(Number.isFinite(ms) && ms > 0)) {
      throw new InvalidArgumentError(`$${WORKER_TIMEOUT_ENV} must be a positive number of milliseconds, got ${JSON.stringify(override)}`);
    }
    return Math.min(ms, MAX_TIMER_MS);
  }
  const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const bound = Math.max(WORKER_SILENCE_FLOOR_MS, rows * WORKER_SILENCE_PER_ROW_MS) * Math.max(1, workers / cores);
  return Math.min(Math.ceil(bound), MAX_TIMER_MS);
}

/** `ms` for messages: "850 ms", "2.5 s", "4 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}

/** What to say about the bound in an error: its value and how to change it. */
export function silenceBoundHint(boundMs: number): string {
  return `${formatDuration(boundMs)}; set $${WORKER_TIMEOUT_ENV} to allow more`;
}

/**
 * Calls `onSilent(boundMs)` when `boundMs` pass without `heard()`. The timer
 * keeps the process alive while armed: a stuck worker must be reported, not
 * left behind by an exiting process.
 */
export class SilenceTimer {
  private timer: NodeJS.Timeout | null = null;
  private boundMs = 0;

  constructor(private readonly onSilent: (boundMs: number) => void) {}

  /** Starts counting (again) with `boundMs`. */
  start(boundMs: number): void {
    this.boundMs = boundMs;
    this.arm();
  }

  /** The worker answered: count from now (same bound). No effect when stopped. */
  heard(): void {
    if (this.timer !== null) this.arm();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.stop();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onSilent(this.boundMs);
    }, this.boundMs);
  }
}

/**
 * Test hook read by the pools: `$LIP_TEST_STUCK_WORKER=<worker>:<request>`
 * (worker index from 0, request count from 1) makes that worker block forever
 * when its `request`-th request arrives, so tests can check the watchdogs.
 */
export function stuckWorkerTestHook(env: NodeJS.ProcessEnv = process.env): { worker: number; request: number } | null {
  const value = env[STUCK_WORKER_TEST_ENV];
  if (value === undefined || value === '') return null;
  const m = /^(\d+):(\d+)$/.exec(value);
  if (m === null || Number(m[2]) < 1) {
    throw new InvalidArgumentError(`$${STUCK_WORKER_TEST_ENV} must be '<worker>:<request>' (request from 1), got ${JSON.stringify(value)}`);
  }
  return { worker: Number(m[1]), request: Number(m[2]) };
}

/** Blocks the calling thread for good, as a stuck worker does (`Worker.terminate()` still stops it). */
export function blockForever(): never {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

/**
 * Terminates `worker`, waiting at most `waitMs`: a thread stuck in a blocking
 * system call cannot be stopped, and the pool must not hang on it (such a
 * worker is unreferenced; Node may still wait for it when the process exits).
 */
export async function terminateWithin(worker: { terminate(): Promise<number>; unref(): void }, waitMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), waitMs);
  });
  const result = await Promise.race([worker.terminate().catch(() => 0), gaveUp]);
  clearTimeout(timer);
  if (result === 'timeout') worker.unref();
}
