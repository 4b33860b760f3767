#!/usr/bin/env node
// @ts-check (packages/cli/tsconfig.bin.json, in npm run lint)
'use strict';
// Committed launcher so npm can link the `lip` bin before the TypeScript build exists.
const fs = require('fs');
const path = require('path');

try {
  require.resolve('../dist/bin/lip.js');
} catch {
  process.stderr.write("error: lip is not built yet; run 'npm run build' in the repository root\n");
  process.exit(2);
}
const command = process.argv[2];
// `lip verify`: the bound thread starts before the CLI loads, so that its start-up overlaps the CLI's (verifyModel
// adopts it or ends it). Only a speed-up: without it (an older build), verify starts the thread itself.
if (command === 'verify') {
  try {
    require('@lip/verify/bound-thread').prestartBoundThread();
  } catch {
    // verifyModel starts its own thread.
  }
}
const bundle = bundleFor(command);
const compiled = bundle === null ? null : compileBundle(bundle, command);
if (compiled === null) require('../dist/bin/lip.js');
else compiled();

/**
 * `lip verify` and `lip bound` run from dist/lip.bundle.js (tools/bundle-cli.js: the
 * same code in one file, which loads about 30 ms faster) when it is there and at
 * least as new as every tsconfig.tsbuildinfo of the packages it holds, when those
 * exist (a source tree): a `tsc -b` of changed sources without a new bundle, or
 * LIP_NO_BUNDLE=1, runs dist/ as it is.
 * @param {string | undefined} name the command
 * @returns {string | null}
 */
function bundleFor(name) {
  if ((name !== 'verify' && name !== 'bound') || process.env.LIP_NO_BUNDLE === '1') return null;
  const bundle = path.join(__dirname, '..', 'dist', 'lip.bundle.js');
  try {
    const built = fs.statSync(bundle).mtimeMs;
    const packages = path.join(__dirname, '..', '..');
    for (const pkg of ['cli', 'verify', 'core']) {
      let info;
      try {
        info = fs.statSync(path.join(packages, pkg, 'tsconfig.tsbuildinfo')).mtimeMs;
      } catch {
        continue;
      }
      if (info > built) return null;
    }
    return bundle;
  } catch {
    return null;
  }
}

/**
 * The bundle as the CommonJS module it is (a function that runs it),
 * compiled with V8's code cache for it when there is one: about 20 ms of
 * compiling saved on every run. The cache is a file in
 * <tmp>/lip-v8-cache-<uid> (a folder only this user may use, as
 * v8-compile-cache does), one for each command (each compiles other
 * functions), named by the bundle's path, size and time and Node's version
 * and platform, since V8 itself checks only the source's length. A missing
 * or refused cache is written at exit, with the functions compiled by then,
 * atomically, replacing the bundle's older ones; a folder that cannot be
 * written costs only the time. Null when the bundle cannot be read or
 * compiled; then the caller runs dist/.
 * @param {string} file
 * @param {string} command
 * @returns {(() => void) | null}
 */
function compileBundle(file, command) {
  const Module = require('module');
  const vm = require('vm');
  let source;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const cacheFile = codeCacheFile(file, command);
  let cachedData;
  try {
    if (cacheFile !== null && privateFolder(cacheFile.dir)) cachedData = fs.readFileSync(cacheFile.path);
  } catch {
    cachedData = undefined;
  }
  let script;
  try {
    // The shebang line is blanked, so that line numbers stay those of the file.
    script = new vm.Script(Module.wrap(source.replace(/^#!.*/, '')), { filename: file, cachedData });
  } catch {
    // A bundle caught half-written by a build in progress: dist/ runs instead.
    return null;
  }
  if (cacheFile !== null && (cachedData === undefined || script.cachedDataRejected)) {
    process.once('exit', () => writeCodeCache(cacheFile, script));
  }
  return () => {
    const mod = new Module(file, module);
    mod.filename = file;
    // Node's own (undocumented) resolution paths of a module in this folder, as require() gives its modules.
    mod.paths = /** @type {{ _nodeModulePaths(dir: string): string[] }} */ (/** @type {unknown} */ (Module))._nodeModulePaths(path.dirname(file));
    mod.loaded = true;
    script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  };
}

/** @typedef {{ dir: string, prefix: string, path: string }} CacheFile */

/**
 * The cache file of `command` for `file`, and the name prefix of its older ones; null when it cannot be named.
 * @param {string} file
 * @param {string} command
 * @returns {CacheFile | null}
 */
function codeCacheFile(file, command) {
  try {
    const os = require('os');
    const uid = typeof process.getuid === 'function' ? process.getuid() : os.userInfo().username;
    const dir = path.join(os.tmpdir(), `lip-v8-cache-${uid}`);
    const st = fs.statSync(file);
    const key = require('crypto').createHash('sha256').update(file).digest('hex').slice(0, 16);
    const prefix = `lip.bundle-${key}-${command}-`;
    return {
      dir,
      prefix,
      path: path.join(dir, `${prefix}${st.size}-${Math.floor(st.mtimeMs)}-node${process.versions.node}-${process.platform}-${process.arch}.v8cache`),
    };
  } catch {
    return null;
  }
}

/**
 * True for a folder of this user's that no one else may write (a cache someone else planted in a shared /tmp would run as code).
 * @param {string} dir
 * @returns {boolean}
 */
function privateFolder(dir) {
  const st = fs.statSync(dir);
  return st.isDirectory() && (typeof process.getuid !== 'function' || (st.uid === process.getuid() && (st.mode & 0o022) === 0));
}

/**
 * @param {CacheFile} cacheFile
 * @param {import('vm').Script} script
 */
function writeCodeCache(cacheFile, script) {
  try {
    fs.mkdirSync(cacheFile.dir, { recursive: true, mode: 0o700 });
    if (!privateFolder(cacheFile.dir)) return;
    const tmp = `${cacheFile.path}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cacheFile.path);
    for (const name of fs.readdirSync(cacheFile.dir)) {
      if (name.startsWith(cacheFile.prefix) && name.endsWith('.v8cache') && name !== path.basename(cacheFile.path)) {
        fs.rmSync(path.join(cacheFile.dir, name), { force: true });
      }
    }
  } catch {
    // Only a speed-up.
  }
}
