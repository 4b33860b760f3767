/**
 * Entry point of a data-parallel gradient worker (a `worker_threads`
 * Worker running the compiled dist/training/gradient_worker.js).
 *
 * It owns a tfjs backend and a replica of the model. Per step it reads the
 * weights the main thread published, computes the gradients of its rows'
 * share of the batch loss (`shardGradients`: the Lipschitz
 * reparametrization, Björck and the power-iteration vectors included, runs
 * here from the shared raw weights) and writes them to its gradient buffer.
 * Per evaluation batch it returns the batch's [loss, acc, KR].
 */
import { parentPort, workerData } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { blockForever } from '@lip/core';
import { selectBackend } from '../backend';
import { LipschitzSequential } from '../layers';
import { makeLoss, makeShareLoss } from '../losses';
import type { WorkerInit, WorkerReply, WorkerRequest } from './parallel_protocol';
import { evaluateRows } from './evaluate_rows';
import { shardGradients } from './shard_gradients';

const init = workerData as WorkerInit;
const port = parentPort!;
const reply = (message: WorkerReply): void => port.postMessage(message);

async function main(): Promise<void> {
  LipschitzSequential.defaultLogger = { warn: () => undefined }; // the main thread already warned
  await selectBackend(init.backend);
  const model = (await tfl.models.modelFromJSON({ modelTopology: init.modelTopology } as tf.io.ModelJSON)) as LipschitzSequential;
  const weights = new Float32Array(init.weights);
  const grads = new Float32Array(init.grads);
  const input = new Float32Array(init.input);
  const labels = new Uint8Array(init.labels);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let shareLoss = makeShareLoss(init.loss.name, init.loss.options);
  let lossFn = makeLoss(init.loss.name, init.loss.options);
  const geometry = { inputShape: init.inputShape, numClasses: init.numClasses };
  const rowSize = init.inputShape[0] * init.inputShape[1] * init.inputShape[2];

  const syncWeights = (): void => {
    model.weights.forEach((w, i) => {
      const { offset, size, shape } = init.weightSlots[i];
      tf.tidy(() => {
        w.write(tf.tensor(weights.subarray(offset, offset + size), shape));
      });
    });
  };

  let requests = 0;
  port.on('message', (request: WorkerRequest) => {
    if (++requests === init.stuckAtRequest) blockForever();
    try {
      if (request.syncWeights) syncWeights();
      if (request.lossOptions !== undefined) {
        shareLoss = makeShareLoss(init.loss.name, request.lossOptions);
        lossFn = makeLoss(init.loss.name, request.lossOptions);
      }
      const rows = { images: input.subarray(0, request.rows * rowSize), labels: labels.subarray(0, request.rows) };
      let metrics: number[];
      if (request.type === 'step') {
        const r = shardGradients(model, vars, shareLoss, rows, geometry, request.stats, init.chunkRows);
        r.grads.forEach((g, i) => grads.set(g.dataSync(), init.gradSlots[i].offset));
        metrics = Array.from(r.metrics.dataSync());
        tf.dispose([...r.grads, r.metrics]);
      } else {
        metrics = evaluateRows(model, lossFn, rows, geometry, init.chunkRows);
      }
      reply({ type: 'done', metrics, tensors: tf.memory().numTensors });
    } catch (err) {
      reply({ type: 'error', message: (err as Error).message, stack: (err as Error).stack });
    }
  });
  reply({ type: 'ready' });
}

main().catch((err: Error) => reply({ type: 'error', message: err.message, stack: err.stack }));
