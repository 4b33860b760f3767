#!/usr/bin/env node
/**
 * Bundles what `lip verify` and `lip bound` load into one file,
 * packages/cli/dist/lip.bundle.js (esbuild, after `tsc -b`; `npm run build`
 * runs both). Loading one file instead of about 130 modules (@lip/cli,
 * @lip/verify, @lip/core, commander, onnx-proto, protobufjs) takes about 30
 * ms less of every run: a large part of a cold `lip verify` beyond the model
 * run itself.
 *
 * Left out, and required at run time as usual: onnxruntime (native, or its
 * own wasm files), tfjs, @lip/train, @lip/export, the image and zip readers,
 * and the CLI's other commands (train, export, attack, demo), which
 * bin/lip.js never runs from the bundle.
 *
 * bin/lip.js uses the bundle only while it is at least as new as every
 * tsconfig.tsbuildinfo of the packages in it, so a `tsc -b` of changed
 * sources without this step falls back to dist/ (see bin/lip.js).
 *
 *   node tools/bundle-cli.js
 */
'use strict';
const path = require('path');
const esbuild = require('esbuild');

const ROOT = path.join(__dirname, '..');
const CLI_DIST = path.join(ROOT, 'packages', 'cli', 'dist');
/** The CLI's commands that never run from the bundle: left as requires of dist/commands/<name>.js, next to it. */
const OTHER_COMMANDS = /^\.\/commands\/(train|export|attack|demo)$/;

async function main() {
  const result = await esbuild.build({
    entryPoints: [path.join(CLI_DIST, 'bin', 'lip.js')],
    outfile: path.join(CLI_DIST, 'lip.bundle.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
    external: ['onnxruntime-node', 'onnxruntime-web', '@tensorflow/*', '@lip/train', '@lip/export', 'pngjs', 'jpeg-js', 'yauzl'],
    plugins: [
      {
        name: 'other-commands',
        setup(build) {
          build.onResolve({ filter: OTHER_COMMANDS }, (args) => ({ path: args.path, external: true }));
        },
      },
    ],
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs);
  const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
  process.stdout.write(`bundle-cli: packages/cli/dist/lip.bundle.js (${inputs.length} modules, ${(bytes / 1024).toFixed(0)} KB)\n`);
}

main().catch((err) => {
  process.stderr.write(`bundle-cli: ${err.stack || err.message}\n`);
  process.exit(1);
});
