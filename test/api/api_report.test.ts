/**
 * Each package's public names are exactly the ones its entry files list
 * (`export { a } from './x'`, `export type { T } from './y'`, no `export *`),
 * the built entries export exactly those (runtime values via `require`, all
 * names via the type checker on the `.d.ts`), and `api/<package>.api.md` is
 * up to date. Reads `dist`: run `npx tsc -b` first (`npm test` does).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

// Plain JavaScript (so `npm run api:update` runs it with node): see the file.
const api = require('./api_report');

interface Entry { pkg: string; specifier: string; src: string; dist: string }
interface Declared { name: string; value: boolean; lines: string[] }

const entries: Entry[] = api.ENTRIES;
let runtime: Map<string, string[]>;
let primitives: Map<string, Record<string, unknown>>;
let declared: Map<string, Declared[]>;

beforeAll(() => {
  const exported: Map<string, { keys: string[]; primitives: Record<string, unknown> }> = api.runtimeExports();
  runtime = new Map([...exported].map(([s, r]) => [s, r.keys]));
  primitives = new Map([...exported].map(([s, r]) => [s, r.primitives]));
  declared = api.declaredExports();
});

it('has no `export *` anywhere in packages/*/src', () => {
  expect(api.starExportsInSources()).toEqual([]);
});

it('covers every entry point of the exports maps, with the ones the brief names', () => {
  const specifiers = entries.map((e) => e.specifier);
  for (const s of ['@lip/core', '@lip/train', '@lip/train/node', '@lip/export', '@lip/verify', '@lip/verify/attacks', '@lip/runtime', '@lip/cli']) {
    expect(specifiers).toContain(s);
  }
});

it('gives one meaning to each name: no two packages export different things under one name', () => {
  expect(api.nameClashes(declared, primitives)).toEqual({});
});

describe.each(entries.map((e) => [e.specifier, e] as const))('%s', (_specifier, entry) => {
  it('exports exactly the names its source lists (values at runtime, all names in the .d.ts)', () => {
    expect(api.entryProblems(entry, runtime.get(entry.specifier), declared.get(entry.specifier))).toEqual([]);
  });
});

describe.each(api.PACKAGES.map((p: string) => [p]))('api/%s.api.md', (pkg) => {
  it(`matches the code (else review the diff and run \`${api.UPDATE_COMMAND}\`)`, () => {
    const file = api.reportPath(pkg);
    const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const fresh: string = api.renderReport(pkg, declared);
    if (committed !== fresh) {
      throw new Error(`${path.relative(api.ROOT, file)} differs from the code (- committed, + now):\n` +
        `${api.lineDiff(committed, fresh)}\nIf the change is intended, run \`${api.UPDATE_COMMAND}\` and commit the report.`);
    }
  });
});

/**
 * One temp package with an entry per case, compiled as ours are (CommonJS and
 * declarations), checked with one program and one child process.
 */
describe('the checks themselves', () => {
  const a = 'export const a = 1;\nexport interface A { x: number }\n';
  const b = 'export function b(): number { return 2; }\n';
  const cases: Record<string, string> = {
    listed: "export { a } from './a';\nexport type { A } from './a';\nexport { b } from './b';\n",
    star: "export { a } from './a';\nexport type { A } from './a';\nexport * from './b';\n",
    typeAsValue: "export { a, A } from './a';\n",
    before: "export { a } from './a';\n",
    after: "export { a } from './a';\nexport { b } from './b';\n",
  };
  let root: string;
  const entry = (name: string): Entry => ({
    pkg: name, specifier: `@lip/${name}`, src: `packages/demo/src/${name}.ts`, dist: `packages/demo/dist/${name}`,
  });
  const fixtures = Object.keys(cases).map(entry);
  let problems: Map<string, string[]>;
  let fixtureDeclared: Map<string, Declared[]>;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-api-'));
    const srcDir = path.join(root, 'packages', 'demo', 'src');
    fs.mkdirSync(srcDir, { recursive: true });
    const files: Record<string, string> = { 'a.ts': a, 'b.ts': b, ...Object.fromEntries(Object.entries(cases).map(([k, v]) => [`${k}.ts`, v])) };
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(srcDir, name), text);
    const program = ts.createProgram(Object.keys(files).map((f) => path.join(srcDir, f)), {
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, declaration: true, strict: true,
      rootDir: srcDir, outDir: path.join(root, 'packages', 'demo', 'dist'), types: [],
    });
    expect(program.emit().emitSkipped).toBe(false);
    const keys: Map<string, string[]> = api.runtimeNames(fixtures, root);
    fixtureDeclared = api.declaredExports(fixtures, root);
    problems = new Map(fixtures.map((e) => [e.pkg, api.entryProblems(e, keys.get(e.specifier), fixtureDeclared.get(e.specifier), root)]));
  });

  afterAll(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('pass an entry that lists its names', () => {
    expect(problems.get('listed')).toEqual([]);
  });

  it('fail an `export *` that adds a name', () => {
    expect(problems.get('star')).toEqual([
      "packages/demo/src/star.ts re-exports without naming: `export * from './b';`; list the names",
      "@lip/star exports 'b', which packages/demo/src/star.ts does not list",
      "@lip/star has the runtime value 'b', which packages/demo/src/star.ts does not list",
    ]);
  });

  it('fail a type listed as a value', () => {
    expect(problems.get('typeAsValue'))
      .toEqual(["packages/demo/src/typeAsValue.ts lists the type 'A' as a value: move it to `export type { ... }`"]);
  });

  it('fail a report when a name is added without updating it', () => {
    const render = (name: string): string => api.renderReport(name, fixtureDeclared, [entry(name)]).split(name).join('demo');
    const before = render('before');
    expect(before).toContain('const a: 1');
    expect(api.lineDiff(before, render('after'))).toBe('+ function b(): number');
  });
});
