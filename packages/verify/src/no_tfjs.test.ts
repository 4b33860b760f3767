/**
 * `require('@lip/verify')` loads neither TensorFlow.js nor training code:
 * the reader, the bound, the certificates, the session and verifyModel stay
 * light, and the attacks (which need tfjs) are behind `@lip/verify/attacks`.
 * Runs dist/ in a fresh node process (build first: `npx tsc -b`).
 */
import { execFileSync } from 'child_process';
import * as path from 'path';

const DIST = path.resolve(__dirname, '..', 'dist');

function loadedModules(entry: string): string[] {
  const script = `require(${JSON.stringify(entry)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as string[];
}

it("require('@lip/verify') loads no tfjs module and no @lip/train", () => {
  const loaded = loadedModules(path.join(DIST, 'index.js'));
  expect(loaded.some((f) => f.endsWith(path.join('verify', 'dist', 'bound', 'lipschitz.js')))).toBe(true);
  expect(loaded.filter((f) => /@tensorflow/.test(f))).toEqual([]);
  expect(loaded.filter((f) => /[\\/]train[\\/]dist[\\/]/.test(f))).toEqual([]);
});

it('@lip/verify/attacks is where tfjs comes in', () => {
  expect(loadedModules(path.join(DIST, 'attacks', 'index.js')).some((f) => /@tensorflow[\\/]tfjs-core/.test(f))).toBe(true);
});
