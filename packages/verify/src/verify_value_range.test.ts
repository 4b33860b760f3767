/**
 * `verifyModel` tells the session the range 8-bit data are known to lie in
 * (`LabeledImages.valueRange`) whenever the values are fed as read, reordered
 * to channels first or not, so the session skips its own per-value pass; and
 * never when a transform changed them.
 */
import * as fs from 'fs';
import { encodeIdx } from '@lip/core';
import { seededBytes, tmpDirPerSuite } from '@lip/test-support';
import { gemmModel } from '@lip/test-support/onnx';
import type { LipSession } from './session';
import { verifyModel } from './verify';

const known: unknown[] = [];

jest.mock('./session', () => {
  const actual = jest.requireActual<typeof import('./session')>('./session');
  return {
    ...actual,
    openSession: async (...args: Parameters<typeof actual.openSession>): Promise<LipSession> => {
      const session = await actual.openSession(...args);
      const run = session.runBatched.bind(session);
      return Object.assign(Object.create(session) as LipSession, {
        runBatched: (...a: Parameters<LipSession['runBatched']>) => {
          known.push(a[5]);
          return run(...a);
        },
      });
    },
  };
});

const tmp = tmpDirPerSuite('value-range');

test("8-bit data's value range reaches the session when the values are fed as read, in either channel order", async () => {
  const n = 12;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const writeSplit = (dir: string, shape: number[]): void => {
    const size = shape.reduce((a, b) => a * b, 1);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(`${dir}/t10k-images-idx3-ubyte`, encodeIdx(shape, seededBytes(size, 5)));
    fs.writeFileSync(`${dir}/t10k-labels-idx1-ubyte`, encodeIdx([n], labels));
  };
  // [n, 4, 4, 3] bytes (channels last) into a [3, 4, 4] (channels first) model: the feed is a permutation of the values read.
  writeSplit(tmp.path('rgb'), [n, 4, 4, 3]);
  writeSplit(tmp.path('gray'), [n, 4, 4]);
  const rgb = await verifyModel(gemmModel({ chw: [3, 4, 4] }), { data: tmp.path('rgb') });
  expect(rgb.preprocessing.layout).toBe('nchw');
  await verifyModel(gemmModel({ chw: [1, 4, 4] }), { data: tmp.path('gray') });
  // With a mean the values fed are no longer the ones read: the session checks them itself, and finds them below input_range.
  await expect(verifyModel(gemmModel({ chw: [3, 4, 4] }), { data: tmp.path('rgb'), mean: [0.5] })).rejects.toThrow(/outside the model's input_range \[0, 1\]/);
  expect(known).toEqual([{ valueRange: [0, 1] }, { valueRange: [0, 1] }, {}]);
});
