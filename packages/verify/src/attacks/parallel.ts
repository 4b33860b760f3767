/**
 * Gradient attacks over `worker_threads` (main-thread side).
 *
 * Images are independent in every gradient attack except for two couplings,
 * which the pool keeps exact:
 * - cw's abort early compares the loss of the whole batch: workers meet at a
 *   barrier at each check (every steps/10 Adam steps) and all sum every image's
 *   loss in image order (attack_worker.ts);
 * - pgd's random start is one seeded stream over the batch: the pool draws it
 *   here and gives each worker its rows.
 * Each worker has its own tfjs backend (the main thread's: wasm or cpu) and its
 * own translation of the model, and attacks a contiguous share of each batch.
 *
 * A watchdog (`@lip/core` worker_watchdog.ts) bounds every wait for a
 * worker: its start, and each request's silences (any message, progress
 * included, counts as an answer), scaled to the worker's rows. A worker
 * waiting at cw's barrier is not silent by its own doing and is not counted.
 * A worker silent for longer is reported by name and stopped, the others are
 * released from the barrier, and the batch fails with WorkerStuckError (exit
 * code 1).
 *
 * Workers run the compiled dist/attacks/attack_worker.js: under ts sources
 * (Jest) the script is found in the package's dist folder, so build first
 * (`npx tsc -b`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { SilenceTimer, WorkerStuckError, silenceBoundHint, stuckWorkerTestHook, terminateWithin, workerSilenceBound } from '@lip/core';
import { LipError } from '@lip/train';
import { AttackOutput, AttackProgress, Nchw, perInput } from './common';
import { pgdRandomStart } from './pgd';
import { ShardSpec } from './shard';
import { AttackRequest, AttackWorkerInit, AttackWorkerReply, BARRIER_FAILED, BARRIER_GENERATION, BARRIER_WAITING, barrierInts } from './worker_protocol';

/** The compiled worker script. */
export function attackWorkerScript(): string {
  const script = __filename.endsWith('.ts') ? path.resolve(__dirname, '../../dist/attacks/attack_worker.js') : path.join(__dirname, 'attack_worker.js');
  if (!fs.existsSync(script)) {
    throw new LipError(`the attack worker script ${script} is missing: build first (npx tsc -b)`, 1);
  }
  return script;
}

/** Options of `AttackPool.start`. */
export interface AttackPoolOptions {
  workers: number;
  modelBytes: Uint8Array;
  /** For messages: the model's path. */
  source: string;
  backend: 'wasm' | 'cpu';
  /** Install lip's wasm kernels in the workers (do so when the main thread has them, see `wasmKernelsInstalled`). */
  wasmKernels: boolean;
  /** Most images of one batch. */
  maxBatch: number;
}

interface Member {
  worker: Worker;
  /** Runs while the worker owes an answer (see the module comment). */
  watchdog: SilenceTimer;
  /** What the worker owes, for messages: "cw on 5 images". */
  awaiting: string;
  /** Handlers of the request in flight. */
  pending: { resolve: (r: AttackWorkerReply) => void; reject: (e: Error) => void; progress: (p: AttackProgress) => void } | null;
  failure: Error | null;
}

export class AttackPool {
  private constructor(
    private readonly members: Member[],
    private readonly control: Int32Array,
  ) {}

  get size(): number {
    return this.members.length;
  }

  /** Starts `opts.workers` workers and waits until each has translated the model. */
  static async start(opts: AttackPoolOptions): Promise<AttackPool> {
    const script = attackWorkerScript();
    const controlBuffer = new SharedArrayBuffer(4 * barrierInts(opts.workers));
    const control = new Int32Array(controlBuffer);
    const losses = new SharedArrayBuffer(8 * 2 * Math.max(1, opts.maxBatch));
    const members: Member[] = [];
    const ready: Promise<unknown>[] = [];
    const stuckHook = stuckWorkerTestHook();
    for (let i = 0; i < opts.workers; i++) {
      const init: AttackWorkerInit = {
        index: i,
        stuckAtRequest: stuckHook?.worker === i ? stuckHook.request : null,
        modelBytes: opts.modelBytes,
        source: opts.source,
        backend: opts.backend,
        wasmKernels: opts.wasmKernels,
        control: controlBuffer,
        losses,
      };
      const worker = new Worker(script, { workerData: init });
      const name = `attack worker ${i} of ${opts.workers}`;
      const member: Member = {
        worker,
        watchdog: new SilenceTimer((boundMs) => {
          // Waiting at cw's barrier: silent because a peer is; that one's own watchdog reports it.
          if (Atomics.load(control, BARRIER_WAITING + i) === 1) {
            member.watchdog.start(boundMs);
            return;
          }
          fail(
            new WorkerStuckError(`${name} stopped answering during its ${member.awaiting}: nothing from it for ${silenceBoundHint(boundMs)}. The attack stops`),
          );
          void terminateWithin(worker);
        }),
        awaiting: 'start (backend and model translation)',
        pending: null,
        failure: null,
      };
      member.watchdog.start(workerSilenceBound(0, opts.workers));
      members.push(member);
      ready.push(
        new Promise((resolve, reject) => {
          member.pending = { resolve, reject, progress: () => undefined };
        }),
      );
      const fail = (err: Error): void => {
        member.watchdog.stop();
        if (member.failure === null) member.failure = err;
        // Workers waiting for this one at the cw barrier stop.
        Atomics.store(control, BARRIER_FAILED, 1);
        Atomics.notify(control, BARRIER_GENERATION);
        const pending = member.pending;
        member.pending = null;
        pending?.reject(err);
      };
      worker.on('message', (message: AttackWorkerReply) => {
        if (message.type === 'progress') {
          member.watchdog.heard();
          member.pending?.progress(message.progress);
          return;
        }
        if (message.type === 'error') {
          fail(new LipError(`attack worker ${i}: ${message.message}`, 1));
          return;
        }
        member.watchdog.stop();
        const pending = member.pending;
        member.pending = null;
        pending?.resolve(message);
      });
      worker.on('error', (err) => fail(new LipError(`attack worker ${i} failed: ${err.message}`, 1)));
      worker.on('exit', (code) => {
        if (member.pending !== null) fail(new LipError(`attack worker ${i} exited (code ${code})`, 1));
      });
    }
    const pool = new AttackPool(members, control);
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.dispose();
      throw err;
    }
    return pool;
  }

  /**
   * Attacks one batch (`shape[0]` images): contiguous rows per worker (at most
   * one worker per image), results put back in batch order. `onProgress` sees
   * the slowest worker's progress.
   */
  async run(spec: ShardSpec, x: Float32Array, shape: Nchw, labels: number[], onProgress?: (p: AttackProgress) => void): Promise<AttackOutput> {
    const n = shape[0];
    const d = perInput(shape);
    const parties = Math.max(1, Math.min(this.members.length, n));
    const start = spec.attack === 'pgd' ? pgdRandomStart(x, n, d, spec.eps!, spec.bounds, spec.seed ?? 0) : undefined;
    const progress = new ProgressMerger(parties, onProgress);
    const runs: Promise<AttackWorkerReply>[] = [];
    const rows: [number, number][] = [];
    for (let w = 0; w < parties; w++) {
      const first = Math.floor((w * n) / parties);
      const end = Math.floor(((w + 1) * n) / parties);
      rows.push([first, end]);
      const request: AttackRequest = {
        type: 'attack',
        spec,
        x: x.slice(first * d, end * d),
        shape: [end - first, shape[1], shape[2], shape[3]],
        labels: labels.slice(first, end),
        start: start?.slice(first * d, end * d),
        offset: first,
        batchRows: n,
        parties,
      };
      runs.push(this.request(w, request, (p) => progress.update(w, p)));
    }
    const replies = await Promise.all(runs);
    const adv = new Float32Array(n * d);
    const found = new Array<boolean>(n).fill(false);
    let gradientSteps: number | undefined;
    replies.forEach((r, w) => {
      if (r.type !== 'done') throw new LipError(`attack worker ${w} sent '${r.type}' instead of a result`, 1);
      const [first] = rows[w];
      adv.set(r.adv, first * d);
      r.found.forEach((f, i) => {
        found[first + i] = f;
      });
      // Every worker runs the same steps on its rows (cw's barrier keeps them in step): count them once.
      if (r.gradientSteps !== undefined) gradientSteps = Math.max(gradientSteps ?? 0, r.gradientSteps);
    });
    return { adv, found, gradientSteps };
  }

  private request(i: number, message: AttackRequest, progress: (p: AttackProgress) => void): Promise<AttackWorkerReply> {
    const member = this.members[i];
    if (member.failure !== null) return Promise.reject(member.failure);
    if (Atomics.load(this.control, BARRIER_FAILED) !== 0) return Promise.reject(new LipError('an attack worker failed earlier', 1));
    return new Promise((resolve, reject) => {
      member.pending = { resolve, reject, progress };
      const rows = message.shape[0];
      member.awaiting = `${message.spec.attack} on ${rows} image${rows === 1 ? '' : 's'}`;
      member.watchdog.start(workerSilenceBound(rows, this.members.length));
      member.worker.postMessage(message);
    });
  }

  /** Stops the workers (without waiting for good on one that cannot be stopped). */
  async dispose(): Promise<void> {
    for (const m of this.members) m.watchdog.stop();
    await Promise.all(this.members.map((m) => terminateWithin(m.worker)));
  }
}

/**
 * One progress stream from several workers: detail ticks report the worker
 * furthest behind; other updates (cw: a binary-search step done) once every
 * worker has sent them.
 */
class ProgressMerger {
  private readonly detail: (AttackProgress | null)[];
  private readonly milestones: AttackProgress[][];
  private sentMilestones = 0;
  private lastDetail = -1;

  constructor(
    parties: number,
    private readonly onProgress?: (p: AttackProgress) => void,
  ) {
    this.detail = new Array<AttackProgress | null>(parties).fill(null);
    this.milestones = Array.from({ length: parties }, () => []);
  }

  update(worker: number, p: AttackProgress): void {
    if (!this.onProgress) return;
    if (p.detail) {
      this.detail[worker] = p;
      if (this.detail.some((q) => q === null)) return;
      const slowest = this.detail.reduce((a, b) => (b!.done / b!.total < a!.done / a!.total ? b : a))!;
      if (slowest.done === this.lastDetail) return;
      this.lastDetail = slowest.done;
      this.onProgress(slowest);
      return;
    }
    this.milestones[worker].push(p);
    const ready = Math.min(...this.milestones.map((m) => m.length));
    while (this.sentMilestones < ready) this.onProgress(this.milestones[0][this.sentMilestones++]);
  }
}
