import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { readOnnxModel } from '../../src/onnx/read';
import { openSession } from '../../src/session';
import { runAttack } from '../../src/attacks/run';
import { honestConvModel, orthonormalLinearModel, randomFloats } from '../models';
it('x', async () => {
  await tf.setBackend('wasm');
  for (const [name, bytes, chw] of [['conv-d', honestConvModel(1, 'default'), [1, 6, 6]], ['conv-p', honestConvModel(2, 'portable'), [1, 6, 6]], ['lin', orthonormalLinearModel(5, 5, 10, 3).bytes, [1, 5, 5]]] as const) {
    const m = readOnnxModel(bytes); const s = await openSession(m);
    const d = chw[1] * chw[2]; const n = 8;
    const images = Float32Array.from(randomFloats(n * d, 3), (v) => 0.5 + 0.15 * v);
    for (const opts of [{ attack: 'pgd', eps: 1.0, steps: 40 }, { attack: 'cw', binarySearchSteps: 5, steps: 150 }, { attack: 'deepfool' }] as const) {
      const r = await runAttack(m, s, images, new Array(n).fill(0), [...Array(n).keys()], chw as any, opts as any);
      console.log(name, opts.attack, r.results.map((x) => `${x.pred}->${x.advPred} c=${x.certificate.toFixed(3)} d=${x.distance?.toFixed(3)}`).join(' | '));
    }
  }
});
