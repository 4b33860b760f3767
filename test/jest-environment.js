// Jest gives each test file its own globals, so typed arrays made in a test are
// not instances of the outer realm's constructors, and onnxruntime-node rejects
// them ("data must be type of function Float32Array"). Share the outer ones.
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Buffer',
];

class LipTestEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) {
      if (globalThis[name] !== undefined) this.global[name] = globalThis[name];
    }
    // onnxruntime-web loads its wasm glue with import(), which jest's module sandbox refuses
    // (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG): tests get this realm's copy (test/onnxruntime_web.js), loaded on first use.
    Object.defineProperty(this.global, '__lipOnnxruntimeWeb', { get: () => require('onnxruntime-web') });
  }
}

module.exports = LipTestEnvironment;
