/**
 * The repository's .npmrc holds only keys npm knows: npm 11 warns about every
 * other one ("Unknown project config") before each `npm run` and `npx`.
 * onnxruntime-node's install switch lives in the environment instead
 * (ONNXRUNTIME_NODE_INSTALL=skip, see .ci/run and README "Engines").
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT } from '@lip/test-support';

test('npm reads the project .npmrc without an unknown-config warning', () => {
  const env = { ...process.env };
  // An npm_config_* variable inherited from `npm test` would hide or mimic the project file's keys.
  for (const key of Object.keys(env)) if (/^npm_config_/i.test(key)) delete env[key];
  const r = spawnSync('npm', ['config', 'list'], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`; "project" config from ${path.join(ROOT, '.npmrc')}`);
  expect(r.stderr).not.toMatch(/Unknown (project|user|global|env) config/);
});

test('every dependency install script is reviewed in allowScripts (npm 11 warns at each install otherwise), onnxruntime-node denied', () => {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (/^npm_config_/i.test(key)) delete env[key];
  const r = spawnSync('npm', ['install-scripts', 'ls'], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0 && /Unknown command|install-scripts/.test(r.stderr) && !/allowScripts/.test(r.stdout)) {
    // npm < 11.x has no allowScripts (it runs every install script): nothing to review.
    return;
  }
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/No packages with unreviewed install scripts/);
  // The CUDA download of onnxruntime-node's postinstall never runs: its CPU build is in the package.
  const pkg = require(path.join(ROOT, 'package.json')) as { allowScripts?: Record<string, boolean> };
  expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
});

test('`npx lip --version` prints the version and nothing on stderr (no npm warning)', () => {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (/^npm_config_/i.test(key)) delete env[key];
  const r = spawnSync('npx', ['lip', '--version'], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  expect(r.status).toBe(0);
  expect(r.stdout.trim()).toBe(require(path.join(ROOT, 'packages/cli/package.json')).version);
  expect(r.stderr).toBe('');
});
