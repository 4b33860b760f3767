/**
 * The launcher, bin/lip.js: `lip verify` and `lip bound` run from the bundle
 * (dist/lip.bundle.js, tools/bundle-cli.js) only while it is at least as new
 * as the packages' tsconfig.tsbuildinfo (a `tsc -b` of changed sources
 * without a new bundle runs dist/), never with LIP_NO_BUNDLE=1, and every
 * other command runs dist/. Checked on a copy of the launcher in a tree of
 * stubs that say which file ran; then on the real build: the bundle gives
 * the same `lip verify` JSON as dist/.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tmpDirPerTest } from '@lip/test-support';

const LAUNCHER = path.join(ROOT, 'packages', 'cli', 'bin', 'lip.js');
const tmp = tmpDirPerTest('launcher');

/** A stub tree: packages/cli/bin/lip.js (the real launcher), dist/bin/lip.js and dist/lip.bundle.js that print their names. */
function stubTree(): { root: string; bundle: string; info: (pkg: string) => string } {
  const root = tmp.path('tree');
  const cli = path.join(root, 'packages', 'cli');
  fs.mkdirSync(path.join(cli, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(cli, 'dist', 'bin'), { recursive: true });
  fs.copyFileSync(LAUNCHER, path.join(cli, 'bin', 'lip.js'));
  fs.writeFileSync(path.join(cli, 'dist', 'bin', 'lip.js'), "process.stdout.write('dist');\n");
  const bundle = path.join(cli, 'dist', 'lip.bundle.js');
  fs.writeFileSync(bundle, "process.stdout.write('bundle');\n");
  for (const pkg of ['cli', 'verify', 'core']) {
    fs.mkdirSync(path.join(root, 'packages', pkg), { recursive: true });
    fs.writeFileSync(path.join(root, 'packages', pkg, 'tsconfig.tsbuildinfo'), '{}');
  }
  return { root, bundle, info: (pkg) => path.join(root, 'packages', pkg, 'tsconfig.tsbuildinfo') };
}

function ran(root: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [path.join(root, 'packages', 'cli', 'bin', 'lip.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, LIP_NO_BUNDLE: '', ...env },
  });
  expect(r.status).toBe(0);
  return r.stdout;
}

/** Sets a file's mtime `seconds` from now. */
function age(file: string, seconds: number): void {
  const t = new Date(Date.now() + seconds * 1000);
  fs.utimesSync(file, t, t);
}

describe('bin/lip.js', () => {
  it('runs verify and bound from a fresh bundle, every other command from dist/', () => {
    const { root, bundle } = stubTree();
    age(bundle, 10);
    expect(ran(root, ['verify', 'm.onnx'])).toBe('bundle');
    expect(ran(root, ['bound', 'm.onnx'])).toBe('bundle');
    for (const args of [['train'], ['export', 'ckpt'], ['attack', 'm.onnx'], ['demo'], ['--help'], []]) expect(ran(root, args)).toBe('dist');
  });

  it('runs dist/ when a package was rebuilt after the bundle, when there is no bundle, and with LIP_NO_BUNDLE=1', () => {
    const { root, bundle, info } = stubTree();
    age(bundle, -10);
    for (const pkg of ['cli', 'verify']) age(info(pkg), -20);
    age(info('core'), 0);
    expect(ran(root, ['verify', 'm.onnx'])).toBe('dist');
    age(info('core'), -20);
    expect(ran(root, ['verify', 'm.onnx'])).toBe('bundle');
    expect(ran(root, ['verify', 'm.onnx'], { LIP_NO_BUNDLE: '1' })).toBe('dist');
    // An installed package has no tsbuildinfo: the bundle is used.
    for (const pkg of ['cli', 'verify', 'core']) fs.rmSync(info(pkg));
    expect(ran(root, ['bound', 'm.onnx'])).toBe('bundle');
    // A bundle caught half-written by a build in progress does not compile: dist/ runs.
    fs.writeFileSync(bundle, "process.stdout.write('bund");
    expect(ran(root, ['bound', 'm.onnx'])).toBe('dist');
    fs.rmSync(bundle);
    expect(ran(root, ['bound', 'm.onnx'])).toBe('dist');
  });

  it("keeps V8's code cache of the bundle per command in a private folder of TMPDIR, refuses a shared one, and survives a corrupt cache", () => {
    const { root, bundle } = stubTree();
    fs.writeFileSync(bundle, "process.stdout.write('bundle ' + [1, 2, 3].map((x) => x * 2).join(','));\n");
    age(bundle, 10);
    const tmpdir = tmp.path('tmpdir');
    fs.mkdirSync(tmpdir);
    const env = { TMPDIR: tmpdir };
    const folder = path.join(tmpdir, `lip-v8-cache-${process.getuid!()}`);
    const caches = (): string[] => (fs.existsSync(folder) ? fs.readdirSync(folder).sort() : []);
    expect(ran(root, ['verify', 'm.onnx'], env)).toBe('bundle 2,4,6');
    expect(caches()).toHaveLength(1);
    expect(caches()[0]).toMatch(/^lip\.bundle-[0-9a-f]{16}-verify-\d+-\d+-node[\d.]+-\w+-\w+\.v8cache$/);
    expect(fs.statSync(folder).mode & 0o777).toBe(0o700);
    const file = path.join(folder, caches()[0]);
    const written = fs.statSync(file).mtimeMs;
    // Taken, not rewritten.
    expect(ran(root, ['verify', 'm.onnx'], env)).toBe('bundle 2,4,6');
    expect(fs.statSync(file).mtimeMs).toBe(written);
    expect(ran(root, ['bound', 'm.onnx'], env)).toBe('bundle 2,4,6');
    expect(caches()).toHaveLength(2);
    // A corrupt cache is refused by V8 and written anew.
    fs.writeFileSync(file, Buffer.alloc(4096, 7));
    expect(ran(root, ['verify', 'm.onnx'], env)).toBe('bundle 2,4,6');
    expect(fs.readFileSync(file).equals(Buffer.alloc(4096, 7))).toBe(false);
    // A rebuilt bundle replaces its command's older cache.
    age(bundle, 20);
    expect(ran(root, ['verify', 'm.onnx'], env)).toBe('bundle 2,4,6');
    expect(caches()).toHaveLength(2);
    expect(fs.existsSync(file)).toBe(false);
    // A folder others may write is neither read nor written.
    fs.rmSync(folder, { recursive: true });
    fs.mkdirSync(folder);
    fs.chmodSync(folder, 0o777);
    expect(ran(root, ['verify', 'm.onnx'], env)).toBe('bundle 2,4,6');
    expect(caches()).toEqual([]);
  });

  it('the built bundle is fresh, holds neither tfjs nor the training code, and its lip verify JSON is the JSON of dist/', () => {
    const bundle = path.join(ROOT, 'packages', 'cli', 'dist', 'lip.bundle.js');
    expect(fs.existsSync(bundle)).toBe(true);
    const built = fs.statSync(bundle).mtimeMs;
    for (const pkg of ['cli', 'verify', 'core'])
      expect(fs.statSync(path.join(ROOT, 'packages', pkg, 'tsconfig.tsbuildinfo')).mtimeMs).toBeLessThanOrEqual(built);
    const text = fs.readFileSync(bundle, 'utf8');
    // esbuild heads each module it holds with a comment naming its file.
    expect(text).toMatch(/^\/\/ packages\/verify\/dist\/verify\.js$/m);
    expect(text).not.toMatch(/^\/\/ (node_modules\/@tensorflow|packages\/(train|export)\/)/m);
    const json = (env: Record<string, string>): unknown => {
      const out = tmp.path(`verify-${Object.keys(env).join('-') || 'bundle'}.json`);
      const r = spawnSync(
        process.execPath,
        [LAUNCHER, 'verify', path.join(ROOT, 'models', 'fashion-mnist-ortho.onnx'), '--n', '500', '--no-cache', '--json', out],
        { encoding: 'utf8', env: { ...process.env, LIP_NO_BUNDLE: '', ...env } },
      );
      expect(r.status).toBe(0);
      // Timings differ from run to run; everything else must not.
      return JSON.parse(fs.readFileSync(out, 'utf8'), (k, v) => (/seconds|perSecond/i.test(k) ? undefined : v));
    };
    expect(json({})).toEqual(json({ LIP_NO_BUNDLE: '1' }));
  });
});
