import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as fs from 'fs';
import { buildModel } from '@lip/train';
import { exportOnnx } from '@lip/export';
import { readOnnxModel } from '../../src/onnx/read';
import { openSession } from '../../src/session';
import { assertTranslationMatches, translateOnnx } from '../../src/translate/translate';
import { randomImages } from '../models';
it('e2e', async () => {
  await tf.setBackend('cpu');
  const m = buildModel('seed', { seed: 3, logger: { warn: () => undefined, info: () => undefined } } as any);
  for (const portable of [false, true]) {
    const bytes = exportOnnx(m as any, { portable });
    fs.writeFileSync(`/tmp/lipt/seed-${portable ? 'portable' : 'default'}.onnx`, bytes);
    const model = readOnnxModel(bytes);
    console.log(portable, model.nodes.map((n) => n.opType).join(' '));
    const f = translateOnnx(model);
    console.log('ops run', f.opTypes.join(' '));
    for (const be of ['cpu', 'wasm']) {
      await tf.setBackend(be);
      const s = await openSession(model);
      console.log(be, 'maxdiff', await assertTranslationMatches(model, s, { images: randomImages(4, [1, 28, 28], 2), n: 4, chw: [1, 28, 28] }, 1e-5, f));
      await s.close();
    }
    await tf.setBackend('cpu');
  }
});
