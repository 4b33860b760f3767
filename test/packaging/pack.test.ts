/**
 * What `npm pack` puts in each package's tarball (the built dist: run
 * `npx tsc -b` first): source maps that resolve (every source of every
 * `.js.map` and `.d.ts.map` is in the tarball or inlined), every `exports`
 * target with its types, and no tests.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '@lip/test-support';
import { PACKAGES, SourceMap, TEST_FILE, readPackageJson, unresolvedMapSources } from './packages';

/** The files `npm pack` would put in the package's tarball. */
function packedFiles(pkg: string): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: path.join(ROOT, 'packages', pkg),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [report] = JSON.parse(out) as { files: { path: string }[] }[];
  return report!.files.map((f) => f.path).sort();
}

/** `unresolvedMapSources` of the package's packed maps; a source missing from src too is stale build output. */
function unresolvedSources(pkg: string, files: readonly string[]): string[] {
  const dir = path.join(ROOT, 'packages', pkg);
  return unresolvedMapSources(files, (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as SourceMap).map((problem) => {
    const source = problem.split(' -> ')[1]!;
    return fs.existsSync(path.join(dir, source)) ? problem : `${problem} (no such source: stale build output; run npm run clean && npm run build)`;
  });
}

jest.setTimeout(120_000);

describe.each(PACKAGES)('npm pack @lip/%s', (pkg) => {
  let files: string[];
  beforeAll(() => {
    files = packedFiles(pkg);
  });

  it('has source maps whose every source is in the tarball or inlined', () => {
    expect(files.filter((f) => f.endsWith('.js.map')).length).toBeGreaterThan(0);
    expect(files.filter((f) => f.endsWith('.d.ts.map')).length).toBeGreaterThan(0);
    expect(unresolvedSources(pkg, files)).toEqual([]);
  });

  it('holds README, LICENSE and every exports target with its types, and no tests', () => {
    const packed = new Set(files);
    for (const f of ['package.json', 'README.md', 'LICENSE']) expect([f, packed.has(f)]).toEqual([f, true]);
    for (const [subpath, entry] of Object.entries(readPackageJson(pkg).exports ?? {})) {
      if (typeof entry === 'string') {
        expect([subpath, entry, packed.has(entry.slice(2))]).toEqual([subpath, entry, true]);
        continue;
      }
      expect([subpath, 'types' in entry]).toEqual([subpath, true]);
      for (const target of Object.values(entry)) expect([subpath, target, packed.has(target.slice(2))]).toEqual([subpath, target, true]);
    }
    expect(files.filter((f) => TEST_FILE.test(f))).toEqual([]);
  });
});
