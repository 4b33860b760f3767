/**
 * Every package README's ```ts blocks type-check, so a README that drifts from
 * the API fails here. Each block is one module, compiled with the TypeScript
 * compiler API against the workspace sources; `@lip/...` resolves only to the
 * entries the package.json `exports` maps publish (`./dist/x.js` -> `src/x.ts`),
 * so a README cannot import what a user cannot.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { ROOT } from '@lip/test-support';
import { PACKAGES, publicEntries } from './packages';

/** Where the blocks pretend to live (never written): imports resolve from there, like a file of the repo. */
const SNIPPET_DIR = path.join(ROOT, 'test', 'packaging', 'readme-snippets');

interface Snippet {
  /** Label for messages: `packages/<pkg>/README.md:<line>`. */
  where: string;
  /** README line of the block's first code line. */
  firstLine: number;
  file: string;
  code: string;
}

/** The ```ts blocks of a markdown text, with the line each block's code starts on (1-based). */
function tsBlocks(markdown: string): { code: string; line: number }[] {
  const blocks: { code: string; line: number }[] = [];
  const fence = /^```ts[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    blocks.push({ code: m[1]!, line: markdown.slice(0, m.index).split('\n').length + 1 });
  }
  return blocks;
}

function readmeSnippets(pkg: string): Snippet[] {
  const readme = path.join('packages', pkg, 'README.md');
  return tsBlocks(fs.readFileSync(path.join(ROOT, readme), 'utf8')).map((b, i) => ({
    where: `${readme}:${b.line}`,
    firstLine: b.line,
    file: path.join(SNIPPET_DIR, `${pkg}-${i}.ts`),
    code: b.code,
  }));
}

/** `@lip/...` imports of a snippet that are not a published entry. */
function unpublishedImports(sf: ts.SourceFile, entries: ReadonlyMap<string, string>): string[] {
  const specifiers: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0]!) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      specifiers.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specifiers.filter((s) => s.startsWith('@lip/') && !entries.has(s));
}

/**
 * Type-checks the snippets in one program; returns the problems of each
 * (`README.md:line: message`), keyed by file.
 */
function checkSnippets(snippets: readonly Snippet[]): Map<string, string[]> {
  const entries = publicEntries();
  const options: ts.CompilerOptions = {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022, // top-level await, as a user's ESM script has
    moduleResolution: ts.ModuleResolutionKind.Node10,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    baseUrl: ROOT,
    paths: Object.fromEntries([...entries].map(([spec, src]) => [spec, [src]])),
  };
  const virtual = new Map(snippets.map((s) => [s.file, s.code]));
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f);
  host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => {
    const code = virtual.get(f);
    return code !== undefined ? ts.createSourceFile(f, code, lang, true) : getSourceFile.call(host, f, lang, ...rest);
  };
  const program = ts.createProgram(
    snippets.map((s) => s.file),
    options,
    host,
  );
  const problems = new Map<string, string[]>();
  for (const s of snippets) {
    const sf = program.getSourceFile(s.file)!;
    const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    const messages = diagnostics.map((d) => {
      const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
      return `${s.where.replace(/:\d+$/, '')}:${s.firstLine + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    for (const spec of unpublishedImports(sf, entries)) {
      messages.push(`${s.where}: imports '${spec}', which no package.json "exports" map publishes (${[...entries.keys()].join(', ')})`);
    }
    problems.set(s.file, messages);
  }
  return problems;
}

/** Snippets that must fail: proof that the check is not vacuous. */
const BROKEN: Snippet[] = [
  ["import { noSuchName } from '@lip/core';\nconsole.log(noSuchName);\n", 'a name the entry does not export'],
  ["import { lipschitzBound } from '@lip/verify';\nconst total: string = lipschitzBound('m.onnx').total;\n", 'a wrong type'],
  ["import { buildModel } from '@lip/train/dist/models/build_model';\nbuildModel('seed');\n", 'a deep import'],
].map(([code, what], i) => ({ where: `broken snippet (${what})`, firstLine: 1, file: path.join(SNIPPET_DIR, `broken-${i}.ts`), code }));

jest.setTimeout(300_000);

const snippets = PACKAGES.flatMap((pkg) => readmeSnippets(pkg).map((s) => ({ pkg, s })));
let problems: Map<string, string[]>;

beforeAll(() => {
  problems = checkSnippets([...snippets.map(({ s }) => s), ...BROKEN]);
});

describe.each(PACKAGES)('packages/%s/README.md', (pkg) => {
  it('exists, with a usage example in TypeScript, an install line and links to the root README and docs/architecture.md', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'packages', pkg, 'README.md'), 'utf8');
    expect(readme.startsWith(`# @lip/${pkg}\n`)).toBe(true);
    expect(readmeSnippets(pkg).length).toBeGreaterThan(0);
    expect(readme).toMatch(new RegExp(`npm install (--global )?@lip/${pkg}\\b`));
    expect(readme).toContain('(../../README.md)');
    expect(readme).toContain('(../../docs/architecture.md)');
  });

  it('type-checks every ```ts block against the published entries', () => {
    const mine = snippets.filter((x) => x.pkg === pkg).flatMap(({ s }) => problems.get(s.file)!);
    expect(mine).toEqual([]);
  });
});

it('reports a missing export, a type error and a deep import (the check is not vacuous)', () => {
  const [missing, wrongType, deep] = BROKEN.map((s) => problems.get(s.file)!.join('\n'));
  expect(missing).toMatch(/has no exported member 'noSuchName'/);
  expect(wrongType).toMatch(/Type 'number' is not assignable to type 'string'/);
  expect(deep).toMatch(/imports '@lip\/train\/dist\/models\/build_model', which no package.json "exports" map publishes/);
});
