import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_EPSILONS } from '@lip/train';
import { cliFixturesPerSuite, lip, outDir } from '@lip/test-support/cli';
import { gemmModel, productModel } from '@lip/test-support/onnx';
import { DEFAULT_EPS_SPEC, parseEpsList } from './verify';

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
  const fx = cliFixturesPerSuite('cli-verify', { images: 30 });
  // Flatten -> Gemm(784 -> 10) with weights up to 1: its metadata claims L = 1, its weights give far more.
  const cheat = (): string => path.join(fx.root, 'cheat.onnx');
  beforeAll(() => fs.writeFileSync(cheat(), gemmModel({ maxWeight: 1, biasStep: 0, seed: 3 })));

  it('prints the table, writes JSON atomically and the report', async () => {
    const out = outDir(fx.root);
    const json = path.join(out, 'verify.json');
    const report = path.join(out, 'report');
    const r = await lip('verify', fx.model, '--data', fx.data, '--n', '20', '--eps', '36/255,0.5', '--batch-size', '8', '--json', json, '--report', report);
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
    const r = await lip('verify', cheat(), '--data', fx.data, '--n', '10');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: WARNING: the model claims L = 1 but the weights give a certified bound of/);
    expect(r.out).toMatch(/^Lipschitz used +\S+ \(certified bound\)$/m);
  });

  // The bound runs on a worker thread (boundWorker): its warnings and errors are the ones it gives in process.
  it('a graph with no certified bound: its warning, nothing certified, exit code 0', async () => {
    const product = path.join(fx.root, 'product.onnx');
    fs.writeFileSync(product, productModel(28, 28, 10, 4));
    const r = await lip('verify', product, '--data', fx.data, '--no-cache');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^warning: no certified Lipschitz bound \(.*\), so nothing is certified/m);
    expect(r.out).toMatch(/^certificates +NONE/m);
  });

  it('a broken lipschitz_constant (refused at the bound step) is one error line and exit code 2', async () => {
    const broken = path.join(fx.root, 'broken-claim.onnx');
    fs.writeFileSync(broken, gemmModel({ metadata: { lipschitz_constant: 'nan' } }));
    const r = await lip('verify', broken, '--data', fx.data, '--no-cache');
    expect(r.code).toBe(2);
    expect(
      r.err
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toEqual([expect.stringMatching(/^error: '.*broken-claim\.onnx': metadata lipschitz_constant must be a number > 0, got "nan"; re-export the model\.$/)]);
  });

  it.each([
    [
      'a truncated model',
      (): string[] => {
        const bad = path.join(fx.root, 'trunc.onnx');
        fs.writeFileSync(bad, fs.readFileSync(fx.model).subarray(0, 100));
        return ['verify', bad, '--data', fx.data];
      },
      /^error: .*trunc\.onnx/,
    ],
    ['a missing model', (): string[] => ['verify', path.join(fx.root, 'none.onnx'), '--data', fx.data], /^error: model file .* does not exist/],
    ['a bad --eps', (): string[] => ['verify', fx.model, '--data', fx.data, '--eps', 'big'], /^error: '--eps' entry 'big'/],
    ['a bad --n', (): string[] => ['verify', fx.model, '--data', fx.data, '--n', '0'], /^error: '--n' must be a positive integer/],
    ['a bad --data', (): string[] => ['verify', fx.model, '--data', path.join(fx.root, 'nothing')], /^error: '--data' must be/],
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
