/**
 * The README's deployment snippets are the files in examples/python, quoted
 * verbatim, and they run: OpenCV DNN (Debian python3-opencv, python3-onnx)
 * certifies the shipped model's first 100 test images with `lip verify`'s
 * labels and radii; the onnxruntime one too where Python has onnxruntime
 * (not a Debian package: skipped otherwise, with a message).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { verifyModel } from '@lip/verify';
import { ROOT } from '@lip/test-support';
import { FASHION_DIR, haveFashionMnist } from '@lip/test-support/data';

const SNIPPETS = path.join(ROOT, 'examples', 'python');
const SHIPPED = path.join(ROOT, 'models', 'fashion-mnist-ortho.onnx');
const PYTHON = '/usr/bin/python3';
const N = 100;

jest.setTimeout(300_000);

test('the README quotes each snippet file exactly', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const file of ['lip_certificate.py', 'certify_opencv.py', 'certify_onnxruntime.py']) {
    const text = fs.readFileSync(path.join(SNIPPETS, file), 'utf8');
    expect({ file, quoted: readme.includes(`\`\`\`python\n${text}\`\`\``) }).toEqual({ file, quoted: true });
  }
});

/** Why `module` cannot be used from /usr/bin/python3, or null. */
function missing(module: string): string | null {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} is missing`;
  const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PYTHON} cannot import ${module}`;
}

async function checkSnippet(script: string): Promise<void> {
  const images = path.join(
    process.env.LIP_DATA_DIR && fs.existsSync(path.join(process.env.LIP_DATA_DIR, 't10k-images-idx3-ubyte.gz')) ? process.env.LIP_DATA_DIR : FASHION_DIR,
    't10k-images-idx3-ubyte.gz',
  );
  const r = spawnSync(PYTHON, ['-B', script, SHIPPED, images, String(N)], { cwd: SNIPPETS, encoding: 'utf8', timeout: 120_000 });
  expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  expect(rows).toHaveLength(N);
  const verified = await verifyModel(SHIPPED, { data: 'fashion-mnist', n: N });
  const names = verified.classNames;
  expect(rows.map((c) => Number(c[1]))).toEqual(Array.from(verified.details.predictions));
  // The class name may hold spaces ('Ankle boot'): it sits between the label and the radius.
  expect(rows.map((c) => c.slice(2, -1).join(' '))).toEqual(Array.from(verified.details.predictions, (p) => names[p]));
  const worst = Math.max(...rows.map((c, i) => Math.abs(Number(c[c.length - 1]) - verified.details.certificates[i])));
  expect(worst).toBeLessThanOrEqual(1e-5);
}

const noData = haveFashionMnist() ? null : 'the Fashion-MNIST test split is not on disk (apt-get install dataset-fashion-mnist)';

test("certify_opencv.py (OpenCV DNN) gives lip verify's labels and radii", async () => {
  const why = noData ?? missing('cv2') ?? missing('onnx');
  if (why) {
    console.warn(`skipped: ${why} (Debian: apt-get install python3-opencv python3-onnx)`);
    return;
  }
  await checkSnippet('certify_opencv.py');
});

test("certify_onnxruntime.py (onnxruntime for Python) gives lip verify's labels and radii", async () => {
  const why = noData ?? missing('onnxruntime');
  if (why) {
    console.warn(`skipped: ${why} (pip install onnxruntime)`);
    return;
  }
  await checkSnippet('certify_onnxruntime.py');
});
