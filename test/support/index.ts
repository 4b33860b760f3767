/**
 * @lip/test-support: the helpers every package's tests share, one copy each.
 * Jest maps `@lip/test-support` to this file and `@lip/test-support/<file>`
 * to the file (jest.config.js). Never shipped: it lives outside every
 * package, so no build or tarball holds it.
 *
 * This entry holds the light, tfjs-free helpers (any test may load them,
 * @lip/core's included):
 * - tmp.ts: temp folders removed by jest hooks;
 * - random.ts: seeded arrays from mulberry32;
 * - compare.ts: error measures and closeness expectations;
 * - files.ts: the repository root, its audit fixtures and shipped model, listing files, open files, atomic temps;
 * - errors.ts: the error a call throws or a promise rejects with;
 * - process.ts: dead pids, sleeping children, environment variables for a call, waiting for a state;
 * - terminal.ts: a stderr stand-in that keeps what progress bars write.
 * The others are imported by path, since they load heavier code:
 * - data.ts: writers of .npy, .npz, PNG, JPEG, CIFAR-10 and IDX files; a local HTTP mirror;
 * - tf.ts: the cpu reference, predictions, leak checks, layer helpers (tfjs);
 * - kernels.ts: lip's wasm kernels, SIMD or composed, and the backend x kernels setups (@lip/train);
 * - linalg.ts: float64 linear algebra references; measure.ts: measured Lipschitz constants (tfjs);
 * - models.ts: tiny and random Lipschitz networks (@lip/train, @lip/export);
 * - onnx.ts: small ONNX models and edits (@lip/export); ort.ts: onnxruntime predictions;
 * - cli.ts: the `lip` program in-process or spawned, and its fixtures (@lip/train/node);
 * - browser.ts: Chromium through playwright-core; xml.ts: a strict XML parser.
 */
export { makeTmpDir, removeDir, tmpDirPerSuite, tmpDirPerTest, withTmpDir } from './tmp';
export type { TmpDir } from './tmp';
export { mulberry32, normalArray, randomImages, seededBytes, sizeOf, uniformArray, uniformArray64, uniformStream } from './random';
export type { Rng } from './random';
export { bitsOf, expectCloseRelMax, flat, maxAbsDiff, maxRelDiff, shapeOf, values } from './compare';
export type { Nested, Values } from './compare';
export { atomicTemps, AUDIT_FIXTURES, listFiles, openFilesUnder, ROOT, SHIPPED_MODEL } from './files';
export { rejectionOf, thrownBy } from './errors';
export { childrenPerTest, deadPid, waitFor, withEnv } from './process';
export type { ChildrenPerTest } from './process';
export { fakeTerminal } from './terminal';
export type { FakeTerminal } from './terminal';
