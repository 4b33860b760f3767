/** Processes, environment variables and waiting, for tests of locks, kills and temp-file clean-up. */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { processAlive } from '@lip/core';

/** The pid of a process that has exited (and been reaped): no process has it now. */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.status).toBe(0);
  expect(processAlive(r.pid)).toBe(false);
  return r.pid;
}

export interface ChildrenPerTest {
  /** A live node process that sleeps for two minutes. */
  sleeper(): ChildProcess;
  /** Kills `child` after the test too. */
  track<T extends ChildProcess>(child: T): T;
}

/** Child processes a test starts, SIGKILLed after it (call at the top of a file or describe block). */
export function childrenPerTest(): ChildrenPerTest {
  const started: ChildProcess[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) child.kill('SIGKILL');
  });
  const track = <T extends ChildProcess>(child: T): T => {
    started.push(child);
    return child;
  };
  return {
    track,
    sleeper() {
      const child = track(spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' }));
      expect(processAlive(child.pid!)).toBe(true);
      return child;
    },
  };
}

/** Runs `fn` with the variables of `env` set in process.env, then puts their previous values back (unset ones unset). */
export async function withEnv<T>(env: Record<string, string>, fn: () => T | Promise<T>): Promise<T> {
  const saved = Object.keys(env).map((name) => [name, process.env[name]] as const);
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** Polls `cond` (a state on disk or of a process, never a timing guess) every `pollMs` until it holds; throws after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, { timeoutMs = 120_000, pollMs = 20 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
