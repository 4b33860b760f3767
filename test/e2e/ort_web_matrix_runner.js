// Runs many ONNX models with onnxruntime-web's wasm backend under plain Node,
// in one child process (jest's module sandbox cannot load ort-web's ESM wasm glue).
// usage: node ort_web_matrix_runner.js MANIFEST.json
//   MANIFEST.json: [{ id, file, input (raw float32), dims }]
//   stdout: JSON { id: { logits: base64 float32 } | { error } }
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-web');

async function main() {
  ort.env.wasm.numThreads = 1;
  const entries = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const out = {};
  for (const e of entries) {
    try {
      const session = await ort.InferenceSession.create(fs.readFileSync(e.file), { executionProviders: ['wasm'] });
      const buf = fs.readFileSync(e.input);
      const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, e.dims) });
      const y = result[session.outputNames[0]].data;
      out[e.id] = { logits: Buffer.from(y.buffer, y.byteOffset, y.byteLength).toString('base64') };
      await session.release();
    } catch (err) {
      out[e.id] = { error: String(err && err.message ? err.message : err).split('\n')[0] };
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
