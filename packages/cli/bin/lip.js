#!/usr/bin/env node
'use strict';
// Committed launcher so npm can link the `lip` bin before the TypeScript build exists.
try {
  require.resolve('../dist/bin/lip.js');
} catch {
  process.stderr.write("error: lip is not built yet; run 'npm run build' in the repository root\n");
  process.exit(2);
}
require('../dist/bin/lip.js');
