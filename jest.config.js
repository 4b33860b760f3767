/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/jest-environment.js',
  roots: ['<rootDir>/packages', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  moduleNameMapper: {
    '^@lip/(train|export|verify|cli)$': '<rootDir>/packages/$1/src',
    // Test-only helpers (float64 linear algebra), never built into dist: see packages/train/src/testing/linalg.ts.
    '^@lip/train/testing/(.*)$': '<rootDir>/packages/train/src/testing/$1',
  },
  testTimeout: 120000,
  maxWorkers: 2,
};
