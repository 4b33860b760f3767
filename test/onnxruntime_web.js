// What tests get for `onnxruntime-web` (and for `onnxruntime-node` when it is not installed): jest.config.js maps
// them here. The test environment (test/jest-environment.js) loads onnxruntime-web outside jest's module sandbox,
// where its wasm loader's import() works.
module.exports = globalThis.__lipOnnxruntimeWeb;
