/**
 * A cached bound is keyed by BOUND_SOURCES_SHA256, so a change to the code
 * that shapes the bound must change it: otherwise `lip verify` would keep
 * serving bounds the new code no longer computes (or, after a soundness fix,
 * bounds that are wrong).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '@lip/test-support';
import { BOUND_CACHE_VERSION, BOUND_SOURCES_SHA256 } from './cache_version';

/** The folders whose sources shape the bound (cache_version.ts's doc lists them). */
const SOURCE_DIRS = ['packages/verify/src/bound', 'packages/verify/src/ops', 'packages/verify/src/onnx', 'packages/core/src/linalg'];
const NOT_BOUND_CODE = new Set(['cache.ts', 'cache_version.ts']);

function boundSources(): string[] {
  return SOURCE_DIRS.flatMap((dir) =>
    fs
      .readdirSync(path.join(ROOT, dir))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !NOT_BOUND_CODE.has(f))
      .map((f) => `${dir}/${f}`),
  ).sort();
}

/** sha256 over each file's path and text (line ends normalized), in path order. */
function boundSourcesSha256(files: readonly string[]): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}\0${fs.readFileSync(path.join(ROOT, f), 'utf8').replace(/\r\n/g, '\n')}\0`);
  return hash.digest('hex');
}

describe('bound cache version', () => {
  it('BOUND_SOURCES_SHA256 is the hash of the bound sources as they are', () => {
    const files = boundSources();
    expect(files).toContain('packages/verify/src/bound/conv.ts');
    expect(files).toContain('packages/core/src/linalg/conv_norm_bound.ts');
    const actual = boundSourcesSha256(files);
    if (actual !== BOUND_SOURCES_SHA256) {
      throw new Error(
        `the bound's sources changed, so cached bounds are stale: in packages/verify/src/bound/cache_version.ts set ` +
          `BOUND_SOURCES_SHA256 = '${actual}' and bump BOUND_CACHE_VERSION to ${BOUND_CACHE_VERSION + 1}`,
      );
    }
  });

  it('the hash covers every file it names (a changed byte changes it)', () => {
    const files = boundSources();
    const base = boundSourcesSha256(files);
    expect(boundSourcesSha256(files.slice(1))).not.toBe(base);
    expect(boundSourcesSha256([...files].reverse())).not.toBe(base);
  });
});
