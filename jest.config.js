/**
 * onnxruntime-node is an optional dependency: offline, npm drops it when its postinstall fails (see README, "Engines").
 * Without it, tests that import it run on onnxruntime-web. LIP_TEST_ENGINE=web forces that, to check the fallback.
 */
function onnxruntimeNodeInstalled() {
  if (process.env.LIP_TEST_ENGINE === 'web') return false;
  try {
    require.resolve('onnxruntime-node');
    return true;
  } catch {
    return false;
  }
}

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/jest-environment.js',
  // Drops tfjs's "install our node backend" banner from test output (see the file).
  setupFiles: ['<rootDir>/test/jest-setup.js'],
  roots: ['<rootDir>/packages', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  moduleNameMapper: {
    '^@lip/(core|train|export|verify|runtime|cli)$': '<rootDir>/packages/$1/src',
    // @lip/train's Node-only entry (package.json "exports": "./node").
    '^@lip/train/node$': '<rootDir>/packages/train/src/node',
    // @lip/verify's tfjs part: attacks and the ONNX -> tfjs translator (package.json "exports": "./attacks").
    '^@lip/verify/attacks$': '<rootDir>/packages/verify/src/attacks',
    // The shared test helpers (test/support/index.ts), never built into dist; `@lip/test-support/<file>` for one file.
    '^@lip/test-support(.*)$': '<rootDir>/test/support$1',
    '^@lip/core/(engine|certificates|errors|linalg)$': '<rootDir>/packages/core/src/$1',
    // onnxruntime-web loaded outside the module sandbox (see the file); the stand-in for a missing onnxruntime-node.
    '^onnxruntime-web$': '<rootDir>/test/onnxruntime_web.js',
    ...(onnxruntimeNodeInstalled() ? {} : { '^onnxruntime-node$': '<rootDir>/test/onnxruntime_web.js' }),
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
