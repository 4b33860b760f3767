// Lint: typescript-eslint's recommended rules (syntactic only, no type information: fast),
// import-x/no-cycle with @lip/* resolved to packages/*/src (tsconfig.eslint.json), and
// eslint-config-prettier last so that layout is prettier's alone (`npm run lint` runs both).
import * as path from 'node:path';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** The libraries: everything but the CLI, which alone owns the process (docs/architecture.md). */
const LIBRARY_SOURCES = ['packages/{core,train,export,verify,runtime}/src/**/*.ts'];
const TESTS = ['**/*.test.ts', '**/test/**', 'test/**', '**/testing/**'];

export default defineConfig(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'coverage/**',
      'runs/**',
      'models/**',
      '**/testdata/**',
      'test/fixtures/**',
      'docs/api/**',
      'api/**',
      // Written by packages/train/kernels/build.sh.
      'packages/train/src/backend/kernels/lip_kernels_wasm.ts',
      '.cache/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // CommonJS on purpose: optional dependencies (tfjs-node, onnxruntime-node) and package.json are loaded lazily with require().
      '@typescript-eslint/no-require-imports': 'off',
      // `interface XxxArgs extends LayerArgs {}`: every layer has its own options interface (STYLE.md).
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    files: ['**/*.{js,cjs}'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    // `const crypto = require('crypto')` shadows Node's global of the same module: harmless.
    rules: { 'no-redeclare': ['error', { builtinGlobals: false }] },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.cjs', '.mjs'],
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: path.join(import.meta.dirname, 'tsconfig.eslint.json') })],
    },
    rules: {
      // In a cycle one module runs before the other has finished loading (undefined imports); `import type` is exempt.
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
    },
  },
  {
    files: LIBRARY_SOURCES,
    ignores: TESTS,
    rules: {
      // Libraries report through return values, callbacks and typed errors; only the CLI prints and exits.
      'no-console': 'error',
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'Throw a LipError; only the CLI exits.' }],
    },
  },
  prettier,
);
