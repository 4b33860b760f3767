'use strict';
/**
 * Bundles the page (app.ts + @lip/runtime + onnxruntime-web's JavaScript) with
 * esbuild into `outdir` (default examples/browser/dist): index.html and
 * app.js. onnxruntime-web's .wasm files are not bundled: serve.js serves them
 * from node_modules/onnxruntime-web/dist under /ort/.
 *
 *   node examples/browser/build.js [OUTDIR]
 */
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');

const HERE = __dirname;

/** Builds the page; returns the output folder and the size of app.js in bytes. */
async function buildPage(outdir = path.join(HERE, 'dist')) {
  fs.mkdirSync(outdir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(HERE, 'app.ts')],
    outfile: path.join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    metafile: true,
    logLevel: 'error',
  });
  fs.copyFileSync(path.join(HERE, 'index.html'), path.join(outdir, 'index.html'));
  return { outdir, bytes: fs.statSync(path.join(outdir, 'app.js')).size, metafile: result.metafile };
}

module.exports = { buildPage };

if (require.main === module) {
  buildPage(process.argv[2]).then(
    ({ outdir, bytes }) => {
      process.stdout.write(`built ${path.join(outdir, 'app.js')} (${bytes} bytes)\n`);
    },
    (err) => {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
