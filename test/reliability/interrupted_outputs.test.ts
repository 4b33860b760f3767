/**
 * The output files of `lip verify` and `lip attack` (--json, --report) are
 * written atomically: killing the process at any moment leaves each file
 * absent or complete, never half-written. A second run after a kill
 * succeeds over whatever the first one left, and removes the temp files of
 * the killed runs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { listFiles, tmpDirPerSuite } from '@lip/test-support';
import { QUICK_ATTACK, runAndKill, runLip } from '@lip/test-support/cli';
import { writeIdxSplit } from '@lip/test-support/data';
import { gemmModel } from '@lip/test-support/onnx';

const tmp = tmpDirPerSuite('kill');
let data: string;
let model: string;

beforeAll(() => {
  data = tmp.path('data');
  writeIdxSplit(data, { n: 40 });
  model = tmp.path('model.onnx');
  fs.writeFileSync(model, gemmModel());
});

/** Every output file present is complete. */
function expectComplete(out: string): void {
  for (const f of listFiles(out)) {
    const file = path.join(out, f);
    // A temp file from writeFileAtomic may survive a SIGKILL (until the next write); the real names are never partial.
    if (/^\.|\/\./.test(f) && f.endsWith('.tmp')) continue;
    const text = fs.readFileSync(file);
    if (f.endsWith('.json')) expect(() => JSON.parse(text.toString('utf8'))).not.toThrow();
    else if (f.endsWith('.html')) expect(text.toString('utf8')).toMatch(/<\/html>\n$/);
    else if (f.endsWith('.png')) expect(text.subarray(text.length - 8).toString('latin1')).toContain('IEND');
    else if (f.endsWith('.svg')) expect(text.toString('utf8')).toMatch(/<\/svg>\n$/);
    else throw new Error(`unexpected file ${f}`);
  }
}

const KILL_TIMES_MS = [300, 700, 1000, 1300, 1700];

describe.each([
  ['verify', (out: string): string[] => ['verify', model, '--data', data, '--json', path.join(out, 'r.json'), '--report', path.join(out, 'report')]],
  ['attack', (out: string): string[] => ['attack', model, '--data', data, ...QUICK_ATTACK, '--json', path.join(out, 'r.json'), '--report', path.join(out, 'report')]],
])('SIGKILL during lip %s', (_command, args) => {
  it(`leaves only complete outputs (kills at ${KILL_TIMES_MS.join(', ')} ms), and a rerun succeeds`, async () => {
    const out = fs.mkdtempSync(tmp.path('out-'));
    for (const ms of KILL_TIMES_MS) {
      await runAndKill(args(out), ms);
      expectComplete(out);
    }
    const r = await runLip(args(out));
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expectComplete(out);
    expect(listFiles(out)).toEqual(expect.arrayContaining(['r.json', 'report/index.html', 'report/report.json']));
    expect(listFiles(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
