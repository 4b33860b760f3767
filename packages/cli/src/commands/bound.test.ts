import * as fs from 'fs';
import { tmpDirPerSuite } from '@lip/test-support';
import { lip } from '@lip/test-support/cli';
import { gemmModel } from '@lip/test-support/onnx';

/** Flatten -> Gemm(784 -> 10), weights x `scale`, metadata claims L = 1. */
const linearModel = (scale: number): Uint8Array => gemmModel({ maxWeight: 0.025 * scale, biasStep: 0, seed: 3, metadata: { input_range: null } });

describe('lip bound', () => {
  const tmp = tmpDirPerSuite('cli-bound');

  it('prints each layer, the total, and flags a claim below the bound; x4 weights give a x4 bound', async () => {
    const honest = tmp.path('honest.onnx');
    const cheat = tmp.path('cheat.onnx');
    fs.writeFileSync(honest, linearModel(1));
    fs.writeFileSync(cheat, linearModel(4 * 40));
    fs.writeFileSync(tmp.path('base.onnx'), linearModel(40));
    const json = tmp.path('bound.json');
    const a = await lip('bound', tmp.path('base.onnx'), '--json', json);
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
    const bad = tmp.path('bad.onnx');
    fs.writeFileSync(bad, 'hello');
    const r = await lip('bound', bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: .*bad\.onnx/);
  });
});
