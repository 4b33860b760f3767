import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { lip } from '../../test/run_captured';
import { GraphBuilder } from '@lip/export';

/** Flatten -> Gemm(784 -> 10), weights x `scale`, metadata claims L = 1. */
function linearModel(scale: number): Uint8Array {
  let seed = 3;
  const w = Float32Array.from({ length: 784 * 10 }, () => {
    seed = (seed * 16807) % 2147483647;
    return (seed / 2147483647 - 0.5) * 0.05 * scale;
  });
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', 1, 28, 28]);
  const [f] = b.node('Flatten', ['input'], { axis: 1 });
  b.node('Gemm', [f, b.initializer('W', w, [784, 10]), b.initializer('B', new Float32Array(10), [10])], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 10]);
  b.setMetadata('lipschitz_constant', '1');
  return b.toBytes();
}


describe('lip bound', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-cli-bound-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('prints each layer, the total, and flags a claim below the bound; x4 weights give a x4 bound', async () => {
    const honest = path.join(tmp, 'honest.onnx');
    const cheat = path.join(tmp, 'cheat.onnx');
    fs.writeFileSync(honest, linearModel(1));
    fs.writeFileSync(cheat, linearModel(4 * 40));
    fs.writeFileSync(path.join(tmp, 'base.onnx'), linearModel(40));
    const json = path.join(tmp, 'bound.json');
    const a = await lip('bound', path.join(tmp, 'base.onnx'), '--json', json);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/^# +layer +op +factor +cumulative +method$/m);
    expect(a.out).toMatch(/^1 +Flatten +structure +1\.0000000 /m);
    expect(a.out).toMatch(/^2 +Gemm +Gemm +\d/m);
    expect(a.out).toMatch(/^total +\d/m);
    const base = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(base.layers.length).toBe(2);
    expect(base.head.classes).toBe(10);
    const b = await lip('bound', cheat, '--json', json);
    expect(b.code).toBe(0);
    expect(b.out).toMatch(/WARNING: metadata lipschitz_constant = 1 is BELOW the certified bound/);
    const scaled = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(scaled.total / base.total).toBeCloseTo(4, 6);
    expect(scaled.consistent).toBe(false);
    const c = await lip('bound', honest);
    expect(c.out).toMatch(/consistent \(bound <= claim\)/);
  });

  it('refuses a file that is not ONNX with exit code 2', async () => {
    const bad = path.join(tmp, 'bad.onnx');
    fs.writeFileSync(bad, 'hello');
    const r = await lip('bound', bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: .*bad\.onnx/);
  });
});
