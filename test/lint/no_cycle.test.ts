/**
 * import-x/no-cycle as eslint.config.mjs configures it: it catches a cycle, exempts
 * type-only imports, and finds no cycle in packages/<name>/src beyond the known ones.
 * ESLint runs in a child node (it loads its .mjs config with import(), which jest's module sandbox lacks),
 * with only that rule (`ruleFilter`); any other message (a parse error) fails the test.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT, tmpDirPerTest } from '@lip/test-support';

const CONFIG = path.join(ROOT, 'eslint.config.mjs');
const RULE = 'import-x/no-cycle';

/**
 * Files on a known cycle, relative to the root: none. Break a new cycle by moving what both sides need into a
 * module of its own (as @lip/verify's bound/propagate.ts and onnx/limits.ts did) rather than listing it here.
 */
const KNOWN_CYCLES: string[] = [];

/** The files under `cwd` matching `patterns` that import-x/no-cycle reports, relative to `cwd`. */
function filesWithCycles(cwd: string, patterns: string[]): string[] {
  const script = `
    const { ESLint } = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'eslint'))});
    const eslint = new ESLint({ cwd: ${JSON.stringify(cwd)}, overrideConfigFile: ${JSON.stringify(CONFIG)},
      overrideConfig: { linterOptions: { reportUnusedDisableDirectives: 'off' } }, ruleFilter: ({ ruleId }) => ruleId === ${JSON.stringify(RULE)} });
    eslint.lintFiles(${JSON.stringify(patterns)}).then((results) => process.stdout.write(JSON.stringify(results.map((r) => ({
      file: r.filePath, rules: r.messages.map((m) => m.ruleId ?? 'fatal: ' + m.message) })))));`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`eslint failed (status ${r.status}): ${r.stderr}`);
  const results = JSON.parse(r.stdout) as { file: string; rules: string[] }[];
  for (const { file, rules } of results) {
    const other = rules.filter((rule) => rule !== RULE);
    if (other.length > 0) throw new Error(`${file}: ${other.join('; ')}`);
  }
  return results
    .filter((x) => x.rules.length > 0)
    .map((x) => path.relative(cwd, x.file).split(path.sep).join('/'))
    .sort();
}

describe('import-x/no-cycle', () => {
  const tmp = tmpDirPerTest('no-cycle');

  it('reports a value import cycle and exempts a type-only one', () => {
    tmp.put('src/a.ts', "import { b } from './b';\nexport const a = (): number => b() + 1;\n");
    tmp.put('src/b.ts', "import { a } from './a';\nexport const b = (): number => (a ? 1 : 0);\n");
    tmp.put('src/c.ts', "import type { D } from './d';\nexport interface C {\n  d?: D;\n}\n");
    tmp.put('src/d.ts', "import type { C } from './c';\nexport interface D {\n  c?: C;\n}\n");
    tmp.put('src/e.ts', "import { a } from './a';\nexport const e = a;\n");
    expect(filesWithCycles(tmp.dir, ['src'])).toEqual(['src/a.ts', 'src/b.ts']);
  });

  it('finds no cycle in the packages sources beyond the known ones', () => {
    expect(filesWithCycles(ROOT, ['packages/*/src/**/*.ts'])).toEqual(KNOWN_CYCLES);
  }, 600_000);
});
