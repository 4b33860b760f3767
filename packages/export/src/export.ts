import { ready, tidy } from '@tensorflow/tfjs-core';
import { LayersModel, Sequential, layers as tfl } from '@tensorflow/tfjs-layers';
import { DATASETS, ModelError, assertArg, isLipschitzLayer } from '@lip/train';
import { loadCheckpoint, writeFileAtomic } from '@lip/train/node';
import { GraphBuilder } from './onnx/builder';
import { EmitContext, Profile, emitterFor, onnxDims } from './emitters';
import { headMetadata } from './emitters/head';

/** Default opset: the newest one Debian's python3-onnx (1.12) checker knows, and every current runtime loads. */
export const DEFAULT_OPSET = 17;
/** Opsets the emitters are written for (Split, LpPool, AveragePool, Reshape semantics checked up to 21). */
export const MIN_OPSET = 13;
export const MAX_OPSET = 21;
/** Names of the graph input and output. */
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';
/** The multiclass certificate the exported logits support (Tsuzuku et al. 2018). */
export const CERTIFICATE_MULTICLASS = 'multiclass: (top1 - top2) / (sqrt(2) * L)';
export const CERTIFICATE_BINARY = 'binary: abs(logit) / L';

const PRODUCER = 'lip';
const PRODUCER_VERSION: string = require('../package.json').version;

export interface ExportOptions {
  /** ONNX opset, from 13 to 21. Default `DEFAULT_OPSET` (17). */
  opset?: number;
  /** Only operators every major runtime has (no Max/Min/TopK). Default false. */
  portable?: boolean;
  /** Range of the input values the model was trained on, written to metadata. Default `[0, 1]`. */
  inputRange?: [number, number];
  /** One name per logit, written to metadata. Default `'0'`, `'1'`, ... */
  classNames?: string[];
  /** Architecture name written to metadata (`seed`, ...). Default the model's name. */
  architecture?: string;
}

/** What `exportCheckpoint` wrote. */
export interface ExportResult {
  path: string;
  /** File size in bytes. */
  bytes: number;
  /** The `metadata_props` written, by key. */
  metadata: Record<string, string>;
}

interface Step {
  layer: tfl.Layer;
  inShape: number[];
  outShape: number[];
}

/**
 * A trained Lipschitz model as one self-contained ONNX file: input `input`
 * float32 `[N, C, H, W]` (or `[N, F]`), output `logits` `[N, classes]`, the
 * converged effective weights, and `metadata_props` stating the Lipschitz
 * constant and certificate. Throws ModelError (naming every offending layer)
 * for a model it cannot express exactly.
 */
export function exportOnnx(model: LayersModel, opts: ExportOptions = {}): Uint8Array {
  return buildOnnx(model, opts).bytes;
}

/**
 * Loads a checkpoint folder (`loadCheckpoint`), exports it, and writes
 * `outPath` atomically. Nothing is written when the export fails.
 */
export async function exportCheckpoint(ckptDir: string, outPath: string, opts: ExportOptions = {}): Promise<ExportResult> {
  assertArg(typeof outPath === 'string' && outPath.length > 0, () => `'outPath' must be a file path, got ${JSON.stringify(outPath)}`);
  const { bytes, metadata } = await checkpointToOnnx(ckptDir, opts);
  writeFileAtomic(outPath, bytes);
  return { path: outPath, bytes: bytes.length, metadata };
}

/** `exportCheckpoint` without the file: the ONNX bytes and their metadata (for a stream such as stdout). */
export async function checkpointToOnnx(ckptDir: string, opts: ExportOptions = {}): Promise<{ bytes: Uint8Array; metadata: Record<string, string> }> {
  resolveOptions(opts); // fail on bad options before loading anything
  await ready();
  const { model, trainState } = await loadCheckpoint(ckptDir);
  try {
    // train.json: { config: { arch, dataset, ... }, epochs }.
    const config = ((trainState ?? {}) as { config?: { arch?: unknown; dataset?: unknown; classNames?: unknown } }).config ?? {};
    const architecture = opts.architecture ?? (typeof config.arch === 'string' ? config.arch : undefined);
    // train() records the run's class names (your own data, CIFAR-10); older checkpoints name a dataset.
    const recordedNames =
      Array.isArray(config.classNames) && config.classNames.every((n) => typeof n === 'string') ? (config.classNames as string[]) : undefined;
    const datasetNames =
      typeof config.dataset === 'string' && config.dataset in DATASETS ? [...DATASETS[config.dataset as keyof typeof DATASETS].classNames] : undefined;
    return buildOnnx(model, {
      ...opts,
      architecture,
      classNames: opts.classNames ?? recordedNames ?? datasetNames,
    });
  } finally {
    model.dispose();
  }
}

/** exportOnnx, also returning the metadata it wrote. */
export function buildOnnx(model: LayersModel, opts: ExportOptions = {}): { bytes: Uint8Array; metadata: Record<string, string> } {
  const { opset, inputRange, profile } = resolveOptions(opts);

  const steps = plan(model);
  assertFiniteWeights(steps.map((step) => step.layer));
  const inShape = steps.length > 0 ? steps[0].inShape : perSampleShape(model.inputs[0].shape, 'the model input');
  const outShape = steps.length > 0 ? steps[steps.length - 1].outShape : inShape;
  if (outShape.length !== 1) {
    throw new ModelError(`the model output is [${outShape.join(', ')}] per sample; the export needs flat logits [classes] (add Flatten and a dense layer)`);
  }
  const classes = outShape[0];
  const classNames = opts.classNames ?? Array.from({ length: classes }, (_, i) => String(i));
  assertArg(
    Array.isArray(classNames) && classNames.length === classes && classNames.every((s) => typeof s === 'string'),
    () => `'classNames' must hold ${classes} strings (one per logit), got ${JSON.stringify(opts.classNames)}`,
  );

  const b = new GraphBuilder({ opset, producer: PRODUCER, producerVersion: PRODUCER_VERSION, graphName: model.name || 'lip' });
  b.input(INPUT_NAME, 'float32', ['N', ...onnxDims(inShape)]);
  let x = INPUT_NAME;
  let lipschitz = 1;
  let bodyLipschitz = 1; // L of everything before the last layer (the head, when it is a Gemm)
  tidy(() => {
    for (const step of steps) {
      const emit = emitterFor(step.layer.getClassName());
      if (!emit) throw new Error(`unreachable: no emitter for ${step.layer.getClassName()}`);
      const ctx: EmitContext = {
        b,
        profile,
        layer: step.layer,
        config: step.layer.getConfig(),
        x,
        inShape: step.inShape,
        outShape: step.outShape,
        what: describe(step.layer),
      };
      x = emit(ctx);
      bodyLipschitz = lipschitz;
      lipschitz *= layerLipschitz(step.layer);
    }
  });
  if (x === INPUT_NAME) x = b.node('Identity', [x])[0];
  b.rename(x, OUTPUT_NAME);
  b.output(OUTPUT_NAME, ['N', classes]);

  const metadata: Record<string, string> = {
    producer: `${PRODUCER} (@lip/export)`,
    producer_version: PRODUCER_VERSION,
    architecture: opts.architecture ?? model.name,
    lipschitz_constant: String(lipschitz),
    certificate: classes === 1 ? CERTIFICATE_BINARY : CERTIFICATE_MULTICLASS,
    class_names: JSON.stringify(classNames),
    input_range: JSON.stringify(inputRange),
    profile,
    ...headMetadata(b.toModelProto(), OUTPUT_NAME, bodyLipschitz),
  };
  for (const [k, v] of Object.entries(metadata)) b.setMetadata(k, v);
  return { bytes: b.toBytes(), metadata };
}

/** Checks the options and fills in the defaults (classNames is checked once the class count is known). */
function resolveOptions(opts: ExportOptions): { opset: number; inputRange: [number, number]; profile: Profile } {
  const opset = opts.opset ?? DEFAULT_OPSET;
  assertArg(
    Number.isInteger(opset) && opset >= MIN_OPSET && opset <= MAX_OPSET,
    () => `'opset' must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${String(opts.opset)}`,
  );
  const inputRange = opts.inputRange ?? [0, 1];
  assertArg(
    Array.isArray(inputRange) && inputRange.length === 2 && inputRange.every(Number.isFinite) && inputRange[0] < inputRange[1],
    () => `'inputRange' must be [lo, hi] with lo < hi, got ${JSON.stringify(opts.inputRange)}`,
  );
  return { opset, inputRange: [inputRange[0], inputRange[1]], profile: opts.portable ? 'portable' : 'default' };
}

function describe(layer: tfl.Layer): string {
  return `layer '${layer.name}' (${layer.getClassName()})`;
}

/** The k a layer guarantees; the table's other layers (Flatten, InputLayer) only move values. */
function layerLipschitz(layer: tfl.Layer): number {
  return isLipschitzLayer(layer) ? layer.lipschitzConstant() : 1;
}

/**
 * Refuses a model holding a NaN or infinite weight (training diverged): one
 * ModelError naming the layer and the weight, before any bound is computed
 * from it.
 */
function assertFiniteWeights(layers: tfl.Layer[]): void {
  for (const layer of layers) {
    for (const weight of layer.weights) {
      const values = weight.read().dataSync();
      const i = values.findIndex((v) => !Number.isFinite(v));
      if (i < 0) continue;
      const what = Number.isNaN(values[i]) ? 'a NaN' : 'an infinite';
      throw new ModelError(
        `layer '${layer.name}' has ${what} value in its weight '${weight.name}' (index ${i}): the model diverged in training and ` +
          'cannot be exported; train it again with a lower learning rate (lip train --lr)',
      );
    }
  }
}

/**
 * The model as a chain of layers with their per-sample shapes. Nested
 * Sequential models are flattened. Refuses, in one ModelError, every layer
 * without an emitter, and any branching topology.
 */
function plan(model: LayersModel): Step[] {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelError(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; the export needs exactly one of each`);
  }
  const chain = flatten(model);
  const unknown = chain.filter((l) => !emitterFor(l.getClassName()));
  if (unknown.length > 0) {
    const list = unknown.map(describe).join(', ');
    throw new ModelError(`cannot export ${list}: no ONNX emitter for ${unknown.length === 1 ? 'this class' : 'these classes'}`);
  }
  let inShape = perSampleShape(model.inputs[0].shape, 'the model input');
  const steps: Step[] = [];
  for (const layer of chain) {
    const out = layer.outputShape;
    if (Array.isArray(out[0]) || Array.isArray(out[1])) throw new ModelError(`cannot export ${describe(layer)}: it has several outputs`);
    const outShape = perSampleShape(out as (number | null)[], describe(layer));
    steps.push({ layer, inShape, outShape });
    inShape = outShape;
  }
  return steps;
}

/** The layers of a model in order, checking that each feeds the next. */
function flatten(model: LayersModel): tfl.Layer[] {
  const out: tfl.Layer[] = [];
  const isSequential = model instanceof Sequential;
  let previous: tfl.Layer | undefined;
  for (const layer of model.layers) {
    if (!isSequential && previous !== undefined) {
      const inbound = layer.inboundNodes;
      const from = inbound.length === 1 ? inbound[0].inboundLayers : [];
      if (from.length !== 1 || from[0] !== previous) {
        throw new ModelError(
          `cannot export ${describe(layer)}: only a chain of layers can be exported, and its input is not the previous layer '${previous.name}'`,
        );
      }
    }
    if (layer instanceof LayersModel) out.push(...flatten(layer));
    else out.push(layer);
    previous = layer;
  }
  return out;
}

function perSampleShape(shape: readonly (number | null)[], what: string): number[] {
  const s = shape.slice(1);
  if (!s.every((d): d is number => typeof d === 'number' && d > 0)) {
    throw new ModelError(`${what} has shape [${shape.map(String).join(', ')}]; every dimension but the batch must be fixed`);
  }
  if (s.length !== 1 && s.length !== 3) {
    throw new ModelError(`${what} is [${s.join(', ')}] per sample; only [F] and [H, W, C] are supported`);
  }
  return s;
}
