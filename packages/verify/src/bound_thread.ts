/**
 * Starting the bound thread of `lip verify` (./bound_worker.ts) as early as
 * possible. This module loads nothing but Node's own modules, so the CLI can
 * call `prestartBoundThread()` before it loads anything else
 * (`@lip/verify/bound-thread`): the thread's start-up (a Node environment,
 * the bound's modules) then overlaps the CLI's own. `verifyModel` adopts it
 * through `SpareBoundThread.start()` (./background_bound.ts), or ends it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';

/** A bound thread waiting for its task (a `BoundWorkerInput` message). */
export interface StartedBoundThread {
  readonly worker: Worker;
  readonly script: string;
  /** False once the thread has stopped (then a task given to it gets no answer). */
  alive: boolean;
}

/**
 * The bound thread's young generation (V8's default starts at a few MB): the
 * bound allocates short-lived work arrays at a high rate, and with the default
 * the thread spent about 30 of its 160 ms collecting them; about 18 with this.
 */
export const BOUND_THREAD_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 48 } as const;

/**
 * The compiled worker script, or null when it is missing (jest runs the
 * sources; dist/ is built by `npx tsc -b`). From a bundle of the CLI (this
 * module then is not dist/bound_thread.js), @lip/verify's own dist/.
 */
export function boundWorkerScript(): string | null {
  let script: string;
  if (__filename.endsWith('.ts')) script = path.resolve(__dirname, '../dist/bound_worker.js');
  else if (path.basename(__filename) === 'bound_thread.js') script = path.join(__dirname, 'bound_worker.js');
  else {
    try {
      script = path.join(path.dirname(require.resolve('@lip/verify/package.json')), 'dist', 'bound_worker.js');
    } catch {
      return null;
    }
  }
  return fs.existsSync(script) ? script : null;
}

/** Starts a thread on `script` that waits for its task; null when it cannot start. */
export function startBoundThread(script: string | null): StartedBoundThread | null {
  if (script === null) return null;
  try {
    const thread: StartedBoundThread = { worker: new Worker(script, { workerData: null, resourceLimits: BOUND_THREAD_RESOURCE_LIMITS }), script, alive: true };
    // From the start: an error or an exit before the task is given must neither throw nor be missed.
    thread.worker.once('error', () => (thread.alive = false));
    thread.worker.once('exit', () => (thread.alive = false));
    return thread;
  } catch {
    return null;
  }
}

/**
 * The prestarted thread, on `globalThis`: the launcher (bin/lip.js) starts it
 * through dist/bound_thread.js, and a bundle of the CLI holds its own copy of
 * this module, which must find it.
 */
const PRESTARTED = Symbol.for('@lip/verify: prestarted bound thread');
const registry = globalThis as { [PRESTARTED]?: StartedBoundThread | null };

/**
 * Starts the bound thread of the coming `verifyModel` call now. It does not
 * keep the process alive (unref'd) until `verifyModel` adopts it; it is
 * dropped when that call does not need it (cache hit, no worker).
 * Returns it (null when it cannot start).
 */
export function prestartBoundThread(): StartedBoundThread | null {
  if (!registry[PRESTARTED]) {
    registry[PRESTARTED] = startBoundThread(boundWorkerScript());
    registry[PRESTARTED]?.worker.unref();
  }
  return registry[PRESTARTED] ?? null;
}

/** The prestarted thread when it runs `script` (then ref'd again: its caller owns it), else null; either way none is left. */
export function takePrestartedBoundThread(script: string | null): StartedBoundThread | null {
  const thread = registry[PRESTARTED] ?? null;
  registry[PRESTARTED] = null;
  if (thread === null) return null;
  if (thread.script !== script) {
    void thread.worker.terminate();
    return null;
  }
  thread.worker.ref();
  return thread;
}
