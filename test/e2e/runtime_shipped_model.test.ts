/**
 * @lip/runtime on the shipped model: on the 10,000 Fashion-MNIST test images
 * it predicts the labels `lip verify` reports and certifies the same radii
 * (within 1e-6), from the file's metadata alone; with checkBound it also
 * re-derives the bound and accepts the file.
 */
import * as path from 'path';
import { loadDataset } from '@lip/train/node';
import { verifyModel } from '@lip/verify';
import { CertifiedClassifier } from '@lip/runtime';
import { haveFashionMnist } from '@lip/test-support/data';

const SHIPPED = path.join(__dirname, '..', '..', 'models', 'fashion-mnist-ortho.onnx');

jest.setTimeout(300_000);

(haveFashionMnist() ? test : test.skip)("the shipped model's 10,000 test images: lip verify's labels and radii", async () => {
  const verified = await verifyModel(SHIPPED, { data: 'fashion-mnist' });
  const data = await loadDataset('fashion-mnist', 'test');
  const clf = await CertifiedClassifier.load(SHIPPED, { engine: 'node', checkBound: true });
  try {
    expect(clf.contract.head).not.toBeNull();
    expect(clf.boundCheck!.total).toBe(verified.lipschitzBound);
    const results = await clf.classify(data.images);
    expect(results).toHaveLength(10_000);
    const { predictions, certificates } = verified.details;
    let mismatched = 0;
    let worst = 0;
    for (const [i, r] of results.entries()) {
      if (r.label !== predictions[i]) mismatched++;
      worst = Math.max(worst, Math.abs(r.certifiedRadius - certificates[i]));
    }
    expect(mismatched).toBe(0);
    expect(worst).toBeLessThanOrEqual(1e-6);
    expect(results[0].className).toBe(clf.classNames[predictions[0]]);
  } finally {
    await clf.dispose();
  }
});
