/**
 * Bound rules added for audited torch models (issue 11), against the exact
 * constant of small linear graphs: Pad's reflect and edge modes copy border
 * elements (the map's norm is sqrt(largest copy count)), BatchNormalization
 * scales channel c by scale_c / sqrt(var_c + eps), LeakyRelu and Elu have
 * slope max(1, |alpha|), and a trailing Softmax is dropped (bound on logits).
 */
import { GraphBuilder, attr } from '@lip/export';
import { readOnnxModel } from '../onnx/read';
import { lipschitzBound } from './lipschitz';

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
    const ins = [[2, -5], [0.1, 0.2], [0.3, -0.4], [4, 1]].map((v, i) => b.initializer(`p${i}`, Float32Array.from(v), [2]));
    b.node('BatchNormalization', ['x', ...ins], { epsilon: attr.float(0) }, { outputs: ['y'] });
    b.output('y', ['N', 2, 3, 3]);
    const r = lipschitzBound(b.toBytes());
    expect(r.total).toBeGreaterThanOrEqual(5);
    expect(r.total).toBeLessThan(5 * (1 + 1e-9));
  });

  it.each([['LeakyRelu', 3, 3], ['LeakyRelu', 0.2, 1], ['Elu', 2.5, 2.5], ['Elu', 1, 1]])('%s alpha = %d: max(1, |alpha|)', (op, alpha, k) => {
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
