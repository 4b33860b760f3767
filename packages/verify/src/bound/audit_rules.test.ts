/**
 * Bound rules added for audited torch models (issue 11), against the exact
 * constant of small linear graphs: Pad's reflect and edge modes copy border
 * elements (the map's norm is sqrt(largest copy count)), BatchNormalization
 * scales channel c by scale_c / sqrt(var_c + eps), LeakyRelu and Elu have
 * slope max(1, |alpha|), and a trailing Softmax is dropped (bound on logits).
 */
import { GraphBuilder, attr } from '@lip/export';
import { uniformArray } from '@lip/test-support';
import { readOnnxModel } from '../onnx/read';
import { lipschitzBound } from './lipschitz';
import { openSession } from '../session';

function padModel(mode: string, pads: number[]): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  b.input('x', 'float32', ['N', 4]);
  const p = b.initializer('pads', BigInt64Array.from(pads, BigInt), [4]);
  b.node('Pad', ['x', p], { mode }, { outputs: ['y'] });
  b.output('y', ['N', 4 + pads[1] + pads[3]]);
  return b.toBytes();
}

describe('bound rules for audited models', () => {
  it.each([
    // edge, 2 on the left: x0 appears 3 times -> sqrt(3).
    ['edge', [0, 2, 0, 0], Math.sqrt(3)],
    // reflect, 1 each side: x1 and x2 appear twice -> sqrt(2).
    ['reflect', [0, 1, 0, 1], Math.sqrt(2)],
    // reflect, 3 on the right of 4: x2 twice, x1 twice, x0 twice -> sqrt(2).
    ['reflect', [0, 0, 0, 3], Math.sqrt(2)],
    ['constant', [0, 2, 0, 1], 1],
  ])('Pad %s %j: the exact sqrt(max copies)', (mode, pads, exact) => {
    const r = lipschitzBound(padModel(mode as string, pads as number[]));
    expect(r.total).toBeGreaterThanOrEqual(exact as number);
    expect(r.total).toBeLessThan((exact as number) * (1 + 1e-9));
  });

  it('BatchNormalization: max |scale| / sqrt(var + eps)', () => {
    const b = new GraphBuilder({ opset: 15 });
    b.input('x', 'float32', ['N', 2, 3, 3]);
    const ins = [
      [2, -5],
      [0.1, 0.2],
      [0.3, -0.4],
      [4, 1],
    ].map((v, i) => b.initializer(`p${i}`, Float32Array.from(v), [2]));
    b.node('BatchNormalization', ['x', ...ins], { epsilon: attr.float(0) }, { outputs: ['y'] });
    b.output('y', ['N', 2, 3, 3]);
    const r = lipschitzBound(b.toBytes());
    expect(r.total).toBeGreaterThanOrEqual(5);
    expect(r.total).toBeLessThan(5 * (1 + 1e-9));
  });

  it('Conv followed by BatchNormalization: bounded as one scaled conv (tighter), never below the true norm', async () => {
    // Channel scales 4 and 0.25: max |s| times the conv's norm overestimates; the folded conv's exact norm does not.
    const b = new GraphBuilder({ opset: 15 });
    b.input('x', 'float32', ['N', 1, 4, 4]);
    // Output channel 0 (BatchNorm scale 4) has small weights, channel 1 (scale 0.25) large ones.
    b.initializer(
      'W',
      uniformArray(2 * 9, 7, -0.5, 0.5).map((w, i) => (i < 9 ? 0.1 * w : w)),
      [2, 1, 3, 3],
    );
    b.node('Conv', ['x', 'W'], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) }, { outputs: ['c'] });
    const ins = [
      [4, -0.25],
      [0.1, 0.2],
      [0.3, -0.4],
      [1, 1],
    ].map((v, i) => b.initializer(`p${i}`, Float32Array.from(v), [2]));
    b.node('BatchNormalization', ['c', ...ins], { epsilon: attr.float(0) }, { outputs: ['y'] });
    b.output('y', ['N', 2, 4, 4]);
    const bytes = b.toBytes();
    const r = lipschitzBound(bytes);
    expect(r.layers.find((l) => l.op === 'BatchNormalization')!.method).toMatch(/folded into conv/);
    // The affine map's matrix, column by column, from onnxruntime: A e_i = f(e_i) - f(0).
    const session = await openSession(readOnnxModel(bytes));
    const d = 16;
    const probes = new Float32Array((d + 1) * d);
    for (let i = 0; i < d; i++) probes[(i + 1) * d + i] = 1;
    const out = await session.runBatched(probes, d + 1, [1, 4, 4]);
    await session.close();
    const m = out.length / (d + 1);
    const A = (row: number, col: number): number => out[(col + 1) * m + row] - out[row];
    // sigma_max by power iteration on A^T A (float64).
    let v = Float64Array.from({ length: d }, (_, i) => 1 + i / d);
    let sigma = 0;
    for (let it = 0; it < 500; it++) {
      const av = Float64Array.from({ length: m }, (_, r) => v.reduce((acc, vi, c) => acc + A(r, c) * vi, 0));
      const atav = Float64Array.from({ length: d }, (_, c) => av.reduce((acc, ar, r) => acc + A(r, c) * ar, 0));
      const n = Math.hypot(...atav);
      sigma = Math.sqrt(n / Math.hypot(...v));
      v = atav.map((x) => x / n);
    }
    expect(r.total).toBeGreaterThanOrEqual(sigma * (1 - 1e-5));
    expect(r.total).toBeLessThan(sigma * 1.01);
    // The unfolded rule (max |s| = 4 times the conv's norm) is several times the truth here.
    const convOnly = r.layers.find((l) => l.op === 'Conv')!.factor;
    expect(4 * convOnly).toBeGreaterThan(2 * sigma);
  });

  it.each([
    ['LeakyRelu', 3, 3],
    ['LeakyRelu', 0.2, 1],
    ['Elu', 2.5, 2.5],
    ['Elu', 1, 1],
  ])('%s alpha = %d: max(1, |alpha|)', (op, alpha, k) => {
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 3]);
    b.node(op as string, ['x'], { alpha: attr.float(alpha as number) }, { outputs: ['y'] });
    b.output('y', ['N', 3]);
    expect(lipschitzBound(b.toBytes()).total).toBe(k);
  });

  it('drops a trailing Softmax and bounds the logits', () => {
    const b = new GraphBuilder({ opset: 13 });
    b.input('x', 'float32', ['N', 2]);
    const w = b.initializer('w', Float32Array.from([3, 0, 0, 1]), [2, 2]);
    b.node('MatMul', ['x', w], {}, { outputs: ['logits'] });
    b.node('Softmax', ['logits'], {}, { outputs: ['p'] });
    b.output('p', ['N', 2]);
    const m = readOnnxModel(b.toBytes());
    expect(m.folding!.droppedSoftmax).toBeTruthy();
    expect(m.outputs[0].name).toBe('logits');
    expect(lipschitzBound(m).total).toBeCloseTo(3, 5);
  });
});
