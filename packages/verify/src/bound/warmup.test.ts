/**
 * The bound thread's warm-up (./warmup.ts): its model goes through the same
 * rules as the shipped model (so it warms the code the real bound runs), and
 * `warmUpBound` stops at its pass limit or as soon as the task has come.
 * That a warmed-up thread gives the in-process bound is checked in
 * ../background_bound.test.ts.
 */
import * as path from 'path';
import { ROOT } from '@lip/test-support';
import { readOnnxModel } from '../onnx/read';
import { lipschitzBound } from './lipschitz';
import { WARMUP_PASSES, warmUpBound, warmUpModel } from './warmup';

/** A layer's method without its numbers and sizes: the code path it took. */
const kind = (method: string): string =>
  method
    .replace(/\(.*$/, '')
    .replace(/\d+x\d+/g, 'MxN')
    .trim();

describe('bound warm-up', () => {
  it("bounds the warm-up model through the shipped model's code paths, and the bound is finite", () => {
    const warm = lipschitzBound(warmUpModel());
    const shipped = lipschitzBound(readOnnxModel(path.join(ROOT, 'models/fashion-mnist-ortho.onnx')));
    expect(Number.isFinite(warm.total) && warm.total > 0).toBe(true);
    expect(new Set(warm.layers.map((l) => kind(l.method)))).toEqual(new Set(shipped.layers.map((l) => kind(l.method))));
    expect(warm.layers.filter((l) => l.method.startsWith('circular-convolution spectrum'))).toHaveLength(2);
    expect(warm.layers.filter((l) => l.method.startsWith('recognized 1-Lipschitz activation block'))).toHaveLength(3);
  });

  it('runs WARMUP_PASSES passes, one per turn of the event loop', async () => {
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const passes = await new Promise<number>((resolve) => warmUpBound(() => false, WARMUP_PASSES, resolve));
    clearInterval(ticker);
    expect(passes).toBe(WARMUP_PASSES);
    expect(turns).toBeGreaterThan(0);
  });

  it('stops before its first pass when the task is already there, and between passes when it comes', async () => {
    expect(await new Promise<number>((resolve) => warmUpBound(() => true, WARMUP_PASSES, resolve))).toBe(0);
    let checks = 0;
    // The task "comes" after the second pass: the third is not run.
    const passes = await new Promise<number>((resolve) => warmUpBound(() => ++checks > 2, 10, resolve));
    expect(passes).toBe(2);
  });
});
