import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { assertArg, ModelError } from '../errors';
import { commitFiles, committedPath, FileSet } from './commit';

/** The tfjs "layers-model" files, as tfjs-node's `file://` handler writes them. */
export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

function asBytes(data: tf.io.WeightData | undefined): Uint8Array {
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data ?? new ArrayBuffer(0)));
}

/** `model.json` (or `modelFile`) + `weights.bin` for saved model artifacts. */
export function modelFiles(artifacts: tf.io.ModelArtifacts, modelFile: string = MODEL_FILE): FileSet {
  if (artifacts.modelTopology instanceof ArrayBuffer || artifacts.modelTopology === undefined) {
    throw new ModelError('only tfjs layers models (JSON topology) can be saved to files');
  }
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
  };
  if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
  if (artifacts.userDefinedMetadata !== undefined) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  return { [modelFile]: JSON.stringify(modelJson), [WEIGHTS_FILE]: asBytes(artifacts.weightData) };
}

function readOrThrow(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ModelError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Reads `model.json` (or `modelFile`) and the weight files it lists from `dir` (a committed checkpoint). */
export function readModelArtifacts(dir: string, modelFile: string = MODEL_FILE): tf.io.ModelArtifacts {
  const jsonPath = committedPath(dir, modelFile);
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(readOrThrow(jsonPath).toString('utf8')) as tf.io.ModelJSON;
  } catch (err) {
    if (err instanceof ModelError) throw err;
    throw new ModelError(`${jsonPath} is not valid JSON: ${(err as Error).message}`);
  }
  if (modelJson.modelTopology == null || !Array.isArray(modelJson.weightsManifest)) {
    throw new ModelError(`${jsonPath} is not a tfjs model.json (no modelTopology or weightsManifest)`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of modelJson.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(readOrThrow(committedPath(dir, path.normalize(p))));
  }
  const weights = Buffer.concat(buffers);
  const expected = weightBytes(specs);
  if (weights.byteLength !== expected) {
    throw new ModelError(`${path.join(dir, WEIGHTS_FILE)} holds ${weights.byteLength} bytes, model.json expects ${expected}`);
  }
  return tf.io.getModelArtifactsForJSONSync(modelJson, specs, weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength));
}

function bytesPerElement(dtype: string): number {
  if (dtype === 'bool' || dtype === 'uint8' || dtype === 'int8') return 1;
  if (dtype === 'float16' || dtype === 'int16' || dtype === 'uint16') return 2;
  return 4;
}

/** Bytes that weights described by `specs` take in a weight file (numeric dtypes). */
export function weightBytes(specs: tf.io.WeightsManifestEntry[]): number {
  return specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s.quantization?.dtype ?? s.dtype), 0);
}

/** `file://` URLs, as tfjs-node names local files. */
export const FILE_SCHEME = 'file://';

/** The folder and the model file of `runs/x`, `runs/x/model.json` or `file://runs/x/model.json`. */
function modelLocation(pathOrUrl: string): { dir: string; modelFile: string } {
  assertArg(typeof pathOrUrl === 'string' && pathOrUrl.length > 0, () => `'path' must be a folder or a model.json path, got ${JSON.stringify(pathOrUrl)}`);
  const local = pathOrUrl.startsWith(FILE_SCHEME) ? pathOrUrl.slice(FILE_SCHEME.length) : pathOrUrl;
  return local.toLowerCase().endsWith('.json') ? { dir: path.dirname(local), modelFile: path.basename(local) } : { dir: local, modelFile: MODEL_FILE };
}

/**
 * A tfjs IOHandler on local files (tfjs-core has no `file://` handler without
 * tfjs-node): `tf.loadLayersModel(fileHandler('runs/x/model.json'))`,
 * `model.save(fileHandler('runs/x'))`. Takes a folder (its `model.json`), a
 * `.json` path, or a `file://` URL of either. Saving replaces the model file
 * and `weights.bin` together (see `commitFiles`).
 */
export function fileHandler(pathOrUrl: string): tf.io.IOHandler {
  const { dir, modelFile } = modelLocation(pathOrUrl);
  return {
    save: async (artifacts) => {
      commitFiles(dir, modelFiles(artifacts, modelFile));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    load: async () => {
      const artifacts = readModelArtifacts(dir, modelFile);
      // tfjs builds the model right after load() with the current backend; importing @lip/train makes wasm
      // (asynchronous start) the highest-priority one, so start it here when the caller chose none.
      await tf.ready();
      return artifacts;
    },
  };
}

/**
 * The `file://` router that `@lip/train/node` registers with tfjs, so
 * `tf.loadLayersModel('file://runs/x/model.json')` and
 * `model.save('file://runs/x')` work without tfjs-node. When tfjs-node is
 * loaded (its 'tensorflow' backend is registered), it serves `file://` itself
 * and this router steps aside (two handlers for one URL is an error in tfjs).
 */
export function fileRouter(url: string | string[]): tf.io.IOHandler | null {
  if (typeof url !== 'string' || !url.startsWith(FILE_SCHEME)) return null;
  if (tf.findBackendFactory('tensorflow') != null) return null;
  return fileHandler(url);
}
// tfjs's routers return null for URLs they do not serve (its own do); the type says IOHandler.
tf.io.registerLoadRouter(fileRouter as Parameters<typeof tf.io.registerLoadRouter>[0]);
tf.io.registerSaveRouter(fileRouter as Parameters<typeof tf.io.registerLoadRouter>[0]);
