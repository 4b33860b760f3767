/**
 * The output files of `lip verify` and `lip attack` (--json, --report) are
 * written atomically: killing the process at any moment leaves each file
 * absent or complete, never half-written. A second run after a kill
 * succeeds over whatever the first one left, and removes the temp files of
 * the killed runs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { atomicTemps, listFiles } from '@lip/test-support';
import { cliFixturesPerSuite, outDir, outputFlags, QUICK_ATTACK, runAndKill, runLip } from '@lip/test-support/cli';

// 40 images: a run long enough for the kill times below to land while outputs are being written.
const fx = cliFixturesPerSuite('kill', { images: 40 });

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
  ['verify', (out: string): string[] => ['verify', fx.model, '--data', fx.data, ...outputFlags('verify', out)]],
  ['attack', (out: string): string[] => ['attack', fx.model, '--data', fx.data, ...QUICK_ATTACK, ...outputFlags('attack', out)]],
])('SIGKILL during lip %s', (_command, args) => {
  it(`leaves only complete outputs (kills at ${KILL_TIMES_MS.join(', ')} ms), and a rerun succeeds`, async () => {
    const out = outDir(fx.root);
    for (const ms of KILL_TIMES_MS) {
      await runAndKill(args(out), ms);
      expectComplete(out);
    }
    const r = await runLip(args(out));
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expectComplete(out);
    expect(listFiles(out)).toEqual(expect.arrayContaining(['result.json', 'report/index.html', 'report/report.json']));
    expect(atomicTemps(out)).toEqual([]);
  });
});
