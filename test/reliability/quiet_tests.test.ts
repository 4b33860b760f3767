/**
 * Test output stays quiet unless something fails: tfjs's "Hi, looks like you
 * are running TensorFlow.js in Node.js" banner, printed for each new cpu
 * backend (once per test file), is dropped by test/jest-setup.js, and any
 * other warning still shows. Checked on a child jest run of this file's probe.
 */
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ROOT } from '@lip/test-support';

const PROBE = 'LIP_QUIET_TESTS_PROBE';

if (process.env[PROBE] === '1') {
  test('probe: a new cpu backend stores a tensor, then a test warns', async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
    expect(Array.from(tf.tensor([1, 2, 3]).dataSync())).toEqual([1, 2, 3]);
    console.warn('probe warning: other warnings still show');
  });
} else {
  test('a test file that starts a cpu backend prints no tfjs banner; other warnings still show', () => {
    const r = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), '--ci', '--runTestsByPath', __filename], {
      cwd: ROOT,
      env: { ...process.env, [PROBE]: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const output = `${r.stdout}${r.stderr}`;
    expect({ status: r.status, output }).toEqual({ status: 0, output: expect.stringContaining('probe warning: other warnings still show') });
    expect(output).not.toContain('Hi, looks like you are running TensorFlow.js');
  });
}
