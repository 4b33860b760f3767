/**
 * `--engine` / LIP_ENGINE on the commands that run the model: onnxruntime-web
 * gives the results of onnxruntime-node, `lip verify` says which one ran, and
 * without onnxruntime-node (hidden from `require` in a child process running
 * the built CLI) 'auto' falls back to onnxruntime-web while `--engine node`
 * is one error naming the package to install, exit code 2.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, SHIPPED_MODEL, tmpDirPerSuite, withEnv } from '@lip/test-support';
import { lip } from '@lip/test-support/cli';

const LIP = path.join(ROOT, 'packages', 'cli', 'bin', 'lip.js');
const N = '300';

interface VerifyJson {
  engine: string;
  n: number;
  accuracy: number;
  meanCertificate: number;
  cra: { eps: number; value: number }[];
}

async function verifyJson(args: string[], env: Record<string, string> = {}): Promise<{ json: VerifyJson; out: string; err: string }> {
  const r = await withEnv(env, () => lip('verify', SHIPPED_MODEL, '--n', N, '--json', '-', ...args));
  expect(r.code).toBe(0);
  // With --json -, the table goes to stderr and the JSON is stdout.
  return { json: JSON.parse(r.out) as VerifyJson, out: r.out, err: r.err };
}

describe('lip verify on either engine', () => {
  it('LIP_ENGINE=web gives the accuracy and certified counts of --engine node, and says which engine ran', async () => {
    const node = await verifyJson(['--engine', 'node']);
    const web = await verifyJson([], { LIP_ENGINE: 'web' });
    expect(node.json.engine).toBe('node');
    expect(web.json.engine).toBe('web');
    expect(node.err).toMatch(/^throughput +\d+ images\/s \(onnxruntime-node\)$/m);
    expect(web.err).toMatch(/^throughput +\d+ images\/s \(onnxruntime-web\)$/m);
    expect(web.json.n).toBe(Number(N));
    expect(web.json.accuracy).toBe(node.json.accuracy);
    // Certified counts: CRA x n, exactly; the mean certificate to float32 rounding.
    expect(web.json.cra.map((p) => Math.round(p.value * web.json.n))).toEqual(node.json.cra.map((p) => Math.round(p.value * node.json.n)));
    expect(Math.abs(web.json.meanCertificate - node.json.meanCertificate)).toBeLessThan(1e-5);
  });

  it('an --engine flag wins over LIP_ENGINE', async () => {
    const r = await verifyJson(['--engine', 'web'], { LIP_ENGINE: 'node' });
    expect(r.json.engine).toBe('web');
  });

  it.each([
    [['--engine', 'gpu'], {}, /option '--engine <name>' argument 'gpu' is invalid/],
    [[], { LIP_ENGINE: 'gpu' }, /^error: 'LIP_ENGINE' must be 'auto', 'node', 'web'/m],
  ])('refuses engine %j (env %j) with exit code 2', async (args, env, message) => {
    const r = await withEnv(env, () => lip('verify', SHIPPED_MODEL, '--n', '10', ...args));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/internal error| {4}at /);
  });
});

describe('without onnxruntime-node (the built CLI, with onnxruntime-node hidden from require)', () => {
  const tmp = tmpDirPerSuite('cli-engine');
  // What `npm install` leaves when onnxruntime-node's optional install failed: requiring it throws MODULE_NOT_FOUND.
  const hide = tmp.path('hide_onnxruntime_node.js');
  beforeAll(() =>
    tmp.put(
      'hide_onnxruntime_node.js',
      `const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'onnxruntime-node' || request.startsWith('onnxruntime-node/')) {
    const err = new Error("Cannot find module '" + request + "'");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolve.call(this, request, ...rest);
};
`,
    ),
  );

  const lipWithoutNode = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const env = { ...process.env };
    delete env.LIP_ENGINE;
    return spawnSync(process.execPath, ['-r', hide, LIP, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 });
  };

  it("'auto' (the default) runs on onnxruntime-web", () => {
    const r = lipWithoutNode('verify', SHIPPED_MODEL, '--n', '100', '--json', '-');
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).engine).toBe('web');
  });

  it.each([
    ['verify', ['verify', SHIPPED_MODEL, '--n', '10', '--engine', 'node']],
    ['attack', ['attack', SHIPPED_MODEL, '--attack', 'pgd', '--n', '1', '--engine', 'node']],
    // Before training: nothing is written under --out.
    ['demo', ['demo', '--out', tmp.path('demo'), '--limit', '10', '--epochs', '1', '--engine', 'node']],
  ])('lip %s --engine node: one error naming the package and the install command, exit code 2', (name, args) => {
    const r = lipWithoutNode(...args);
    expect(r.status).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toEqual([
      expect.stringMatching(
        /^error: '--engine' node: onnxruntime-node cannot be loaded \(Cannot find module 'onnxruntime-node'\); install it with 'npm install onnxruntime-node' \(offline: 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node' skips its CUDA download\), or use engine 'web'$/,
      ),
    ]);
    expect(r.stderr).not.toMatch(/internal error| {4}at /);
    if (name === 'demo') expect(fs.existsSync(tmp.path('demo'))).toBe(false);
  });
});
