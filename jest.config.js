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
    // Test-only helpers (float64 linear algebra), never built into dist: see packages/train/src/testing/linalg.ts.
    '^@lip/train/testing/(.*)$': '<rootDir>/packages/train/src/testing/$1',
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
