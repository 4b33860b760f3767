#!/usr/bin/env node
'use strict';
// Committed launcher so npm can link the `lip` bin before the TypeScript build exists.
try {
  require.resolve('../dist/bin/lip.js');
} catch {
  process.stderr.write("error: lip is not built yet; run 'npm run build' in the repository root\n");
  process.exit(2);
}
// `lip verify`: the bound thread starts before the CLI loads, so that its start-up overlaps the CLI's (verifyModel
// adopts it or ends it). Only a speed-up: without it (an older build), verify starts the thread itself.
if (process.argv[2] === 'verify') {
  try {
    require('@lip/verify/bound-thread').prestartBoundThread();
  } catch {
    // verifyModel starts its own thread.
  }
}
require('../dist/bin/lip.js');
