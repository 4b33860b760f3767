#!/usr/bin/env node
/**
 * The public API of every package entry point (each subpath of each
 * package.json `exports` map), three ways (test/api/api_report.test.ts checks
 * they agree):
 *   - listed: the names the entry's source (`src/index.ts`, ...) lists in its
 *     `export { ... }` / `export type { ... }` clauses and exported declarations;
 *   - built: the runtime values of the built entry (`Object.keys(require(dist))`,
 *     in a child process so Jest's module mapping plays no part) and all names
 *     the type checker sees exported by its `.d.ts`;
 *   - reported: `api/<package>.api.md`, one line per name (kind, name,
 *     signature), generated from the `.d.ts`, committed and reviewed like code.
 *
 * `npm run api:update` (= `tsc -b && node test/api/api_report.js --update`)
 * rewrites the reports; `node test/api/api_report.js` alone prints what is
 * wrong (exit code 1). Both read the built `dist`: build first.
 * Plain JavaScript so it runs without a TypeScript loader.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const ts = require('typescript');

const ROOT = path.resolve(__dirname, '..', '..');
const UPDATE_COMMAND = 'npm run api:update';

/**
 * Every public entry point, from the `exports` map of each workspace package
 * (the same map Node and bundlers resolve): its package, import specifier,
 * source file and built file (no extension). A `browser` condition (a
 * browser-safe twin of the entry) is an entry of its own.
 */
function packageEntries(root = ROOT) {
  const workspaces = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).workspaces;
  const entries = [];
  for (const dir of workspaces) {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, dir, 'package.json'), 'utf8'));
    const pkg = manifest.name.replace(/^@lip\//, '');
    const exportsMap = manifest.exports ?? { '.': { types: manifest.types, default: manifest.main } };
    for (const [subpath, target] of Object.entries(exportsMap)) {
      if (subpath === './package.json' || subpath.includes('*')) continue;
      const specifier = subpath === '.' ? manifest.name : `${manifest.name}${subpath.slice(1)}`;
      const files = typeof target === 'string' ? { default: target } : target;
      const add = (label, jsFile) => {
        const dist = path.posix.join(dir, jsFile.replace(/^\.\//, '').replace(/\.js$/, ''));
        entries.push({ pkg, specifier: label, src: `${dist.replace(/\/dist\//, '/src/')}.ts`, dist });
      };
      add(specifier, files.default ?? files.require ?? files.types.replace(/\.d\.ts$/, '.js'));
      if (files.browser) add(`${specifier} (browser)`, files.browser);
    }
  }
  return entries;
}

const ENTRIES = packageEntries();

const PACKAGES = [...new Set(ENTRIES.map((e) => e.pkg))];

function reportPath(pkg) {
  return path.join(ROOT, 'api', `${pkg}.api.md`);
}

function byName(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * What a module's source lists: `values` (exported without `type`), `types`
 * (`export type`, interfaces, type aliases) and `stars` (the text of each
 * `export * from` / `export * as`, which lists nothing by name).
 */
function listedNames(file) {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const values = new Set();
  const types = new Set();
  const stars = [];
  const exported = (node) => ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export;
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (!clause || ts.isNamespaceExport(clause)) {
        stars.push(statement.getText(source));
        continue;
      }
      for (const element of clause.elements) {
        (statement.isTypeOnly || element.isTypeOnly ? types : values).add(element.name.text);
      }
    } else if (ts.isExportAssignment(statement)) {
      values.add('default');
    } else if ((ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) && exported(statement)) {
      types.add(statement.name.text);
    } else if (ts.isVariableStatement(statement) && exported(statement)) {
      for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name)) values.add(d.name.text);
    } else if (
      (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isEnumDeclaration(statement) ||
        ts.isModuleDeclaration(statement)) && statement.name && exported(statement)
    ) {
      values.add(statement.name.text);
    }
  }
  return { values, types, stars };
}

/** `export *` statements in every `.ts` file under `packages/<name>/src`, as `file: statement`. */
function starExportsInSources() {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && /export\s*\*/.test(fs.readFileSync(full, 'utf8'))) {
        for (const s of listedNames(full).stars) found.push(`${path.relative(ROOT, full)}: ${s}`);
      }
    }
  };
  for (const pkg of fs.readdirSync(path.join(ROOT, 'packages'))) {
    const src = path.join(ROOT, 'packages', pkg, 'src');
    if (fs.existsSync(src)) walk(src);
  }
  return found;
}

/** Throws a message saying to build when an entry's `dist` files are missing. */
function assertBuilt(entries = ENTRIES, root = ROOT) {
  const missing = entries.filter((e) => !fs.existsSync(path.join(root, `${e.dist}.js`)) ||
    !fs.existsSync(path.join(root, `${e.dist}.d.ts`)));
  if (missing.length > 0) {
    throw new Error(`not built: ${missing.map((e) => `${e.dist}.js`).join(', ')}; run \`npx tsc -b\` first`);
  }
}

/** Object.keys of each built entry, keyed by specifier, required in a fresh Node process. */
function runtimeNames(entries = ENTRIES, root = ROOT) {
  return new Map([...runtimeExports(entries, root)].map(([specifier, r]) => [specifier, r.keys]));
}

/**
 * Each built entry's runtime exports, keyed by specifier: `keys` (Object.keys)
 * and `primitives` (the exported strings, numbers and booleans, by name).
 */
function runtimeExports(entries = ENTRIES, root = ROOT) {
  assertBuilt(entries, root);
  const script = `const out = {};
for (const [specifier, file] of JSON.parse(process.argv[1])) {
  const m = require(file);
  const primitives = {};
  for (const k of Object.keys(m)) if (['string', 'number', 'boolean'].includes(typeof m[k])) primitives[k] = m[k];
  out[specifier] = { keys: Object.keys(m), primitives };
}
process.stdout.write(JSON.stringify(out));`;
  const files = entries.map((e) => [e.specifier, path.join(root, e.dist)]);
  const stdout = execFileSync(process.execPath, ['-e', script, JSON.stringify(files)], {
    cwd: root, encoding: 'utf8', maxBuffer: 16 << 20, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  return new Map(Object.entries(JSON.parse(stdout)));
}

const FORMAT = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseSingleQuotesForStringLiteralType;

/** Drops absolute `import("...")` qualifiers so reports do not depend on where the repository is. */
function clean(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/import\("[^"]*"\)\./g, '').replace(/<(tf\.)?(ArrayBufferLike|Rank)>/g, '').replace(/\s+/g, ' ');
}

function typeText(checker, type, node) {
  return clean(checker.typeToString(type, node, FORMAT));
}

function typeParameters(checker, decl) {
  const params = decl && ts.getEffectiveTypeParameterDeclarations(decl);
  return params && params.length > 0 ? `<${params.map((p) => clean(p.getText())).join(', ')}>` : '';
}

function signatureText(checker, signature, node) {
  const tps = signature.getTypeParameters();
  const generics = tps && tps.length > 0 ? `<${tps.map((t) => typeText(checker, t, node)).join(', ')}>` : '';
  const params = signature.getParameters().map((p) => {
    const decl = p.valueDeclaration;
    const rest = decl && ts.isParameter(decl) && decl.dotDotDotToken ? '...' : '';
    const optional = decl && ts.isParameter(decl) && (decl.questionToken || decl.initializer) ? '?' : '';
    const type = typeText(checker, checker.getTypeOfSymbolAtLocation(p, node), node);
    return `${rest}${p.name}${optional}: ${optional ? type.replace(/ \| undefined$/, '') : type}`;
  });
  return `${generics}(${params.join(', ')}): ${typeText(checker, signature.getReturnType(), node)}`;
}

/** Names of the members a class or interface declares itself (public ones; `static` marked, optional with `?`). */
function ownMembers(symbol) {
  const names = [];
  for (const decl of symbol.declarations || []) {
    if (!ts.isClassDeclaration(decl) && !ts.isInterfaceDeclaration(decl)) continue;
    for (const member of decl.members) {
      const flags = ts.getCombinedModifierFlags(member);
      if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      if (!member.name || ts.isPrivateIdentifier(member.name)) continue;
      if (ts.isConstructorDeclaration(member)) continue;
      const name = `${flags & ts.ModifierFlags.Static ? 'static ' : ''}${member.name.getText()}${member.questionToken ? '?' : ''}`;
      if (!names.includes(name)) names.push(name);
    }
  }
  return names;
}

function body(items, separator) {
  return items.length > 0 ? ` { ${items.join(separator)} }` : ' {}';
}

/** One report line per exported symbol: `kind name signature`. Namespaces give one line per member. */
function describeSymbol(checker, name, symbol, node) {
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const decl = target.declarations && target.declarations[0];
  const at = decl || node;
  const lines = [];
  const flags = target.flags;
  if (flags & ts.SymbolFlags.ValueModule) {
    for (const member of checker.getExportsOfModule(target).sort((a, b) => byName(a.name, b.name))) {
      lines.push(...describeSymbol(checker, `${name}.${member.name}`, member, node));
    }
    return lines;
  }
  if (flags & ts.SymbolFlags.Class) {
    const heritage = decl && decl.heritageClauses ? ` ${decl.heritageClauses.map((h) => clean(h.getText())).join(' ')}` : '';
    const isPrivate = (d) => ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected);
    const hidden = decl && decl.members && decl.members.some((m) => ts.isConstructorDeclaration(m) && isPrivate(m));
    const ctors = hidden ? [] : checker.getTypeOfSymbolAtLocation(target, at).getConstructSignatures()
      .map((s) => `constructor${signatureText(checker, s, at).replace(/: [^:]*$/, '')}`);
    lines.push(`class ${name}${typeParameters(checker, decl)}${heritage}${body([...ctors, ...ownMembers(target)], '; ')}`);
  } else if (flags & ts.SymbolFlags.Function) {
    const signatures = checker.getTypeOfSymbolAtLocation(target, at).getCallSignatures();
    for (const s of signatures) lines.push(`function ${name}${signatureText(checker, s, at)}`);
  } else if (flags & ts.SymbolFlags.Enum) {
    lines.push(`enum ${name} { ${checker.getExportsOfModule(target).map((m) => m.name).join(', ')} }`);
  } else if (flags & ts.SymbolFlags.Variable) {
    const kind = decl && ts.isVariableDeclaration(decl) && decl.parent.flags & ts.NodeFlags.Const ? 'const' : 'let';
    lines.push(`${kind} ${name}: ${typeText(checker, checker.getTypeOfSymbolAtLocation(target, at), at)}`);
  }
  if (flags & ts.SymbolFlags.Interface) {
    const heritage = decl && decl.heritageClauses ? ` ${decl.heritageClauses.map((h) => clean(h.getText())).join(' ')}` : '';
    lines.push(`interface ${name}${typeParameters(checker, decl)}${heritage}${body(ownMembers(target), ', ')}`);
  }
  if (flags & ts.SymbolFlags.TypeAlias) {
    const aliased = decl && ts.isTypeAliasDeclaration(decl) ? clean(decl.type.getText()) : typeText(checker, checker.getDeclaredTypeOfSymbol(target), at);
    lines.push(`type ${name}${typeParameters(checker, decl)} = ${aliased}`);
  }
  if (lines.length === 0) lines.push(`unknown ${name}`);
  return lines;
}

/**
 * Every name each built `.d.ts` exports (type checker), with its report lines
 * and whether it is a value. Keyed by specifier.
 */
function declaredExports(entries = ENTRIES, root = ROOT) {
  assertBuilt(entries, root);
  const files = entries.map((e) => path.join(root, `${e.dist}.d.ts`));
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10,
    strict: true, esModuleInterop: true, skipLibCheck: true, noEmit: true, types: ['node'],
  });
  const checker = program.getTypeChecker();
  const out = new Map();
  for (const [i, entry] of entries.entries()) {
    const source = program.getSourceFile(files[i]);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    const symbols = moduleSymbol ? checker.getExportsOfModule(moduleSymbol) : [];
    out.set(entry.specifier, symbols.map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const decl = target.declarations && target.declarations[0];
      return {
        name: symbol.name,
        value: Boolean(target.flags & ts.SymbolFlags.Value),
        lines: describeSymbol(checker, symbol.name, symbol, source),
        // Where the name is declared, so two entries can be told to export the same thing or two things.
        origin: decl ? `${path.relative(root, decl.getSourceFile().fileName)}:${decl.getStart()}` : symbol.name,
      };
    }).sort((a, b) => byName(a.name, b.name)));
  }
  return out;
}

/**
 * Constants declared twice on purpose, for one meaning: @lip/runtime keeps
 * import-free copies of the metadata strings (@lip/export writes them) and of
 * the rounding margin (@lip/core) so its browser bundle needs nothing else.
 * `nameClashes` still requires the copies to hold the same value.
 */
const DELIBERATE_COPIES = ['CERTIFICATE_BINARY', 'CERTIFICATE_MULTICLASS', 'CERTIFICATE_ROUNDING_MARGIN'];

/**
 * Names that entries export with different meanings: `name -> [specifier: declaration]`
 * for every name declared in more than one place. The same declaration
 * re-exported (as @lip/train does core's errors) is one meaning; so is a
 * `DELIBERATE_COPIES` constant whose copies hold the same value (`primitives`,
 * by specifier, from `runtimeExports`).
 */
function nameClashes(declared, primitives = new Map()) {
  const origins = new Map();
  for (const [specifier, items] of declared) {
    for (const item of items) {
      if (!origins.has(item.name)) origins.set(item.name, new Map());
      origins.get(item.name).set(item.origin, specifier);
    }
  }
  const clashes = {};
  for (const [name, where] of origins) {
    const values = [...where.values()].map((specifier) => primitives.get(specifier) && primitives.get(specifier)[name]);
    if (DELIBERATE_COPIES.includes(name) && values[0] !== undefined && values.every((v) => v === values[0])) continue;
    if (where.size > 1) clashes[name] = [...where].map(([origin, specifier]) => `${specifier}: ${origin.replace(/:\d+$/, '')}`).sort(byName);
  }
  return clashes;
}

/** The report of one package: its entries in order, each a sorted code block of one line per name. */
function renderReport(pkg, declared, entries = ENTRIES) {
  const parts = [
    `# API report: @lip/${pkg}`,
    '',
    `Generated by \`${UPDATE_COMMAND}\` from the built declarations (\`packages/${pkg}/dist\`); do not edit.`,
    'test/api/api_report.test.ts fails when the code and this file differ: review a change here as a change',
    'to the public API. One line per exported name: kind, name, signature (interfaces: their members).',
  ];
  for (const entry of entries.filter((e) => e.pkg === pkg)) {
    parts.push('', `## \`${entry.specifier}\` (\`${entry.src}\`)`, '', '```ts');
    for (const item of declared.get(entry.specifier)) parts.push(...item.lines);
    parts.push('```');
  }
  return `${parts.join('\n')}\n`;
}

/**
 * What is wrong with one entry, as messages (none when its public names are
 * exactly the ones its source lists): `export *` statements, names exported
 * but not listed or listed but not exported (type checker on the `.d.ts`),
 * and runtime values that differ from the names listed without `type`.
 */
function entryProblems(entry, runtimeKeys, declared, root = ROOT) {
  const listed = listedNames(path.join(root, entry.src));
  const problems = listed.stars.map((s) => `${entry.src} re-exports without naming: \`${s}\`; list the names`);
  const all = new Set([...listed.values, ...listed.types]);
  const names = new Set(declared.map((d) => d.name));
  const values = new Set(declared.filter((d) => d.value).map((d) => d.name));
  const missing = (a, b) => [...a].filter((n) => !b.has(n)).sort(byName);
  for (const n of missing(names, all)) problems.push(`${entry.specifier} exports '${n}', which ${entry.src} does not list`);
  for (const n of missing(all, names)) problems.push(`${entry.src} lists '${n}', which the built ${entry.dist}.d.ts does not export (rebuild?)`);
  const keys = new Set(runtimeKeys);
  for (const n of missing(keys, listed.values)) {
    problems.push(`${entry.specifier} has the runtime value '${n}', which ${entry.src} does not list${listed.types.has(n) ? ' without `type`' : ''}`);
  }
  for (const n of missing(listed.values, keys)) {
    problems.push(values.has(n) || !names.has(n)
      ? `${entry.src} lists the value '${n}', missing from the built ${entry.dist}.js (rebuild?)`
      : `${entry.src} lists the type '${n}' as a value: move it to \`export type { ... }\``);
  }
  return problems;
}

/** Line diff of two texts (lines only in `before` as `-`, only in `after` as `+`), enough to read a report change. */
function lineDiff(before, after) {
  const a = before.split('\n');
  const b = after.split('\n');
  // Longest common subsequence, O(n m): reports are a few hundred lines.
  const lcs = Array.from({ length: a.length + 1 }, () => new Int32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push(`- ${a[i++]}`);
    } else {
      out.push(`+ ${b[j++]}`);
    }
  }
  return out.join('\n');
}

/** For each package: the committed report (null when missing) and a fresh one. */
function reports() {
  const declared = declaredExports();
  return PACKAGES.map((pkg) => {
    const file = reportPath(pkg);
    return { pkg, file, committed: fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null, fresh: renderReport(pkg, declared) };
  });
}

function main(argv) {
  const runtime = runtimeNames();
  const declared = declaredExports();
  const problems = ENTRIES.flatMap((e) => entryProblems(e, runtime.get(e.specifier), declared.get(e.specifier)));
  for (const p of problems) process.stdout.write(`${p}\n`);
  const all = reports();
  if (argv.includes('--update')) {
    fs.mkdirSync(path.join(ROOT, 'api'), { recursive: true });
    for (const r of all) {
      if (r.committed !== r.fresh) {
        fs.writeFileSync(r.file, r.fresh);
        process.stdout.write(`wrote ${path.relative(ROOT, r.file)}\n`);
      }
    }
    return 0;
  }
  let stale = 0;
  for (const r of all) {
    if (r.committed === r.fresh) continue;
    stale++;
    process.stdout.write(`${path.relative(ROOT, r.file)} differs from the code:\n${lineDiff(r.committed ?? '', r.fresh)}\n`);
  }
  if (stale > 0) process.stdout.write(`run \`${UPDATE_COMMAND}\` to accept\n`);
  return stale > 0 || problems.length > 0 ? 1 : 0;
}

module.exports = {
  ENTRIES, PACKAGES, ROOT, packageEntries, UPDATE_COMMAND, listedNames, starExportsInSources, runtimeNames, runtimeExports, declaredExports, entryProblems, nameClashes,
  renderReport, reportPath, reports, lineDiff,
};

if (require.main === module) process.exitCode = main(process.argv.slice(2));
