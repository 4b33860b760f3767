/**
 * examples/node run green as a user runs them: tools/run-examples.js packs
 * every workspace package, installs the tarballs in a fresh project outside
 * the repository with a plain `npm install` (only the npm registry reachable,
 * no npm flag or variable from our repo), type-checks the examples against
 * the installed .d.ts, and runs each one; each exits non-zero when what it
 * claims does not hold. Needs the built dist/ (`npm test` builds first).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, withTmpDir } from '@lip/test-support';

const HARNESS = path.join(ROOT, 'tools', 'run-examples.js');
const { cleanEnv, consumerPackageJson, ourTypeErrors, EXAMPLES } = require(HARNESS) as {
  cleanEnv: (env: NodeJS.ProcessEnv) => NodeJS.ProcessEnv;
  consumerPackageJson: (pkg: object, packed: { name: string; filename: string }[], packsDir: string) => { dependencies: Record<string, string> };
  ourTypeErrors: (tscOutput: string) => string[];
  EXAMPLES: string[];
};

/** One step of the harness's `--json` report. */
interface StepRecord {
  name: string;
  ok: boolean;
  output: string;
}

test('the examples get an environment without what npm run and the repo give npm', () => {
  const env = cleanEnv({
    HOME: '/home/user',
    PATH: ['/repo/node_modules/.bin', '/node_modules/.bin', '/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin', '/usr/bin'].join(
      path.delimiter,
    ),
    npm_config_onnxruntime_node_install: 'skip',
    NPM_CONFIG_CACHE: '/tmp/cache',
    npm_lifecycle_event: 'test',
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip',
    NODE_ENV: 'production',
    LIP_ENGINE: 'node',
    LIP_TEST_ENGINE: 'web',
    INIT_CWD: '/repo',
  });
  expect(env).toEqual({ HOME: '/home/user', PATH: '/usr/bin' });
});

test('the consumer depends on every packed @lip package through its tarball, and on nothing unpacked', () => {
  const examples = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'node', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const packed = ['core', 'train', 'export', 'verify', 'runtime', 'cli'].map((p) => ({ name: `@lip/${p}`, filename: `lip-${p}-0.1.0.tgz` }));
  const pkg = consumerPackageJson(examples, packed, '/tmp/packs');
  for (const { name, filename } of packed) expect(pkg.dependencies[name]).toBe(`file:${path.join('/tmp/packs', filename)}`);
  for (const [name, spec] of Object.entries(pkg.dependencies)) if (!name.startsWith('@lip/')) expect(spec).toBe(examples.dependencies[name]);
  expect(() =>
    consumerPackageJson(
      examples,
      packed.filter((p) => p.name !== '@lip/runtime'),
      '/tmp/packs',
    ),
  ).toThrow(/@lip\/runtime/);
});

test("the type check fails on errors in the examples and in @lip's .d.ts, not on other libraries' .d.ts", () => {
  const output = [
    "node_modules/@tensorflow/tfjs-core/dist/hash_util.d.ts(2,49): error TS2304: Cannot find name 'Long'.",
    "node_modules/@lip/runtime/dist/index.d.ts(21,26): error TS2307: Cannot find module 'some-dev-only-types' or its corresponding type declarations.",
    "  Types of property 'inputs' are incompatible.",
    "classify.ts(12,10): error TS2305: Module '\"@lip/runtime\"' has no exported member 'CertifiedClassifier'.",
    "node_modules/onnx-proto/dist/onnx.d.ts(37,21): error TS2304: Cannot find name 'Long'.",
  ].join('\n');
  expect(ourTypeErrors(output)).toEqual(['node_modules/@lip/runtime/dist/index.d.ts', 'classify.ts']);
});

test(
  'examples/node run green from the packed tarballs in a fresh project',
  () =>
    withTmpDir('examples-test', async (tmp) => {
      const reportFile = path.join(tmp, 'report.json');
      // As `npm test` runs it: npm's variables and the repo's onnxruntime setting are in the environment; the harness must drop them.
      const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_onnxruntime_node_install: 'skip' };
      const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
        execFile(process.execPath, [HARNESS, '--json', reportFile], { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: `${stdout}${stderr}` });
        });
      });
      expect({ code, report: fs.existsSync(reportFile) ? 'written' : output }).toMatchObject({ report: 'written' });
      const report = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as { ok: boolean; steps: StepRecord[] };
      const failed = report.steps.find((s) => !s.ok);
      expect({ code, failed: failed ? `${failed.name}:\n${failed.output.split('\n').slice(-40).join('\n')}` : null }).toEqual({ code: 0, failed: null });
      expect(report.steps.map((s) => s.name)).toEqual(['npm pack', 'npm install', 'tsc (types)', ...EXAMPLES, 'lip bound (CLI)']);
      expect(EXAMPLES).toEqual(['train-own-tensors', 'export', 'verify', 'classify']);
    }),
  15 * 60_000,
);
