import { GraphBuilder } from '@lip/export';
import { DataError } from '@lip/train';
import { openSession, LipSession } from './session';

/** logits = flatten(x) @ W + b on [N, 1, 2, 2] inputs. */
function denseModel(range = '[0, 1]'): { bytes: Uint8Array; w: Float32Array; b: Float32Array } {
  const g = new GraphBuilder({ opset: 17 });
  g.input('input', 'float32', ['N', 1, 2, 2]);
  const [flat] = g.node('Flatten', ['input'], { axis: 1 });
  const w = Float32Array.from([1, -2, 3, 4, 0.5, 6, -7, 8]);
  const b = Float32Array.from([0.25, -0.5]);
  const [y] = g.node('Gemm', [flat, g.initializer('W', w, [4, 2]), g.initializer('B', b, [2])]);
  g.node('Identity', [y], {}, { outputs: ['logits'] });
  g.output('logits', ['N', 2]);
  g.setMetadata('input_range', range);
  return { bytes: g.toBytes(), w, b };
}

async function expectDataError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DataError);
  expect((caught as Error).message).toMatch(pattern);
}

describe('openSession', () => {
  let session: LipSession;
  const { bytes, w, b } = denseModel();
  beforeAll(async () => { session = await openSession(bytes, { threads: 1 }); });
  afterAll(async () => { await session.close(); });

  it('runs in batches and matches the reference computation', async () => {
    const n = 7;
    const images = Float32Array.from({ length: n * 4 }, (_, i) => ((i * 37) % 11) / 10);
    const done: number[] = [];
    const logits = await session.runBatched(images, n, [1, 2, 2], 3, (d) => done.push(d));
    expect(done).toEqual([3, 6, 7]);
    expect(logits.length).toBe(n * 2);
    expect(session.outputSize).toBe(2);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 2; j++) {
        let ref = b[j];
        for (let k = 0; k < 4; k++) ref += images[i * 4 + k] * w[k * 2 + j];
        expect(logits[i * 2 + j]).toBeCloseTo(ref, 5);
      }
    }
    expect(session.inputShape).toEqual([1, 2, 2]);
    expect(session.inputRange).toEqual([0, 1]);
  });

  it('refuses data whose shape does not match the model', async () => {
    await expectDataError(session.runBatched(new Float32Array(2 * 9), 2, [1, 3, 3]), /expects inputs of shape \[N, 1, 2, 2\].*\[N, 1, 3, 3\]/);
  });

  it('refuses NaN and Inf inputs', async () => {
    const x = new Float32Array(8).fill(0.5);
    x[6] = NaN;
    await expectDataError(session.runBatched(x, 2, [1, 2, 2]), /image 1 holds NaN at pixel 2/);
    x[6] = Infinity;
    await expectDataError(session.runBatched(x, 2, [1, 2, 2]), /image 1 holds Infinity/);
  });

  it('refuses values outside the metadata input_range', async () => {
    const x = new Float32Array(4).fill(0.5);
    x[1] = 1.5;
    await expectDataError(session.runBatched(x, 1, [1, 2, 2]), /outside the model's input_range \[0, 1\]/);
  });
});
