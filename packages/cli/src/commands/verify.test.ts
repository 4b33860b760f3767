import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraphBuilder } from '@lip/export';
import { DEFAULT_EPSILONS } from '@lip/train';
import { writeIdx } from '@lip/train/node';
import { lip } from '../../test/run_captured';
import { DEFAULT_EPS_SPEC, parseEpsList } from './verify';


function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647 - 0.5;
  };
}

/** Flatten -> Gemm(784 -> 10), weights x `scale`, metadata claims L = 1. */
function linearModel(scale: number): Uint8Array {
  const r = rng(3);
  const w = Float32Array.from({ length: 784 * 10 }, () => r() * 0.05 * scale);
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', 1, 28, 28]);
  const [f] = b.node('Flatten', ['input'], { axis: 1 });
  b.node('Gemm', [f, b.initializer('W', w, [784, 10]), b.initializer('B', new Float32Array(10), [10])], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 10]);
  b.setMetadata('lipschitz_constant', '1');
  b.setMetadata('input_range', '[0, 1]');
  return b.toBytes();
}

describe('parseEpsList', () => {
  it('accepts numbers and fractions; the default spec equals DEFAULT_EPSILONS', () => {
    expect(parseEpsList(DEFAULT_EPS_SPEC).map((e) => e.value)).toEqual([...DEFAULT_EPSILONS]);
    expect(parseEpsList('36/255, 0.5,1e-1')).toEqual([{ value: 36 / 255, label: '36/255' }, { value: 0.5, label: '0.5' }, { value: 0.1, label: '1e-1' }]);
  });
  it.each(['', 'a', '1,,2', '-1', '1/0', '36/'])('refuses %j', (raw) => {
    expect(() => parseEpsList(raw)).toThrow(/'--eps'/);
  });
});

describe('lip verify', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-cli-verify-'));
  const dataDir = path.join(tmp, 'data');
  const model = path.join(tmp, 'model.onnx');
  const cheat = path.join(tmp, 'cheat.onnx');
  beforeAll(() => {
    const r = rng(11);
    const n = 30;
    fs.mkdirSync(dataDir);
    writeIdx(path.join(dataDir, 't10k-images-idx3-ubyte'), [n, 28, 28], Uint8Array.from({ length: n * 784 }, () => Math.floor((r() + 0.5) * 256)));
    writeIdx(path.join(dataDir, 't10k-labels-idx1-ubyte'), [n], Uint8Array.from({ length: n }, (_, i) => i % 10));
    fs.writeFileSync(model, linearModel(1));
    fs.writeFileSync(cheat, linearModel(40));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('prints the table, writes JSON atomically and the report', async () => {
    const json = path.join(tmp, 'out', 'verify.json');
    const report = path.join(tmp, 'report');
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
    ['a truncated model', (): string[] => {
      const bad = path.join(tmp, 'trunc.onnx');
      fs.writeFileSync(bad, fs.readFileSync(model).subarray(0, 100));
      return ['verify', bad, '--data', dataDir];
    }, /^error: .*trunc\.onnx/],
    ['a missing model', (): string[] => ['verify', path.join(tmp, 'none.onnx'), '--data', dataDir], /^error: model file .* does not exist/],
    ['a bad --eps', (): string[] => ['verify', model, '--data', dataDir, '--eps', 'big'], /^error: '--eps' entry 'big'/],
    ['a bad --n', (): string[] => ['verify', model, '--data', dataDir, '--n', '0'], /^error: '--n' must be a positive integer/],
    ['a bad --data', (): string[] => ['verify', model, '--data', path.join(tmp, 'nothing')], /^error: '--data' must be/],
  ])('refuses %s with one line and exit code 2', async (_label, args, pattern) => {
    const r = await lip(...args());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(pattern);
    expect(r.err.trim().split('\n').filter((l) => l.startsWith('error:')).length).toBe(1);
    expect(r.err).not.toMatch(/internal error|    at /);
  });
});
