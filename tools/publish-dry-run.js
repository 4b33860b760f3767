#!/usr/bin/env node
/**
 * npm run release:dry-run: what `lerna publish from-package` would publish,
 * without publishing anything.
 *
 *   node tools/publish-dry-run.js [--json FILE] [--keep]
 *
 * lerna 8 has no `--dry-run` for publish (lerna/lerna#51), and a real
 * `lerna publish` resets the package.json files it touched with
 * `git checkout`. So this runs the real command in a throw-away clone of the
 * working tree (uncommitted changes included, committed there; its remote
 * removed, so nothing can be pushed) against a stub npm registry on
 * 127.0.0.1 that answers "not published yet" to every lookup, accepts every
 * upload, and keeps the tarballs in memory. Everything a release does
 * happens: the root `prepare` builds from scratch, each package is packed
 * (its `files`, README, LICENSE) and uploaded with its manifest. Prints each
 * package's version, dependencies and tarball contents; `--json FILE` writes
 * them. The clone is deleted unless `--keep`. No network beyond localhost.
 */
'use strict';
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const ROOT = path.resolve(__dirname, '..');
const LERNA = path.join(ROOT, 'node_modules', 'lerna', 'dist', 'cli.js');
const GIT_USER = ['-c', 'user.name=lip dry run', '-c', 'user.email=dry-run@localhost', '-c', 'commit.gpgsign=false'];

function git(cwd, args) {
  return execFileSync('git', [...GIT_USER, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Clones the repository into `dest` and commits the working tree on top
 * (modified, deleted and untracked-but-not-ignored files), so the clone holds
 * what `git status` shows. The remote is removed. `node_modules` links to
 * the repository's, except `@lip/*`, which links to the clone's own packages.
 */
function cloneWorkingTree(dest) {
  git(ROOT, ['clone', '--quiet', ROOT, dest]);
  git(dest, ['remote', 'remove', 'origin']);
  const listed = git(ROOT, ['ls-files', '-z', '--cached', '--others', '--exclude-standard']).split('\0').filter(Boolean);
  for (const file of new Set(listed)) {
    const from = path.join(ROOT, file);
    const to = path.join(dest, file);
    let stat;
    try {
      stat = fs.lstatSync(from);
    } catch {
      fs.rmSync(to, { force: true }); // deleted in the working tree
      continue;
    }
    if (stat.isDirectory()) continue; // a submodule or nested repository
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.rmSync(to, { force: true });
    if (stat.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else fs.copyFileSync(from, to);
  }
  git(dest, ['add', '-A']);
  git(dest, ['commit', '--quiet', '--allow-empty', '--no-verify', '-m', 'working tree']);
  linkNodeModules(dest);
}

function linkNodeModules(dest) {
  const from = path.join(ROOT, 'node_modules');
  const to = path.join(dest, 'node_modules');
  fs.mkdirSync(path.join(to, '@lip'), { recursive: true });
  for (const entry of fs.readdirSync(from)) {
    if (entry === '@lip' || entry === '.package-lock.json' || entry === '.cache') continue;
    fs.symlinkSync(path.join(from, entry), path.join(to, entry));
  }
  for (const pkg of fs.readdirSync(path.join(dest, 'packages'))) {
    const manifest = path.join(dest, 'packages', pkg, 'package.json');
    if (!fs.existsSync(manifest)) continue;
    const { name } = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    if (name.startsWith('@lip/')) fs.symlinkSync(path.join('..', '..', 'packages', pkg), path.join(to, name));
  }
}

/** The files of a .tgz (ustar; npm puts every file under `package/`): path -> contents. */
function tarballEntries(tgz) {
  const tar = zlib.gunzipSync(tgz);
  const entries = new Map();
  for (let at = 0; at + 512 <= tar.length;) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start, length) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const prefix = field(345, 155);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const type = field(156, 1);
    if (type === '0' || type === '') entries.set(name.replace(/^package\//, ''), tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/**
 * A stub npm registry on 127.0.0.1: every packument is 404 (not published),
 * every publish (`PUT /<name>`) is accepted and recorded in `published`.
 */
function startStubRegistry() {
  const published = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const reply = (status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'PUT') return reply(404, { error: 'not found' });
      try {
        const doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const [version] = Object.keys(doc.versions);
        const manifest = doc.versions[version];
        const [attachment] = Object.values(doc._attachments);
        const tarball = Buffer.from(attachment.data, 'base64');
        const entries = tarballEntries(tarball);
        published.push({
          name: doc.name,
          version,
          access: doc.access ?? null,
          manifest,
          files: [...entries.keys()].sort(),
          // The source maps, parsed: whether their sources resolve inside the tarball.
          sourceMaps: Object.fromEntries([...entries].filter(([f]) => f.endsWith('.map')).map(([f, b]) => [f, JSON.parse(b.toString('utf8'))])),
          tarballBytes: tarball.length,
        });
        reply(201, { ok: true });
      } catch (err) {
        reply(400, { error: String(err) });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/`;
      resolve({ url, published, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

/** The environment for lerna: no npm_config_* inherited from `npm run`, no user .npmrc. */
function cleanEnv(npmrc) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_(config|package|lifecycle)_/i.test(k)) env[k] = v;
  return { ...env, npm_config_userconfig: npmrc, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' };
}

function runLerna(cwd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LERNA, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`lerna ${args.join(' ')} exited with ${code}:\n${output}`))));
  });
}

/**
 * Runs `lerna publish from-package` in `repo` (a clone: lerna resets the
 * package.json files it touched) against a stub registry. Resolves to the
 * packages it published, in publish order, and lerna's output.
 */
async function publishFromPackage(repo, extraEnv = {}) {
  const registry = await startStubRegistry();
  const npmrc = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lip-npmrc-')), 'npmrc');
  try {
    fs.writeFileSync(npmrc, `registry=${registry.url}\n`);
    const env = { ...cleanEnv(npmrc), ...extraEnv };
    const log = await runLerna(repo, ['publish', 'from-package', '--yes', '--registry', registry.url, '--loglevel', 'info'], env);
    return { packages: registry.published, log };
  } finally {
    await registry.close();
    fs.rmSync(path.dirname(npmrc), { recursive: true, force: true });
  }
}

/** `publishFromPackage` in a fresh clone of the working tree, deleted afterwards unless `keep`. */
async function publishDryRun({ keep = false } = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-publish-dry-run-'));
  const repo = path.join(work, 'repo');
  try {
    cloneWorkingTree(repo);
    return { ...(await publishFromPackage(repo)), repo: keep ? repo : null };
  } finally {
    if (!keep) fs.rmSync(work, { recursive: true, force: true });
  }
}

module.exports = { cloneWorkingTree, publishFromPackage, publishDryRun, runLerna, cleanEnv, tarballEntries, startStubRegistry };

if (require.main === module) {
  const args = process.argv.slice(2);
  const jsonAt = args.indexOf('--json');
  publishDryRun({ keep: args.includes('--keep') }).then(
    ({ packages, repo }) => {
      for (const p of packages) {
        const deps = Object.entries(p.manifest.dependencies ?? {})
          .map(([n, v]) => `${n}@${v}`)
          .join(', ');
        const peers = Object.entries(p.manifest.peerDependencies ?? {})
          .map(([n, v]) => `${n}@${v}`)
          .join(', ');
        process.stdout.write(`${p.name}@${p.version}  ${p.files.length} files, ${(p.tarballBytes / 1024).toFixed(0)} KB packed, access ${p.access}\n`);
        process.stdout.write(`  dependencies: ${deps || '-'}\n  peerDependencies: ${peers || '-'}\n`);
        const top = [...new Set(p.files.map((f) => (f.includes('/') ? `${f.split('/')[0]}/` : f)))];
        process.stdout.write(`  contents: ${top.join(' ')}\n`);
      }
      if (jsonAt >= 0)
        fs.writeFileSync(
          args[jsonAt + 1],
          JSON.stringify(
            packages.map(({ sourceMaps, ...p }) => p),
            null,
            2,
          ) + '\n',
        );
      if (repo) process.stdout.write(`clone kept at ${repo}\n`);
      process.stdout.write(`${packages.length} packages would be published (nothing was).\n`);
    },
    (err) => {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
