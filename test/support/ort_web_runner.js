// Runs an ONNX model with onnxruntime-web's wasm backend under plain Node (a
// child process: jest's module sandbox cannot load ort-web's ESM wasm glue).
// usage: node ort_web_runner.js MODEL.onnx INPUT.f32 d0,d1,... -> writes raw float32 logits to stdout
const fs = require('fs');
const ort = require('onnxruntime-web');

async function main() {
  const [modelPath, inputPath, dimsArg] = process.argv.slice(2);
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(fs.readFileSync(modelPath), { executionProviders: ['wasm'] });
  const buf = fs.readFileSync(inputPath);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const dims = dimsArg.split(',').map(Number);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
  const y = out[session.outputNames[0]];
  const bytes = Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength);
  process.stdout.write(JSON.stringify({ dims: y.dims }) + '\n');
  process.stdout.write(bytes.toString('base64') + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
