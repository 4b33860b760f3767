'use strict';
/**
 * Serves the browser page for one lip-exported model on 127.0.0.1:
 *
 *   node examples/browser/serve.js MODEL.onnx [--port 8080] [--data DIR] [--n 100]
 *
 * It builds the page (build.js), then serves it with the model, the first n
 * test images of --data (any data @lip/core's readLabeledData reads; default:
 * Fashion-MNIST from $LIP_DATA_DIR, ~/.cache/lip or /usr/share/datasets) and
 * onnxruntime-web's .wasm files. `--port 0` picks a free port. Build the
 * packages first (`npm run build`): the page bundles @lip/runtime's dist.
 */
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { buildPage } = require('./build');

// onnxruntime-web's entry for Node is dist/ort.node.min.js: its folder holds the .wasm files.
// A file subpath, not the bare name: test runners may map the bare 'onnxruntime-web' to a stand-in module.
const ORT_DIST = path.dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.mjs'));
const ORT_FILE = /^ort-wasm-simd-threaded(\.jsep|\.jspi|\.asyncify)?\.(wasm|mjs)$/;
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.u8': 'application/octet-stream',
};
const DEFAULT_N = 100;

class UsageError extends Error {}

/** The first folder holding the Fashion-MNIST test split, or null. */
function defaultDataDir() {
  const env = process.env.LIP_DATA_DIR;
  const candidates = [
    env && path.join(env, 'fashion-mnist'),
    env,
    path.join(os.homedir(), '.cache', 'lip', 'fashion-mnist'),
    '/usr/share/datasets/fashion-mnist',
  ].filter(Boolean);
  return candidates.find((d) => ['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte'].some((f) => fs.existsSync(path.join(d, f)))) ?? null;
}

/** The first n test images as uint8 NHWC bytes with their labels, or null without data. */
async function readImages(data, n) {
  if (data === null) return null;
  const { readLabeledData } = require('@lip/core');
  const set = await readLabeledData(data, { split: 'test', limit: n, scale: 1 });
  return {
    bytes: Uint8Array.from(set.images, (v) => Math.max(0, Math.min(255, Math.round(v)))),
    labels: Array.from(set.labels),
    n: set.n,
    imageShape: [set.height, set.width, set.channels],
    source: set.source,
  };
}

/**
 * Starts the server. `files` maps more URL paths to local files (the runtime
 * matrix test serves its models this way). Resolves to `{ url, close }`.
 */
async function startServer({ model, port = 8080, data, n = DEFAULT_N, files = {}, outdir } = {}) {
  if (typeof model !== 'string' || !fs.existsSync(model) || !fs.statSync(model).isFile()) {
    throw new UsageError(`model file '${model}' does not exist; pass the .onnx file lip export wrote`);
  }
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`'--n' must be an integer >= 1, got ${n}`);
  const { outdir: dist } = await buildPage(outdir);
  const images = await readImages(data === undefined ? defaultDataDir() : data, n);
  const config = {
    model: 'model.onnx',
    modelName: path.basename(model),
    images: images ? 'images.u8' : null,
    n: images ? images.n : 0,
    labels: images ? images.labels : [],
    imageShape: images ? images.imageShape : null,
    dataSource: images ? images.source : null,
    ortPath: '/ort/',
  };
  const routes = new Map([
    ['/', () => fs.readFileSync(path.join(dist, 'index.html'))],
    ['/index.html', () => fs.readFileSync(path.join(dist, 'index.html'))],
    ['/app.js', () => fs.readFileSync(path.join(dist, 'app.js'))],
    ['/config.json', () => Buffer.from(JSON.stringify(config))],
    ['/model.onnx', () => fs.readFileSync(model)],
    ['/images.u8', () => (images ? Buffer.from(images.bytes) : null)],
  ]);
  for (const [url, file] of Object.entries(files)) routes.set(url, () => fs.readFileSync(file));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    let body = null;
    try {
      const ort = url.startsWith('/ort/') ? url.slice(5) : null;
      if (ort !== null && ORT_FILE.test(ort)) body = fs.readFileSync(path.join(ORT_DIST, ort));
      else if (routes.has(url)) body = routes.get(url)();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err.message));
      return;
    }
    if (body === null && url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (body === null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url}`);
      return;
    }
    const type = url === '/' ? TYPES['.html'] : (TYPES[path.extname(url)] ?? 'application/octet-stream');
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', (err) => reject(err.code === 'EADDRINUSE' ? new UsageError(`port ${port} is in use; pass another --port (0 picks a free one)`) : err));
    server.listen(port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  return { url, config, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function parseArgs(argv) {
  const opts = { n: DEFAULT_N, port: 8080 };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port' || a === '--data' || a === '--n') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`'${a}' needs a value`);
      if (a === '--data') opts.data = v;
      else {
        const num = Number(v);
        if (!Number.isInteger(num) || num < 0 || (a === '--n' && num < 1) || num > 65535)
          throw new UsageError(`'${a}' must be an integer${a === '--n' ? ' >= 1' : ' from 0 to 65535'}, got '${v}'`);
        opts[a.slice(2)] = num;
      }
    } else if (a.startsWith('--')) {
      throw new UsageError(`unknown option '${a}' (usage: serve.js MODEL.onnx [--port N] [--data DIR] [--n N])`);
    } else {
      rest.push(a);
    }
  }
  if (rest.length !== 1) throw new UsageError('usage: node examples/browser/serve.js MODEL.onnx [--port N] [--data DIR] [--n N]');
  return { ...opts, model: rest[0] };
}

module.exports = { startServer, defaultDataDir };

if (require.main === module) {
  (async () => {
    const { url, config } = await startServer(parseArgs(process.argv.slice(2)));
    process.stdout.write(`serving ${config.modelName} (${config.n} test images) at ${url}\n`);
  })().catch((err) => {
    const user = err instanceof UsageError || (err && typeof err.exitCode === 'number');
    process.stderr.write(`error: ${user ? err.message : err.stack}\n`);
    process.exitCode = user ? 2 : 1;
  });
}
