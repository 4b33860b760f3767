/**
 * Releasing with lerna, end to end, in a throw-away clone of the working tree
 * (tools/publish-dry-run.js: remote removed, node_modules linked, offline):
 * `lerna version 0.1.1 --yes` with lerna.json's settings moves every package
 * and every inter-package dependency to exactly 0.1.1, commits and tags
 * without pushing; then `lerna publish from-package` builds from scratch,
 * packs and uploads the six packages to a stub registry on 127.0.0.1, whose
 * tarballs hold README, LICENSE, dist and the sources its maps point at, and
 * no tests.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tmpDirPerSuite } from '@lip/test-support';
import { PACKAGES, PackageJson, SourceMap, TEST_FILE, exportTarget, readPackageJson, unresolvedMapSources } from './packages';

interface Published {
  name: string;
  version: string;
  access: string | null;
  manifest: PackageJson & Record<string, Record<string, string> | undefined>;
  files: string[];
  sourceMaps: Record<string, SourceMap>;
}
interface DryRunTool {
  cloneWorkingTree(dest: string): void;
  publishFromPackage(repo: string, env?: Record<string, string>): Promise<{ packages: Published[]; log: string }>;
  runLerna(cwd: string, args: string[], env: Record<string, string>): Promise<string>;
  cleanEnv(npmrc: string): Record<string, string>;
}
const tool = require('../../tools/publish-dry-run.js') as DryRunTool;

const VERSION = '0.1.1';
const NAMES = PACKAGES.map((p) => `@lip/${p}`);
/** lerna commits in the clone: an identity that does not depend on the machine's git config. */
const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'lip test',
  GIT_AUTHOR_EMAIL: 'test@localhost',
  GIT_COMMITTER_NAME: 'lip test',
  GIT_COMMITTER_EMAIL: 'test@localhost',
};

jest.setTimeout(900_000);

const work = tmpDirPerSuite('lerna-test');
let repo: string;
const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

beforeAll(() => {
  repo = work.path('repo');
  tool.cloneWorkingTree(repo);
});

/** Every `@lip/*` entry of a manifest's dependency fields. */
function internalDependencies(manifest: Record<string, unknown>): [string, string][] {
  return ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].flatMap((field) =>
    Object.entries((manifest[field] ?? {}) as Record<string, string>).filter(([name]) => name.startsWith('@lip/')),
  );
}

describe('lerna version', () => {
  it(`moves every package and inter-package dependency to exactly ${VERSION}, commits and tags in the clone, pushes nothing`, async () => {
    const npmrc = work.path('npmrc');
    fs.writeFileSync(npmrc, '');
    // Offline: updating the lockfile for new workspace versions needs no registry.
    await tool.runLerna(repo, ['version', VERSION, '--yes'], { ...tool.cleanEnv(npmrc), ...GIT_IDENTITY, npm_config_offline: 'true' });

    for (const pkg of PACKAGES) {
      const manifest = readPackageJson(pkg, repo);
      expect(`${manifest.name}@${manifest.version}`).toBe(`@lip/${pkg}@${VERSION}`);
      const internal = internalDependencies(manifest);
      if (pkg !== 'core') expect(internal.length).toBeGreaterThan(0);
      for (const [name, range] of internal) expect(`${manifest.name} -> ${name}@${range}`).toBe(`${manifest.name} -> ${name}@${VERSION}`);
    }
    expect(JSON.parse(fs.readFileSync(path.join(repo, 'lerna.json'), 'utf8')).version).toBe(VERSION);
    const lock = JSON.parse(fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
    for (const pkg of PACKAGES) {
      const entry = lock.packages[`packages/${pkg}`]!;
      expect(entry.version).toBe(VERSION);
      for (const [, range] of internalDependencies(entry)) expect(range).toBe(VERSION);
    }

    expect(git(repo, 'status', '--porcelain')).toBe('');
    expect(git(repo, 'log', '-1', '--format=%s')).toBe(`Release v${VERSION}`);
    expect(git(repo, 'tag', '--points-at', 'HEAD')).toBe(`v${VERSION}`);
    expect(git(repo, 'remote')).toBe('');
    // Nothing reached the repository the clone came from.
    expect(git(ROOT, 'tag', '--list', `v${VERSION}`)).toBe('');
  });
});

describe('lerna publish from-package (stub registry on 127.0.0.1)', () => {
  let published: Published[];

  beforeAll(async () => {
    ({ packages: published } = await tool.publishFromPackage(repo, GIT_IDENTITY));
  });

  it('publishes the six packages, dependencies first, public, at the new version', () => {
    expect(published.map((p) => p.name).sort()).toEqual([...NAMES].sort());
    const order = published.map((p) => p.name);
    for (const p of published) {
      expect(`${p.name}@${p.version} ${p.access}`).toBe(`${p.name}@${VERSION} public`);
      for (const dep of Object.keys(p.manifest.dependencies ?? {}).filter((d) => d.startsWith('@lip/'))) {
        expect(`${dep} before ${p.name}: ${order.indexOf(dep) < order.indexOf(p.name)}`).toBe(`${dep} before ${p.name}: true`);
      }
    }
  });

  it.each(PACKAGES)('@lip/%s: README, LICENSE, dist and sources (source maps resolve); no tests; every exports entry and its types present', (pkg) => {
    const p = published.find((x) => x.name === `@lip/${pkg}`)!;
    const files = new Set(p.files);
    for (const required of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'src/index.ts']) {
      expect([required, files.has(required)]).toEqual([required, true]);
    }
    expect(p.files.filter((f) => TEST_FILE.test(f))).toEqual([]);
    expect(unresolvedMapSources(p.files, (f) => p.sourceMaps[f]!)).toEqual([]);
    expect(p.files.filter((f) => !/^(dist|src|bin)\//.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([]);
    for (const [subpath, entry] of Object.entries(p.manifest.exports ?? {})) {
      const targets = typeof entry === 'string' ? [entry] : Object.values(entry);
      for (const target of targets) expect([subpath, target, files.has(target.replace(/^\.\//, ''))]).toEqual([subpath, target, true]);
      if (typeof entry !== 'string') expect([subpath, typeof entry.types]).toEqual([subpath, 'string']);
    }
    expect(exportTarget(p.manifest.exports!['.']!)).toBe('./dist/index.js');
  });
});
