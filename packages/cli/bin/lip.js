#!/usr/bin/env node
'use strict';
// Committed launcher so npm can link the `lip` bin before the TypeScript build exists.
const fs = require('fs');
const path = require('path');

try {
  require.resolve('../dist/bin/lip.js');
} catch {
  process.stderr.write("error: lip is not built yet; run 'npm run build' in the repository root\n");
  process.exit(2);
}
const command = process.argv[2];
// `lip verify`: the bound thread starts before the CLI loads, so that its start-up overlaps the CLI's (verifyModel
// adopts it or ends it). Only a speed-up: without it (an older build), verify starts the thread itself.
if (command === 'verify') {
  try {
    require('@lip/verify/bound-thread').prestartBoundThread();
  } catch {
    // verifyModel starts its own thread.
  }
}
require(bundleFor(command) ?? '../dist/bin/lip.js');

/**
 * `lip verify` and `lip bound` run from dist/lip.bundle.js (tools/bundle-cli.js: the
 * same code in one file, which loads about 30 ms faster) when it is there and at
 * least as new as every tsconfig.tsbuildinfo of the packages it holds, when those
 * exist (a source tree): a `tsc -b` of changed sources without a new bundle, or
 * LIP_NO_BUNDLE=1, runs dist/ as it is.
 */
function bundleFor(name) {
  if ((name !== 'verify' && name !== 'bound') || process.env.LIP_NO_BUNDLE === '1') return null;
  const bundle = path.join(__dirname, '..', 'dist', 'lip.bundle.js');
  try {
    const built = fs.statSync(bundle).mtimeMs;
    const packages = path.join(__dirname, '..', '..');
    for (const pkg of ['cli', 'verify', 'core']) {
      let info;
      try {
        info = fs.statSync(path.join(packages, pkg, 'tsconfig.tsbuildinfo')).mtimeMs;
      } catch {
        continue;
      }
      if (info > built) return null;
    }
    return bundle;
  } catch {
    return null;
  }
}
