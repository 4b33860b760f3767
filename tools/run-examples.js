#!/usr/bin/env node
/**
 * Runs examples/node as a user would: from the packed packages, in a fresh
 * project outside the repository, after a plain `npm install`.
 *
 *   npm run build && node tools/run-examples.js [--keep] [--json FILE]
 *
 * 1. `npm pack --workspaces` into a temporary folder (the `dist/` must be built);
 * 2. a consumer project there: examples/node's package.json, tsconfig.json and
 *    *.ts, with every @lip/* dependency pointing at its tarball (`file:`);
 * 3. `npm install --no-audit --no-fund --prefer-offline` (from the registry,
 *    the only network needed; --prefer-offline only skips re-validating what
 *    the npm cache already holds) with an environment scrubbed of what our
 *    repo gives npm: npm_* variables set by `npm run`, ONNXRUNTIME_NODE_INSTALL*
 *    (.ci/run sets it), LIP_*, NODE_ENV, and node_modules/.bin entries of
 *    PATH; the repo's .npmrc does not apply outside it;
 * 4. `tsc` against the installed types (`typeCheck`: strict, through the
 *    `exports` maps; an error in the examples or in an @lip/* .d.ts fails);
 * 5. each example in order, then the installed `lip` command on its output.
 *
 * Prints the time of each step; `--json FILE` writes them with each step's
 * output. Exits 1 when a step fails (its output is printed). The temporary
 * folder is removed at the end unless `--keep`.
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const EXAMPLES_DIR = path.join(ROOT, 'examples', 'node');
/** The examples, in the order they depend on each other's files. */
const EXAMPLES = ['train-own-tensors', 'export', 'verify', 'classify'];
const INSTALL_TIMEOUT_MS = 10 * 60_000;
const STEP_TIMEOUT_MS = 5 * 60_000;

/**
 * `env` without what `npm run` and our repo would pass to npm and the examples,
 * so the install behaves as in a user's fresh shell.
 */
function cleanEnv(env) {
  const out = {};
  for (const [key, value] of Object.entries(env)) {
    // LIP_*: our tests' settings (LIP_ENGINE, LIP_TEST_ENGINE, LIP_DATA_DIR, ...), which a user's shell does not have.
    if (/^(npm_|ONNXRUNTIME_NODE_INSTALL|LIP_)/i.test(key) || key === 'NODE_ENV' || key === 'INIT_CWD') continue;
    out[key] = value;
  }
  if (out.PATH) {
    // npm run prepends <dir>/node_modules/.bin for the repo and its parents, and its node-gyp-bin.
    out.PATH = out.PATH.split(path.delimiter)
      .filter((p) => !/node_modules[\\/]\.bin$|node-gyp-bin$/.test(p))
      .join(path.delimiter);
  }
  return out;
}

/**
 * The consumer's package.json: examples/node's, with each packed @lip package
 * as a `file:` dependency on its tarball (also those the examples do not
 * import, so every tarball is installed).
 */
function consumerPackageJson(examplesPackage, packed, packsDir) {
  const pkg = JSON.parse(JSON.stringify(examplesPackage));
  pkg.dependencies = { ...pkg.dependencies };
  for (const { name, filename } of packed) pkg.dependencies[name] = `file:${path.join(packsDir, filename)}`;
  for (const name of Object.keys(pkg.dependencies)) {
    if (name.startsWith('@lip/') && !packed.some((p) => p.name === name)) {
      throw new Error(`examples/node/package.json depends on ${name}, which is not a workspace package`);
    }
  }
  return pkg;
}

function parseArgs(argv) {
  const opts = { keep: false, json: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keep') opts.keep = true;
    else if (argv[i] === '--json' && argv[i + 1]) opts.json = path.resolve(argv[++i]);
    else throw new Error(`unknown argument '${argv[i]}' (usage: node tools/run-examples.js [--keep] [--json FILE])`);
  }
  return opts;
}

/** A step fails on a non-zero exit code. */
const exitCodeJudge = (r) => (r.status !== 0 ? `exit code ${r.status ?? r.signal}` : null);

/**
 * Runs one step; returns its record (name, command, seconds, ok, output, and
 * error when it failed). `judge(result, output)` says why the step failed, or
 * null when it passed; by default a non-zero exit code fails it.
 */
function step(name, command, args, { cwd, env, timeout = STEP_TIMEOUT_MS, print = false, judge = exitCodeJudge }) {
  const started = process.hrtime.bigint();
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const output = `${r.stdout ?? ''}${r.stderr ? `${r.stdout ? '\n' : ''}${r.stderr}` : ''}`.trimEnd();
  const why = r.error ? (r.error.code === 'ETIMEDOUT' ? `timed out after ${timeout / 1000} s` : r.error.message) : judge(r, output);
  const record = { name, command: [path.basename(command), ...args].join(' '), seconds: Number(seconds.toFixed(1)), ok: why === null, output };
  if (why) record.error = why;
  Object.defineProperty(record, 'stdout', { value: r.stdout ?? '', enumerable: false });
  console.log(`${why ? 'FAIL' : 'ok  '} ${name.padEnd(24)} ${seconds.toFixed(1).padStart(6)} s${why ? `  (${why})` : ''}`);
  if (print && !why && output) console.log(output.replace(/^/gm, '       '));
  return record;
}

/** Files tsc reports errors in (`file(line,col): error TSxxxx`), one entry per error. */
function tscErrorFiles(output) {
  return [...output.matchAll(/^(.*?)(?:\(\d+,\d+\))?: error TS\d+/gm)].map((m) => m[1]);
}

/** The errors of tsc's output that are ours: in the examples or in an installed @lip/* package, not in other libraries. */
function ourTypeErrors(output) {
  return tscErrorFiles(output).filter((file) => !file.startsWith('node_modules/') || file.startsWith('node_modules/@lip/'));
}

/**
 * tsc with examples/node/tsconfig.json (strict, nodenext resolution through the
 * packages' `exports` maps), emitting build/*.js, with the libraries' .d.ts
 * checked too (`--skipLibCheck false`): an error in the examples or in an
 * installed @lip/* .d.ts (a type from a devDependency, a missing file) fails
 * the step; those in other libraries' .d.ts (tfjs, onnxruntime-common and
 * onnx-proto want the DOM lib or `long`'s types) are counted only.
 */
function typeCheck(consumer, env) {
  const tsc = path.join('node_modules', 'typescript', 'bin', 'tsc');
  const judge = (r, output) => {
    const ours = ourTypeErrors(output);
    if (ours.length > 0) return `${ours.length} type errors in the examples or @lip/* .d.ts`;
    // tsc exits 2 when it reported errors but emitted.
    if (r.status !== 0 && r.status !== 2) return `exit code ${r.status ?? r.signal}`;
    return EXAMPLES.every((name) => fs.existsSync(path.join(consumer, 'build', `${name}.js`))) ? null : 'no build/*.js emitted';
  };
  const s = step('tsc (types)', process.execPath, [tsc, '-p', '.', '--skipLibCheck', 'false'], { cwd: consumer, env, judge });
  if (s.ok) {
    const others = tscErrorFiles(s.output);
    const where = [
      ...new Set(
        others.map((f) =>
          f
            .split('/')
            .slice(1, f.split('/')[1].startsWith('@') ? 3 : 2)
            .join('/'),
        ),
      ),
    ];
    console.log(`       ${others.length} errors in other libraries' .d.ts, not ours (${where.join(', ')})`);
  }
  return s;
}

/** The steps, run in `tmp`; each pushed to `steps` as it ends. Returns true when all passed. */
function runSteps(tmp, env, steps) {
  const packsDir = path.join(tmp, 'packs');
  const consumer = path.join(tmp, 'consumer');
  fs.mkdirSync(packsDir);
  fs.mkdirSync(consumer);
  const run = (...args) => {
    const s = step(...args);
    steps.push(s);
    return s.ok;
  };

  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  if (!run('npm pack', npm, ['pack', '--workspaces', '--pack-destination', packsDir, '--json'], { cwd: ROOT, env })) return false;
  const packed = JSON.parse(steps[0].stdout).map((p) => ({ name: p.name, filename: p.filename, files: p.files.map((f) => f.path) }));
  steps[0].output = packed.map((p) => `${p.filename}: ${p.files.length} files`).join('\n');
  const unbuilt = packed.filter((p) => !p.files.includes('dist/index.js'));
  if (unbuilt.length > 0) {
    steps.push({
      name: 'dist built',
      command: '',
      seconds: 0,
      ok: false,
      output: `no dist/index.js in ${unbuilt.map((p) => p.name).join(', ')}: run npm run build first`,
    });
    return false;
  }

  const examplesPackage = JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, 'package.json'), 'utf8'));
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify(consumerPackageJson(examplesPackage, packed, packsDir), null, 2) + '\n');
  for (const file of fs.readdirSync(EXAMPLES_DIR)) {
    if (file.endsWith('.ts') || file === 'tsconfig.json') fs.copyFileSync(path.join(EXAMPLES_DIR, file), path.join(consumer, file));
  }
  if (!run('npm install', npm, ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: consumer, env, timeout: INSTALL_TIMEOUT_MS })) return false;
  steps.push(typeCheck(consumer, env));
  if (!steps[steps.length - 1].ok) return false;
  for (const name of EXAMPLES) {
    if (!run(name, process.execPath, [path.join('build', `${name}.js`)], { cwd: consumer, env, print: true })) return false;
  }
  const lip = path.join(consumer, 'node_modules', '.bin', 'lip');
  return run('lip bound (CLI)', lip, ['bound', path.join('lip-example', 'model.onnx')], { cwd: consumer, env, print: true });
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-examples-'));
  const steps = [];
  const started = Date.now();
  let ok = false;
  try {
    ok = runSteps(tmp, cleanEnv(process.env), steps);
  } finally {
    const seconds = Number(((Date.now() - started) / 1000).toFixed(1));
    if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ ok, seconds, node: process.version, steps }, null, 2) + '\n');
    const failed = steps.find((s) => !s.ok);
    if (failed) console.log(`\n--- ${failed.name}: ${failed.command}\n${failed.output.split('\n').slice(-60).join('\n')}\n`);
    console.log(`${ok ? 'examples ok' : 'examples FAILED'} in ${seconds} s${opts.keep ? `; kept ${tmp}` : ''}`);
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

if (require.main === module) {
  try {
    process.exitCode = main();
  } catch (err) {
    console.error(`error: ${err.message}`);
    process.exitCode = 2;
  }
}

module.exports = { cleanEnv, consumerPackageJson, ourTypeErrors, EXAMPLES };
