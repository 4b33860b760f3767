/**
 * The bound cache from the command line: `lip bound` and `lip verify` store
 * the bound under $LIP_CACHE_DIR/bounds, say `cached (sha256 ...)` when they
 * reuse it (table and JSON), and `--no-cache` neither reads nor writes it.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { tmpDirPerTest } from '@lip/test-support';
import { expectLipOk, lip, transcript } from '@lip/test-support/cli';
import { writeIdxSplit } from '@lip/test-support/data';
import { gemmModel } from '@lip/test-support/onnx';

const CACHED = /cached \(sha256 ([0-9a-f]{12})\.\.\.\)/;

describe('the bound cache in lip bound and lip verify', () => {
  const tmp = tmpDirPerTest('cli-bound-cache');
  const saved = process.env.LIP_CACHE_DIR;
  let model: string;
  let sha256: string;
  beforeEach(() => {
    process.env.LIP_CACHE_DIR = tmp.path('cache');
    const bytes = gemmModel({ seed: 7 });
    model = tmp.put('model.onnx', bytes);
    sha256 = createHash('sha256').update(bytes).digest('hex');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.LIP_CACHE_DIR;
    else process.env.LIP_CACHE_DIR = saved;
  });
  const entries = (): string[] => (fs.existsSync(tmp.path('cache', 'bounds')) ? fs.readdirSync(tmp.path('cache', 'bounds')) : []);

  it('lip bound: computed and stored, then "bound: cached (sha256 ...)" with the same table; --no-cache computes', async () => {
    const json = tmp.path('bound.json');
    const first = await lip('bound', model, '--json', json);
    expectLipOk(first);
    expect(first.out).not.toMatch(CACHED);
    expect(JSON.parse(fs.readFileSync(json, 'utf8')).boundCache).toMatchObject({ used: false, stored: true, sha256 });
    expect(entries()).toHaveLength(1);
    const second = await lip('bound', model, '--json', json);
    expectLipOk(second);
    expect(second.out).toMatch(/^bound: cached \(sha256 [0-9a-f]{12}\.\.\.\)$/m);
    expect(CACHED.exec(second.out)![1]).toBe(sha256.slice(0, 12));
    expect(second.out.replace(/^bound: cached.*\n/m, '')).toBe(first.out);
    expect(JSON.parse(fs.readFileSync(json, 'utf8')).boundCache).toMatchObject({ used: true, sha256 });
    const off = await lip('bound', model, '--no-cache', '--json', json);
    expectLipOk(off);
    expect(off.out).toBe(first.out);
    expect(JSON.parse(fs.readFileSync(json, 'utf8')).boundCache).toBeNull();
  });

  it('lip verify: the Lipschitz bound row and the JSON say when the bound was cached; --no-cache writes nothing', async () => {
    const data = tmp.path('data');
    writeIdxSplit(data, { n: 12 });
    const off = await lip('verify', model, '--data', data, '--no-cache');
    expectLipOk(off);
    expect(entries()).toEqual([]);
    expect(off.out).toMatch(/^Lipschitz bound +[0-9.]+$/m);
    const json = tmp.path('verify.json');
    const first = await lip('verify', model, '--data', data, '--json', json);
    expectLipOk(first);
    expect(first.out).not.toMatch(CACHED);
    expect(JSON.parse(fs.readFileSync(json, 'utf8')).boundCache).toMatchObject({ used: false, stored: true, sha256 });
    const second = await lip('verify', model, '--data', data, '--json', json);
    expectLipOk(second);
    expect(second.out).toMatch(/^Lipschitz bound +[0-9.]+, cached \(sha256 [0-9a-f]{12}\.\.\.\)$/m);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.boundCache).toMatchObject({ used: true, sha256 });
    // The same certificates either way: only the bound's source differs.
    expect(second.out.replace(/, cached \(.*\)/, '').replace(/^throughput.*$/m, '')).toBe(off.out.replace(/^throughput.*$/m, ''));
  });

  it('an unwritable cache: lip verify and lip bound still succeed and say why nothing was stored', async () => {
    process.env.LIP_CACHE_DIR = tmp.put('a-file', 'x');
    const data = tmp.path('data');
    writeIdxSplit(data, { n: 12 });
    const v = await lip('verify', model, '--data', data);
    expect(v.code).toBe(0);
    expect(v.err).toMatch(/^warning: bound cache: cannot write the bound cache .*a-file/m);
    expect(v.out).toMatch(/^Lipschitz bound +[0-9.]+$/m);
    const b = await lip('bound', model);
    expect(b.code).toBe(0);
    expect(b.err).toMatch(/^warning: bound cache: cannot write/m);
    expect(b.out).not.toMatch(CACHED);
    expect(transcript(b)).toMatch(/total +\d/);
  });
});
