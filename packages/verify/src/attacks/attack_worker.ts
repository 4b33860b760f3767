/**
 * Entry point of an attack worker (a `worker_threads` Worker running the
 * compiled dist/attacks/attack_worker.js, started by `AttackPool`).
 *
 * It owns a tfjs backend and its own translation of the ONNX model, and runs
 * `attackShard` on the rows of a batch it is given. For cw, abort early needs
 * the loss of the whole batch: at each check every worker writes its images'
 * losses into the shared array, waits at the barrier, then sums all of them in
 * image order, so every worker takes the decision one thread would take.
 */
import { parentPort, workerData } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { blockForever } from '@lip/core';
import { selectBackend } from '@lip/train';
import { readOnnxModel } from '../onnx/read';
import { translateOnnx } from '../translate/translate';
import { sumInOrder } from './cw';
import { attackShard } from './shard';
import { AttackRequest, AttackWorkerInit, AttackWorkerReply, BARRIER_ARRIVED, BARRIER_FAILED, BARRIER_GENERATION, BARRIER_WAITING } from './worker_protocol';

const init = workerData as AttackWorkerInit;
const port = parentPort!;
const reply = (message: AttackWorkerReply): void => port.postMessage(message);

const control = new Int32Array(init.control);
const losses = new Float64Array(init.losses);

/** Waits until `parties` workers have arrived (Atomics; a worker thread may block). */
function barrier(parties: number): void {
  const generation = Atomics.load(control, BARRIER_GENERATION);
  if (Atomics.add(control, BARRIER_ARRIVED, 1) === parties - 1) {
    Atomics.store(control, BARRIER_ARRIVED, 0);
    Atomics.add(control, BARRIER_GENERATION, 1);
    Atomics.notify(control, BARRIER_GENERATION);
    return;
  }
  Atomics.store(control, BARRIER_WAITING + init.index, 1);
  try {
    while (Atomics.load(control, BARRIER_GENERATION) === generation) {
      if (Atomics.load(control, BARRIER_FAILED) !== 0) throw new Error('another attack worker failed');
      Atomics.wait(control, BARRIER_GENERATION, generation, 1000);
    }
  } finally {
    Atomics.store(control, BARRIER_WAITING + init.index, 0);
  }
}

/** Test hook: once the `parties - 1` others wait at the barrier, speak last, then block for good. */
function stickAtBarrier(parties: number): never {
  while (Atomics.load(control, BARRIER_ARRIVED) < parties - 1) Atomics.wait(control, BARRIER_ARRIVED, Atomics.load(control, BARRIER_ARRIVED), 10);
  reply({ type: 'progress', progress: { phase: 'stuck (test hook)', done: 0, total: 1, detail: true } });
  blockForever();
}

async function main(): Promise<void> {
  if (init.backend === 'wasm' && !init.wasmKernels) {
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to start');
  } else {
    await selectBackend(init.backend);
  }
  const model = { ...readOnnxModel(init.modelBytes), source: init.source };
  const f = translateOnnx(model);

  let requests = 0;
  port.on('message', (request: AttackRequest) => {
    const stuck = ++requests === init.stuckAtRequest;
    if (stuck && (request.spec.attack !== 'cw' || request.parties === 1)) blockForever();
    try {
      const { offset, batchRows, parties } = request;
      let check = 0;
      const batchLoss = (own: Float64Array): number => {
        if (parties === 1) return sumInOrder(own);
        if (stuck) stickAtBarrier(parties);
        const base = (check++ % 2) * (losses.length / 2);
        losses.set(own, base + offset);
        barrier(parties);
        return sumInOrder(losses.subarray(base, base + batchRows));
      };
      const out = attackShard(f, request.spec, request.x, request.shape, request.labels, {
        onProgress: (progress) => reply({ type: 'progress', progress }),
        batchLoss,
        start: request.start,
      });
      reply({ type: 'done', adv: out.adv, found: out.found, gradientSteps: out.gradientSteps });
    } catch (err) {
      // Release workers waiting for this one at the barrier.
      Atomics.store(control, BARRIER_FAILED, 1);
      Atomics.notify(control, BARRIER_GENERATION);
      reply({ type: 'error', message: (err as Error).message, stack: (err as Error).stack });
    }
  });
  reply({ type: 'ready' });
}

main().catch((err: Error) => reply({ type: 'error', message: err.message, stack: err.stack }));
