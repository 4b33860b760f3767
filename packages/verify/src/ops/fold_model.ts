/**
 * Static shape folding on import (`foldModel`), run by `readOnnxModel` unless
 * told not to. With the input shape fixed (declared, or `inputShape`), every
 * value that does not depend on the input (Shape, Gather on shapes,
 * Unsqueeze, Concat of shapes, Cast, ConstantOfShape, Range, Expand, int64
 * arithmetic, Constant nodes, ...) is computed by the bound's shape and
 * folding rules, with ONNX integer semantics (bound/fold.ts), and becomes an
 * initializer; the nodes that computed it are removed. The reader, the bound,
 * the onnxruntime session (through the re-encoded `bytes`) and the tfjs
 * translator all read the folded graph.
 *
 * Logits: a trailing Softmax is dropped (certificates are on logits; argmax
 * is unchanged) and reported in `folding.droppedSoftmax`.
 *
 * Batch: folding runs with a batch of 1, so folded shapes may encode it
 * (`x.view(x.size(0), -1)` gives Reshape [1, -1]). Then every Reshape whose
 * input's first dim is 1 and whose target's first entry is 1 gets 0 there
 * ("copy dim 0"), which changes nothing at batch 1. The graph is declared
 * batch-polymorphic (first input and output dims symbolic) only when this is
 * provably safe: the same rules on a batch of 2 give every input-dependent
 * value the batch-1 shape with first dim 2, and no op mixes samples along
 * axis 0 with an unchanged shape (Softmax/Hardmax/LogSoftmax or TopK on axis
 * 0, a Slice of axis 0). Otherwise its batch is fixed to 1
 * (`folding.batch = 'fixed'`), and the session runs it image by image.
 */
import { onnx } from 'onnx-proto';
import { ModelError } from '@lip/core';
import type { OnnxDim, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo } from '../onnx/read';
import type { Val as BoundValue } from '../bound/bounder';
import { propagate, propagateValues } from '../bound/propagate';
import { FOLDED_ONLY_OPS } from './registry';

export interface FoldOptions {
  /** Per-sample input shape (without the batch dimension) when the graph leaves it symbolic. */
  inputShape?: readonly number[];
  /** Drop a trailing Softmax so that the output is the logits (default true). */
  logits?: boolean;
}

export interface FoldReport {
  /** Per-sample input shape the graph was folded for; null when nothing could be folded (shapes unknown). */
  inputShape: number[] | null;
  /** Nodes replaced by constants. */
  foldedNodes: number;
  /** Name of the trailing Softmax node that was dropped, or null. */
  droppedSoftmax: string | null;
  /** The graph output the bound, the session and the certificates use (the logits). */
  logitsOutput: string;
  /** 'polymorphic': any batch size runs at once; 'fixed': the graph runs one image at a time. */
  batch: 'polymorphic' | 'fixed';
  /**
   * Elements per sample of the folded graph's largest input-dependent value
   * on `inputShape` (what the session sizes its batches by, see
   * `largestValueElements`); null when not worked out here.
   */
  largestValue: number | null;
}

const DATA_TYPE_CODES: Record<string, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

/** Ops that mix samples along an axis when it is 0, without changing shapes. */
function mixesBatch(node: OnnxNode, opset: number, rankOf: (name: string) => number): boolean {
  const axis = (dflt: number): number => {
    const a = typeof node.attributes.axis === 'number' ? node.attributes.axis : dflt;
    return a < 0 ? a + rankOf(node.inputs[0]) : a;
  };
  if (['Softmax', 'LogSoftmax', 'Hardmax'].includes(node.opType)) return axis(opset >= 13 ? -1 : 1) === 0;
  if (node.opType === 'TopK') return axis(-1) === 0;
  // A Slice on axis 0 may reverse or subsample the batch: refuse to declare it polymorphic.
  if (node.opType === 'Slice') return true;
  return false;
}

function tensorOf(name: string, v: BoundValue): OnnxTensor {
  const n = v.shape.reduce((a, d) => a * d, 1);
  const src = v.data as ArrayLike<number | bigint>;
  let data: OnnxTensor['data'];
  if (v.dtype === 'int64') data = BigInt64Array.from(src as ArrayLike<bigint>);
  else if (v.dtype === 'float64') data = Float64Array.from(src as ArrayLike<number>);
  else if (v.dtype === 'float32') data = Float32Array.from(src as ArrayLike<number>);
  else data = Int32Array.from(src as ArrayLike<bigint>, (x) => Number(x));
  return { name, dataType: v.dtype, dims: [...v.shape], size: n, data };
}

function encodeTensor(t: OnnxTensor): onnx.TensorProto {
  const bytesPer =
    t.dataType === 'int64' || t.dataType === 'float64' ? 8 : t.dataType === 'float32' || t.dataType === 'int32' ? 4 : t.dataType === 'int16' ? 2 : 1;
  const raw = new Uint8Array(t.size * bytesPer);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < t.size; i++) {
    const v = t.data[i];
    switch (t.dataType) {
      case 'int64':
        view.setBigInt64(8 * i, v as bigint, true);
        break;
      case 'float64':
        view.setFloat64(8 * i, v as number, true);
        break;
      case 'float32':
        view.setFloat32(4 * i, v as number, true);
        break;
      case 'int32':
        view.setInt32(4 * i, v as number, true);
        break;
      case 'int16':
        view.setInt16(2 * i, v as number, true);
        break;
      case 'int8':
        view.setInt8(i, v as number);
        break;
      default:
        view.setUint8(i, v as number);
    }
  }
  return onnx.TensorProto.create({ name: t.name, dims: [...t.dims], dataType: DATA_TYPE_CODES[t.dataType], rawData: raw });
}

/** Key of a node: its first output (outputs are unique in a valid graph). */
const keyOf = (n: { output?: string[] | null; outputs?: readonly string[] }): string => (n.outputs ?? n.output ?? []).find((o) => o) ?? '';

function describe(m: OnnxModel): string {
  return m.source === '<bytes>' ? 'the ONNX model' : `'${m.source}'`;
}

/**
 * Folds `model`'s shape arithmetic into constants for a fixed input shape
 * (see the module doc). Idempotent. Throws a ModelError when the graph holds
 * ops that only exist as shape arithmetic (Shape, ConstantOfShape, ...) and
 * they cannot be folded (unknown input shape: pass `inputShape`).
 */
export function foldModel(model: OnnxModel, opts: FoldOptions = {}): OnnxModel {
  if (model.folding && (!opts.inputShape || opts.inputShape.join() === (model.folding.inputShape ?? []).join())) return model;
  let nodes = [...model.nodes];
  let outputs = [...model.outputs];
  let droppedSoftmax: string | null = null;
  if (opts.logits !== false && outputs.length === 1) {
    const last = nodes.find((n) => n.outputs.includes(outputs[0].name));
    const readers = last ? nodes.filter((n) => n.inputs.includes(last.inputs[0])).length : 0;
    if (last && last.opType === 'Softmax' && readers === 1 && !model.inputs.some((i) => i.name === last.inputs[0])) {
      droppedSoftmax = last.name;
      nodes = nodes.filter((n) => n !== last);
      outputs = [{ ...outputs[0], name: last.inputs[0] }];
    }
  }
  const base: OnnxModel = { ...model, nodes, outputs };
  const input = model.inputs[0];
  const declared = input?.shape ?? null;
  const perSample = opts.inputShape
    ? [...opts.inputShape]
    : declared && declared.length >= 1 && declared.slice(1).every((d) => typeof d === 'number' && d > 0)
      ? (declared.slice(1) as number[])
      : null;
  const foldedOnly = [...new Set(nodes.filter((n) => FOLDED_ONLY_OPS.has(n.opType)).map((n) => n.opType))];
  const report = (inputShape: number[] | null, foldedNodes: number, batch: FoldReport['batch'], largestValue: number | null): FoldReport => ({
    inputShape,
    foldedNodes,
    droppedSoftmax,
    logitsOutput: outputs[0].name,
    batch,
    largestValue,
  });

  let vals1: ReadonlyMap<string, BoundValue> | null = null;
  let largest1 = 0;
  if (perSample && model.inputs.length === 1 && declared && declared.length === perSample.length + 1) {
    try {
      ({ vals: vals1, largest: largest1 } = propagate(base, { shapesOnly: true }, [1, ...perSample]).b);
    } catch (err) {
      if (foldedOnly.length > 0) {
        throw new ModelError(
          `${describe(model)}: cannot fold its shape arithmetic (${foldedOnly.join(', ')}) for input shape ` +
            `[N, ${perSample.join(', ')}]: ${(err as Error).message}`,
        );
      }
    }
  }
  if (!vals1) {
    if (foldedOnly.length > 0) {
      throw new ModelError(
        `${describe(model)}: its ${foldedOnly.join(', ')} nodes compute shapes, which need a fixed input shape; ` +
          `input '${input?.name}' is [${(declared ?? []).join(', ')}]. Pass the per-sample input shape (--input-shape, e.g. 1,28,28).`,
      );
    }
    const unchanged = droppedSoftmax === null;
    const folding = report(null, 0, 'polymorphic', null);
    return unchanged ? { ...model, folding } : reencode(model, { nodes, outputs, folding, initializers: model.initializers, batchDim: null });
  }

  // Nodes whose every output is a known constant become initializers.
  const isFolded = (n: OnnxNode): boolean =>
    n.outputs.every((o) => {
      if (!o) return true;
      const v = vals1!.get(o);
      return v !== undefined && v.isConst && v.data !== undefined && v.dtype !== 'float16';
    });
  const kept = nodes.filter((n) => !isFolded(n));
  const folded = nodes.length - kept.length;
  const initializers = new Map(model.initializers);
  const read = new Set<string>([...kept.flatMap((n) => n.inputs), ...outputs.map((o) => o.name)]);
  for (const n of nodes) {
    if (kept.includes(n)) continue;
    for (const o of n.outputs) if (o && read.has(o)) initializers.set(o, tensorOf(o, vals1.get(o)!));
  }
  // Batch 1 -> "copy dim 0" in Reshape targets (identical at batch 1).
  const finalNodes = kept.map((n) => {
    if (n.opType !== 'Reshape' || !n.inputs[1]) return n;
    const x = vals1!.get(n.inputs[0]);
    const t = initializers.get(n.inputs[1]);
    if (!x || x.isConst || x.shape[0] !== 1 || !t || t.dataType !== 'int64' || t.size < 1 || t.data[0] !== 1n) return n;
    if (typeof n.attributes.allowzero === 'number' && n.attributes.allowzero !== 0) return n;
    const name = `${n.inputs[1]}__lip_batch`;
    const data = BigInt64Array.from(t.data as BigInt64Array);
    data[0] = 0n;
    initializers.set(name, { ...t, name, data });
    return { ...n, inputs: [n.inputs[0], name, ...n.inputs.slice(2)] };
  });
  for (const name of [...initializers.keys()]) {
    if (!finalNodes.some((n) => n.inputs.includes(name)) && !outputs.some((o) => o.name === name)) initializers.delete(name);
  }
  const foldedModel: OnnxModel = { ...model, nodes: finalNodes, outputs, initializers };
  // With no node folded or rewritten, the graph is `base` (less unused initializers): its batch-1 pass is the one above.
  const sameGraph = folded === 0 && finalNodes.every((n, i) => n === kept[i]);
  const { polymorphic, largestValue } = batchPolymorphic(foldedModel, perSample!, declared![0], sameGraph ? { vals: vals1, largest: largest1 } : null);
  const batch = polymorphic ? 'polymorphic' : 'fixed';
  const folding = report(perSample, folded, batch, largestValue);
  const changed =
    folded > 0 ||
    droppedSoftmax !== null ||
    finalNodes.some((n, i) => n !== kept[i]) ||
    (batch === 'polymorphic') !== (typeof declared![0] !== 'number' || declared![0] !== 1);
  if (!changed) return { ...model, folding };
  return reencode(model, {
    nodes: finalNodes,
    outputs,
    folding,
    initializers,
    batchDim: batch === 'polymorphic' ? (typeof declared![0] === 'string' ? declared![0] : 'N') : 1,
  });
}

/**
 * Whether the folded graph provably runs any batch size sample by sample (see
 * the module doc), and its largest value per sample from the batch-1 pass
 * (`batch1`, when the caller already made it on the same graph).
 */
function batchPolymorphic(
  m: OnnxModel,
  perSample: number[],
  declaredBatch: OnnxDim,
  batch1: { vals: ReadonlyMap<string, BoundValue>; largest: number } | null,
): { polymorphic: boolean; largestValue: number | null } {
  if (typeof declaredBatch === 'number' && declaredBatch !== 1) return { polymorphic: false, largestValue: null };
  let one: ReadonlyMap<string, BoundValue>;
  let largestValue: number;
  let two: ReadonlyMap<string, BoundValue>;
  try {
    ({ vals: one, largest: largestValue } = batch1 ?? propagate(m, { shapesOnly: true }, [1, ...perSample]).b);
  } catch {
    return { polymorphic: false, largestValue: null };
  }
  try {
    two = propagateValues(m, [2, ...perSample]);
  } catch {
    return { polymorphic: false, largestValue };
  }
  const result = (polymorphic: boolean): { polymorphic: boolean; largestValue: number } => ({ polymorphic, largestValue });
  for (const [name, v] of one) {
    if (v.isConst) continue;
    const w = two.get(name);
    if (!w || v.shape.length < 1 || v.shape[0] !== 1 || w.shape[0] !== 2 || w.shape.join() !== [2, ...v.shape.slice(1)].join()) return result(false);
  }
  const rankOf = (name: string): number => one.get(name)?.shape.length ?? 0;
  return result(!m.nodes.some((n) => n.inputs.some((i) => i && one.get(i) && !one.get(i)!.isConst) && mixesBatch(n, m.opset, rankOf)));
}

/** The model with new nodes, initializers and outputs, and `bytes` re-encoded for onnxruntime. */
function reencode(
  model: OnnxModel,
  next: {
    nodes: OnnxNode[];
    outputs: OnnxValueInfo[];
    initializers: ReadonlyMap<string, OnnxTensor>;
    folding: FoldReport;
    batchDim: OnnxDim;
  },
): OnnxModel {
  const proto = onnx.ModelProto.decode(model.bytes);
  const g = proto.graph!;
  const byKey = new Map((g.node ?? []).map((n) => [keyOf(n), n]));
  g.node = next.nodes.map((n) => {
    const p = byKey.get(keyOf(n));
    if (!p) throw new ModelError(`${describe(model)}: node '${n.name}' was lost while folding; this is a bug, please report it.`);
    p.input = [...n.inputs];
    return p;
  });
  const oldInits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  g.initializer = [...next.initializers.values()].map((t) => oldInits.get(t.name) ?? encodeTensor(t));
  // Initializers listed as graph inputs (IR < 4) go with their initializer.
  g.input = (g.input ?? []).filter((v) => next.initializers.has(v.name ?? '') || !oldInits.has(v.name ?? ''));
  const oldOutputs = new Map((g.output ?? []).map((v) => [v.name ?? '', v]));
  g.output = next.outputs.map((o, i) => {
    const p = oldOutputs.get(o.name) ?? onnx.ValueInfoProto.create({ ...(g.output ?? [])[i], name: o.name });
    p.name = o.name;
    return p;
  });
  const setBatch = (v: onnx.IValueInfoProto): void => {
    const dim = v.type?.tensorType?.shape?.dim?.[0];
    if (!dim || next.batchDim === null) return;
    if (typeof next.batchDim === 'number') {
      dim.dimValue = next.batchDim;
      dim.dimParam = undefined;
    } else {
      dim.dimParam = next.batchDim;
      dim.dimValue = undefined;
    }
    // protobufjs encodes a oneof from whichever field is set: clear the other explicitly.
    (dim as { value?: string }).value = typeof next.batchDim === 'number' ? 'dimValue' : 'dimParam';
  };
  const realInput = g.input.find((v) => !next.initializers.has(v.name ?? ''));
  if (realInput) setBatch(realInput);
  g.output.forEach(setBatch);
  // Declared intermediate shapes may hold the old batch or folded values: onnxruntime infers them again.
  g.valueInfo = [];
  const bytes = onnx.ModelProto.encode(proto).finish();
  const batchDims = (v: OnnxValueInfo): OnnxValueInfo =>
    next.batchDim === null || !v.shape || v.shape.length === 0 ? v : { ...v, shape: [next.batchDim, ...v.shape.slice(1)] };
  return {
    ...model,
    bytes,
    nodes: next.nodes,
    initializers: next.initializers,
    inputs: model.inputs.map((v, i) => (i === 0 ? batchDims(v) : v)),
    outputs: next.outputs.map(batchDims),
    valueInfo: new Map(),
    folding: next.folding,
  };
}
