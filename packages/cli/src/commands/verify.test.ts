import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_EPSILONS } from '@lip/train';
import { tmpDirPerSuite } from '@lip/test-support';
import { lip } from '@lip/test-support/cli';
import { writeIdxSplit } from '@lip/test-support/data';
import { gemmModel } from '@lip/test-support/onnx';
import { DEFAULT_EPS_SPEC, parseEpsList } from './verify';

/** Flatten -> Gemm(784 -> 10), weights x `scale`, metadata claims L = 1. */
const linearModel = (scale: number): Uint8Array => gemmModel({ maxWeight: 0.025 * scale, biasStep: 0, seed: 3 });

describe('parseEpsList', () => {
  it('accepts numbers and fractions; the default spec equals DEFAULT_EPSILONS', () => {
    expect(parseEpsList(DEFAULT_EPS_SPEC).map((e) => e.value)).toEqual([...DEFAULT_EPSILONS]);
    expect(parseEpsList('36/255, 0.5,1e-1')).toEqual([
      { value: 36 / 255, label: '36/255' },
      { value: 0.5, label: '0.5' },
      { value: 0.1, label: '1e-1' },
    ]);
  });
  it.each(['', 'a', '1,,2', '-1', '1/0', '36/'])('refuses %j', (raw) => {
    expect(() => parseEpsList(raw)).toThrow(/'--eps'/);
  });
});

describe('lip verify', () => {
  const tmp = tmpDirPerSuite('cli-verify');
  const dataDir = tmp.path('data');
  const model = tmp.path('model.onnx');
  const cheat = tmp.path('cheat.onnx');
  beforeAll(() => {
    writeIdxSplit(dataDir, { n: 30 });
    fs.writeFileSync(model, linearModel(1));
    fs.writeFileSync(cheat, linearModel(40));
  });

  it('prints the table, writes JSON atomically and the report', async () => {
    const json = tmp.path('out', 'verify.json');
    const report = tmp.path('report');
    const r = await lip('verify', model, '--data', dataDir, '--n', '20', '--eps', '36/255,0.5', '--batch-size', '8', '--json', json, '--report', report);
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^accuracy +0\.\d{4}$/m);
    expect(r.out).toMatch(/^mean certificate +\d+\.\d{4}$/m);
    expect(r.out).toMatch(/^CRA eps=36\/255 = 0\.1412 +\d\.\d{4}$/m);
    expect(r.out).toMatch(/^CRA eps=0\.5 +\d\.\d{4}$/m);
    expect(r.out).toMatch(/^Lipschitz used +1 \(metadata\)$/m);
    expect(r.out).toMatch(/^certificate +head-aware/m);
    expect(r.err).toMatch(/batch 3\/3 \(20\/20 images\)/);
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(j.n).toBe(20);
    expect(j.cra.map((p: { label: string }) => p.label)).toEqual(['36/255', '0.5']);
    expect(j.details).toBeUndefined();
    expect(j.lipschitzUsed).toBe(1);
    expect(typeof j.lipschitzBound).toBe('number');
    expect(fs.readdirSync(path.dirname(json)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(fs.existsSync(path.join(report, 'index.html'))).toBe(true);
  });

  it('says loudly when the metadata claims less than the bound, and certifies with the bound', async () => {
    const r = await lip('verify', cheat, '--data', dataDir, '--n', '10');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: WARNING: the model claims L = 1 but the weights give a certified bound of/);
    expect(r.out).toMatch(/^Lipschitz used +\S+ \(certified bound\)$/m);
  });

  it.each([
    [
      'a truncated model',
      (): string[] => {
        const bad = tmp.path('trunc.onnx');
        fs.writeFileSync(bad, fs.readFileSync(model).subarray(0, 100));
        return ['verify', bad, '--data', dataDir];
      },
      /^error: .*trunc\.onnx/,
    ],
    ['a missing model', (): string[] => ['verify', tmp.path('none.onnx'), '--data', dataDir], /^error: model file .* does not exist/],
    ['a bad --eps', (): string[] => ['verify', model, '--data', dataDir, '--eps', 'big'], /^error: '--eps' entry 'big'/],
    ['a bad --n', (): string[] => ['verify', model, '--data', dataDir, '--n', '0'], /^error: '--n' must be a positive integer/],
    ['a bad --data', (): string[] => ['verify', model, '--data', tmp.path('nothing')], /^error: '--data' must be/],
  ])('refuses %s with one line and exit code 2', async (_label, args, pattern) => {
    const r = await lip(...args());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(pattern);
    expect(
      r.err
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')).length,
    ).toBe(1);
    expect(r.err).not.toMatch(/internal error| {4}at /);
  });
});
