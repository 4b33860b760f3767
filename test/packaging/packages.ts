/** The workspace packages and their published entries, for the packaging tests. */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '@lip/test-support';

/** The six published packages, dependencies first. */
export const PACKAGES = ['core', 'train', 'export', 'verify', 'runtime', 'cli'] as const;
export type PackageName = (typeof PACKAGES)[number];

export interface PackageJson {
  name: string;
  version: string;
  exports?: Record<string, string | Record<string, string>>;
  [field: string]: unknown;
}

export function readPackageJson(pkg: PackageName | string, root: string = ROOT): PackageJson {
  return JSON.parse(fs.readFileSync(path.join(root, 'packages', pkg, 'package.json'), 'utf8')) as PackageJson;
}

/** The JavaScript file an `exports` entry points Node at (its `default` condition). */
export function exportTarget(entry: string | Record<string, string>): string {
  return typeof entry === 'string' ? entry : entry.default!;
}

/**
 * Every import specifier the `exports` maps publish (`@lip/train`,
 * `@lip/train/node`, ...) -> the source file it is built from, relative to
 * the root (`./dist/x.js` -> `packages/<pkg>/src/x.ts`).
 */
export function publicEntries(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const pkg of PACKAGES) {
    const { name, exports } = readPackageJson(pkg);
    for (const [subpath, entry] of Object.entries(exports ?? {})) {
      const target = exportTarget(entry);
      const built = /^\.\/dist\/(.+)\.js$/.exec(target);
      if (!built) continue; // ./package.json
      entries.set(subpath === '.' ? name : `${name}/${subpath.slice(2)}`, `packages/${pkg}/src/${built[1]}.ts`);
    }
  }
  return entries;
}

export interface SourceMap {
  sources: string[];
  sourceRoot?: string;
  sourcesContent?: (string | null)[];
}

/**
 * Sources of the packed source maps a debugger or an editor could not open:
 * neither inlined (`sourcesContent`) nor a file of the tarball. `files` are
 * the tarball's paths; `readMap` parses one of its `.map` files.
 */
export function unresolvedMapSources(files: readonly string[], readMap: (file: string) => SourceMap): string[] {
  const packed = new Set(files);
  const problems: string[] = [];
  for (const mapFile of files.filter((f) => f.endsWith('.map'))) {
    const map = readMap(mapFile);
    map.sources.forEach((source, i) => {
      if (typeof map.sourcesContent?.[i] === 'string') return;
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(mapFile), map.sourceRoot ?? '', source));
      if (!packed.has(resolved)) problems.push(`${mapFile} -> ${resolved}`);
    });
  }
  return problems;
}

/** Paths of a tarball that are tests or test helpers. */
export const TEST_FILE = /\.test\.[jt]s(\.map)?$|\.test\.d\.ts|(^|\/)(testing|test|testdata)\//;
