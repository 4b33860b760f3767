import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run } from '../program';
import { orthonormalLinearModel } from '../../../verify/test/models';

const haveFashion = fs.existsSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz') || !!process.env.LIP_DATA_DIR;

/** Runs `lip ...args` and captures stdout and stderr. */
async function lip(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  try {
    const code = await run(['node', 'lip', ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

(haveFashion ? describe : describe.skip)('lip attack', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-attack-'));
  const honest = path.join(tmp, 'honest.onnx');
  const cheat = path.join(tmp, 'cheat.onnx');
  beforeAll(() => {
    fs.writeFileSync(honest, orthonormalLinearModel(28, 28, 10, 5).bytes);
    // Weights x4, metadata still claims L = 1.
    fs.writeFileSync(cheat, orthonormalLinearModel(28, 28, 10, 5, 4).bytes);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('exits 3 and reports violations on a model whose metadata understates L', async () => {
    const json = path.join(tmp, 'cheat.json');
    const r = await lip('attack', cheat, '--attack', 'cw', '--n', '3', '--steps', '80', '--binary-search-steps', '5', '--json', json);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^Image # +Certificate +Distance to adversarial$/m);
    expect(r.out).toMatch(/VIOLATED/);
    expect(r.err).toMatch(/certificate violated/);
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(j.attack).toBe('cw');
    expect(j.violations).toBeGreaterThan(0);
    expect(j.results).toHaveLength(3);
    expect(Object.keys(j.results[0]).sort()).toEqual(['advPred', 'certificate', 'distance', 'found', 'index', 'label', 'pred', 'violated']);
    expect(j.adversarials).toBeUndefined();
  });

  it('exits 0 on the honest model, one image per class, and writes a report', async () => {
    const report = path.join(tmp, 'report');
    const r = await lip('attack', honest, '--attack', 'deepfool', '--one-per-class', '--report', report);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const rows = r.out.split('\n').filter((l) => /^\d+ /.test(l));
    expect(rows).toHaveLength(10);
    // The first test image of each class of Fashion-MNIST's test split.
    expect(rows.map((l) => Number(l.split(/\s+/)[0]))).toEqual([19, 2, 1, 13, 6, 8, 4, 9, 18, 0]);
    expect(r.out).toMatch(/0 certificate violations/);
    expect(fs.existsSync(path.join(report, 'index.html'))).toBe(true);
    expect(fs.readdirSync(report).some((f) => f.endsWith('.png'))).toBe(true);
  });

  it('refuses bad arguments with exit code 2', async () => {
    expect((await lip('attack', honest, '--attack', 'pgd', '--n', '2')).err).toMatch(/--eps' is required/);
    expect((await lip('attack', honest, '--n', '0')).code).toBe(2);
    expect((await lip('attack', honest, '--n', '2', '--one-per-class')).code).toBe(2);
    const missing = await lip('attack', path.join(tmp, 'nope.onnx'), '--n', '1');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^error: .*nope\.onnx/);
  });
});
