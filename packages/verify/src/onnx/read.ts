/**
 * ONNX reader: decodes a `.onnx` file (or bytes) into a validated, plain view
 * of the graph that the session, the Lipschitz bound and the tfjs translator
 * all share. Everything a user can get wrong is refused here with one
 * `ModelError` that names the file and the fix.
 */
import * as fs from 'fs';
import { onnx } from 'onnx-proto';
import { ModelError, ModelTooLargeError } from '@lip/core';
import { OP_INPUTS, REGISTERED_OPS } from '../ops/registry';
import { constantNodeValue } from '../ops/attributes';
import { foldModel, FoldReport } from '../ops/fold_model';
import { MAX_TENSOR_ELEMENTS } from './limits';

// Attribute readers live with the op parsers (ops/attributes.ts); re-exported for existing callers.
export { attrFloat, attrInt, attrInts, attrString, constantNodeValue } from '../ops/attributes';
// The size limits are a leaf module, so that the bound's propagation, which folding runs, needs no reader.
export { MAX_TENSOR_ELEMENTS, MAX_VALUE_ELEMENTS } from './limits';

/** Operators the verifier understands (bound, session checks, translator): the registry's rows (ops/registry.ts). */
export const SUPPORTED_OPS: readonly string[] = REGISTERED_OPS;

/** Element types the reader decodes. */
export type OnnxDataType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const DATA_TYPES: Record<number, OnnxDataType> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
};
const BYTES_PER_ELEMENT: Record<OnnxDataType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/**
 * A decoded tensor. Float tensors (`float32`, `float16`) are a `Float32Array`,
 * `float64` a `Float64Array`; `int64` a `BigInt64Array` (exact: constant
 * folding must follow ONNX integer semantics, and 2^53 < INT64_MAX); the
 * other integer types and bool an `Int32Array`.
 */
export interface OnnxTensor {
  readonly name: string;
  readonly dataType: OnnxDataType;
  readonly dims: readonly number[];
  readonly size: number;
  readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array;
}

/** An attribute as a plain value. */
export type OnnxAttribute = number | string | number[] | string[] | OnnxTensor | OnnxTensor[];

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  /** Input value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, OnnxAttribute>>;
}

/** A dimension: a fixed size, a symbolic name (the batch dimension, usually), or null when unknown. */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: OnnxDataType | 'unknown';
  /** null when the file declares no shape. */
  readonly shape: readonly OnnxDim[] | null;
}

export interface OnnxModel {
  /** The file path, or '<bytes>' for an in-memory model. */
  readonly source: string;
  /** The encoded model, for onnxruntime. */
  readonly bytes: Uint8Array;
  readonly irVersion: number;
  /** Opset of the default ('' / 'ai.onnx') domain. */
  readonly opset: number;
  readonly opsets: Readonly<Record<string, number>>;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly graphName: string;
  /** `metadata_props` as a map (`lipschitz_constant`, `input_range`, ...). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Graph inputs that are not initializers (the real feeds). */
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** Nodes in topological order. */
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
  /** Declared intermediate value infos (`graph.value_info`), by name. */
  readonly valueInfo: ReadonlyMap<string, OnnxValueInfo>;
  /** What static shape folding did (ops/fold_model.ts); absent on a model read with `fold: false`. */
  readonly folding?: FoldReport;
}

export interface ReadOptions {
  /** Per-sample input shape (without the batch dimension), for graphs that leave it symbolic. */
  inputShape?: readonly number[];
  /** Fold shape arithmetic into constants and drop a trailing Softmax (default true; see `foldModel`). */
  fold?: boolean;
}

function toNumber(v: number | Long | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  return (v as Long).toNumber();
}

type Long = { toNumber(): number; low: number; high: number };

function describe(source: string): string {
  return source === '<bytes>' ? 'the ONNX model bytes' : `'${source}'`;
}

/** The exact int64 value of a protobuf integer (a Long, or a number when it fits). */
function toBigInt(v: number | Long | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  return BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
}

/** Decodes IEEE half floats. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Decodes a TensorProto; `where` names it in errors. */
export function decodeTensor(t: onnx.ITensorProto, source: string, where: string): OnnxTensor {
  const name = t.name ?? '';
  const file = describe(source);
  const dataType = DATA_TYPES[t.dataType ?? 0];
  if (!dataType) {
    throw new ModelError(
      `${file}: tensor '${name}' (${where}) has unsupported data type ${t.dataType}; ` +
        `supported: ${Object.values(DATA_TYPES).join(', ')}. Re-export the model with float32 weights.`,
    );
  }
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData && t.externalData.length > 0)) {
    throw new ModelError(
      `${file}: tensor '${name}' (${where}) stores its data in an external file, which is not supported; ` +
        'save the model with all weights inside the .onnx file.',
    );
  }
  const dims = (t.dims ?? []).map(toNumber);
  let size = 1;
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ModelError(`${file}: tensor '${name}' (${where}) has invalid dims [${dims.join(', ')}]; the file is corrupt, re-export it.`);
    }
    size *= d;
  }
  if (size > MAX_TENSOR_ELEMENTS) {
    throw new ModelTooLargeError(
      `${file}: tensor '${name}' (${where}) declares ${size} elements (dims [${dims.join(', ')}]), ` +
        `above the limit of ${MAX_TENSOR_ELEMENTS}; the file is corrupt or not a model this tool can verify.`,
    );
  }
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const bpe = BYTES_PER_ELEMENT[dataType];
  if (raw && raw.length !== size * bpe) {
    throw new ModelError(
      `${file}: tensor '${name}' (${where}) has ${raw.length} bytes of data but dims [${dims.join(', ')}] ` +
        `need ${size * bpe}; the file is truncated or corrupt, re-export it.`,
    );
  }
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const mismatch = (n: number): ModelError =>
    new ModelError(
      `${file}: tensor '${name}' (${where}) holds ${n} values but dims ` + `[${dims.join(', ')}] need ${size}; the file is corrupt, re-export it.`,
    );

  let data: Float32Array | Float64Array | Int32Array | BigInt64Array;
  switch (dataType) {
    case 'float32': {
      data = new Float32Array(size);
      if (view) for (let i = 0; i < size; i++) data[i] = view.getFloat32(4 * i, true);
      else {
        const src = t.floatData ?? [];
        if (src.length !== size) throw mismatch(src.length);
        data.set(src);
      }
      break;
    }
    case 'float16': {
      data = new Float32Array(size);
      if (view) for (let i = 0; i < size; i++) data[i] = halfToFloat(view.getUint16(2 * i, true));
      else {
        const src = t.int32Data ?? [];
        if (src.length !== size) throw mismatch(src.length);
        for (let i = 0; i < size; i++) data[i] = halfToFloat(src[i] & 0xffff);
      }
      break;
    }
    case 'float64': {
      data = new Float64Array(size);
      if (view) for (let i = 0; i < size; i++) data[i] = view.getFloat64(8 * i, true);
      else {
        const src = t.doubleData ?? [];
        if (src.length !== size) throw mismatch(src.length);
        data.set(src);
      }
      break;
    }
    case 'int64': {
      data = new BigInt64Array(size);
      if (view) for (let i = 0; i < size; i++) data[i] = view.getBigInt64(8 * i, true);
      else {
        const src = t.int64Data ?? [];
        if (src.length !== size) throw mismatch(src.length);
        for (let i = 0; i < size; i++) data[i] = toBigInt(src[i] as number | Long);
      }
      break;
    }
    default: {
      data = new Int32Array(size);
      if (view) {
        for (let i = 0; i < size; i++) {
          if (dataType === 'int32') data[i] = view.getInt32(4 * i, true);
          else if (dataType === 'int16') data[i] = view.getInt16(2 * i, true);
          else if (dataType === 'int8') data[i] = view.getInt8(i);
          else data[i] = view.getUint8(i);
        }
      } else {
        const src = t.int32Data ?? [];
        if (src.length !== size) throw mismatch(src.length);
        data.set(src);
      }
    }
  }
  return { name, dataType, dims, size, data };
}

function decodeAttribute(a: onnx.IAttributeProto, source: string, where: string): OnnxAttribute {
  const T = onnx.AttributeProto.AttributeType;
  const utf8 = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
  switch (a.type) {
    case T.FLOAT:
      return a.f ?? 0;
    case T.INT:
      return toNumber(a.i);
    case T.STRING:
      return utf8(a.s ?? new Uint8Array(0));
    case T.TENSOR:
      return decodeTensor(a.t ?? {}, source, where);
    case T.FLOATS:
      return [...(a.floats ?? [])];
    case T.INTS:
      return (a.ints ?? []).map(toNumber);
    case T.STRINGS:
      return (a.strings ?? []).map(utf8);
    case T.TENSORS:
      return (a.tensors ?? []).map((t) => decodeTensor(t, source, where));
    default:
      throw new ModelError(
        `${describe(source)}: attribute '${a.name}' (${where}) has unsupported type ${a.type} ` +
          '(subgraphs and sparse tensors are not supported); re-export the model without control flow.',
      );
  }
}

/** A Constant's value_int (a scalar) or value_ints (1-D) as an exact int64 tensor. */
function exactIntsTensor(a: onnx.IAttributeProto, node: string): OnnxTensor {
  const scalar = a.name === 'value_int';
  const src = scalar ? [a.i ?? 0] : (a.ints ?? []);
  const data = BigInt64Array.from(src, (v) => toBigInt(v as number | Long));
  return { name: node, dataType: 'int64', dims: scalar ? [] : [data.length], size: data.length, data };
}

function decodeValueInfo(v: onnx.IValueInfoProto, source: string): OnnxValueInfo {
  const tt = v.type?.tensorType;
  const elemType: OnnxDataType | 'unknown' = tt ? (DATA_TYPES[tt.elemType ?? 0] ?? 'unknown') : 'unknown';
  let shape: OnnxDim[] | null = null;
  if (tt && tt.shape) {
    shape = (tt.shape.dim ?? []).map((d) => {
      if (d.dimValue !== null && d.dimValue !== undefined) {
        const n = toNumber(d.dimValue);
        if (!Number.isInteger(n) || n < 0 || n > MAX_TENSOR_ELEMENTS) {
          throw new ModelTooLargeError(
            `${describe(source)}: value '${v.name}' declares dimension ${n}, outside [0, ${MAX_TENSOR_ELEMENTS}]; ` +
              'the file is corrupt or not a model this tool can verify.',
          );
        }
        return n;
      }
      return d.dimParam ? d.dimParam : null;
    });
    const fixed = shape.filter((d): d is number => typeof d === 'number');
    const per = fixed.reduce((a, b) => a * b, 1);
    if (per > MAX_TENSOR_ELEMENTS) {
      throw new ModelTooLargeError(
        `${describe(source)}: value '${v.name}' declares shape [${shape.join(', ')}] ` +
          `(${per} elements), above the limit of ${MAX_TENSOR_ELEMENTS}; the file is corrupt or not a model this tool can verify.`,
      );
    }
  }
  return { name: v.name ?? '', elemType, shape };
}

/** Orders nodes so every input is produced before use; refuses dangling inputs and cycles. */
function topoSort(nodes: OnnxNode[], available: Set<string>, source: string): OnnxNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) =>
    n.outputs.forEach((o) => {
      if (o) producer.set(o, i);
    }),
  );
  for (const n of nodes) {
    for (const name of n.inputs) {
      if (name && !available.has(name) && !producer.has(name)) {
        throw new ModelError(
          `${describe(source)}: node '${n.name || n.opType}' (${n.opType}) uses '${name}', which is neither ` +
            'a graph input, an initializer nor the output of a node (missing initializer); the file is incomplete, re-export it.',
        );
      }
    }
  }
  const done = new Set<string>(available);
  const order: OnnxNode[] = [];
  const placed = new Array<boolean>(nodes.length).fill(false);
  let progress = true;
  while (order.length < nodes.length && progress) {
    progress = false;
    for (let i = 0; i < nodes.length; i++) {
      if (placed[i]) continue;
      if (nodes[i].inputs.every((x) => !x || done.has(x))) {
        placed[i] = true;
        order.push(nodes[i]);
        nodes[i].outputs.forEach((o) => done.add(o));
        progress = true;
      }
    }
  }
  if (order.length < nodes.length) {
    throw new ModelError(`${describe(source)}: the graph has a cycle; the file is corrupt, re-export it.`);
  }
  return order;
}

/**
 * Reads and validates an ONNX model. `pathOrBytes` is a file path or the
 * encoded bytes. Throws `ModelError` for anything that is not a usable model.
 */
export function readOnnxModel(pathOrBytes: string | Uint8Array, opts: ReadOptions = {}): OnnxModel {
  const model = readOnnxModelUnfolded(pathOrBytes);
  return opts.fold === false ? model : foldModel(model, { inputShape: opts.inputShape });
}

/**
 * `readOnnxModel(pathOrBytes, { fold: false })`; with `fileBytes`, the bytes
 * of file `pathOrBytes` the caller has already read, which are decoded and
 * validated with the file named in the errors, without reading it again.
 */
export function readOnnxModelUnfolded(pathOrBytes: string | Uint8Array, fileBytes?: Uint8Array): OnnxModel {
  let bytes: Uint8Array;
  let source: string;
  if (typeof pathOrBytes === 'string' && fileBytes !== undefined) {
    source = pathOrBytes;
    bytes = fileBytes;
  } else if (typeof pathOrBytes === 'string') {
    source = pathOrBytes;
    let st: fs.Stats;
    try {
      st = fs.statSync(pathOrBytes);
    } catch {
      throw new ModelError(`model file '${pathOrBytes}' does not exist; pass the path of a .onnx file written by 'lip export'.`);
    }
    if (!st.isFile()) {
      throw new ModelError(`model path '${pathOrBytes}' is not a file; pass the path of a .onnx file written by 'lip export'.`);
    }
    bytes = new Uint8Array(fs.readFileSync(pathOrBytes));
  } else if (pathOrBytes instanceof Uint8Array) {
    source = '<bytes>';
    bytes = pathOrBytes;
  } else {
    throw new ModelError(`'pathOrBytes' must be a file path or a Uint8Array, got ${typeof pathOrBytes}.`);
  }
  const file = describe(source);
  if (bytes.length === 0) throw new ModelError(`${file} is empty; it is not an ONNX model. Re-export it with 'lip export'.`);

  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new ModelError(`${file} is not a valid ONNX model (truncated or corrupt: ${(err as Error).message}); ` + "re-export it with 'lip export'.");
  }
  const g = proto.graph;
  if (!g || !g.node || g.node.length === 0) {
    throw new ModelError(`${file} has no graph (or an empty one); it is not an ONNX model. Re-export it with 'lip export'.`);
  }

  const opsets: Record<string, number> = {};
  for (const o of proto.opsetImport ?? []) {
    const domain = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
    opsets[domain] = toNumber(o.version);
  }
  if (opsets[''] === undefined) {
    throw new ModelError(`${file} imports no default-domain opset; it is corrupt or not an ONNX model. Re-export it with 'lip export'.`);
  }

  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) {
    initializers.set(t.name ?? '', decodeTensor(t, source, 'initializer'));
  }

  const nodes: OnnxNode[] = g.node.map((n, idx) => {
    const opType = n.opType ?? '';
    const domain = n.domain === 'ai.onnx' ? '' : (n.domain ?? '');
    const name = n.name || `${opType}_${idx}`;
    if (domain !== '' || !SUPPORTED_OPS.includes(opType)) {
      throw new ModelError(
        `${file}: node '${name}' uses unsupported operator '${domain ? domain + '.' : ''}${opType}'; ` +
          `supported operators: ${SUPPORTED_OPS.join(', ')}. Export the model with 'lip export' (try --portable).`,
      );
    }
    const [minInputs, maxInputs] = OP_INPUTS[opType];
    const inputs = n.input ?? [];
    if (inputs.length < minInputs || inputs.length > maxInputs || inputs.slice(0, minInputs).some((x) => !x)) {
      throw new ModelError(
        `${file}: node '${name}' (${opType}) has ${inputs.filter((x) => x).length} input(s) [${inputs.join(', ')}]; ` +
          `${opType} takes ${minInputs === maxInputs ? minInputs : `${minInputs} to ${maxInputs}`}. The file is corrupt, re-export it.`,
      );
    }
    if (!n.output || n.output.length === 0 || !n.output[0]) {
      throw new ModelError(`${file}: node '${name}' (${opType}) has no output; the file is corrupt, re-export it.`);
    }
    const attributes: Record<string, OnnxAttribute> = {};
    for (const a of n.attribute ?? []) {
      const key = a.name ?? '';
      // A Constant's int64 values are kept exact (an int attribute is a JS number, exact only up to 2^53).
      attributes[key] =
        opType === 'Constant' && (key === 'value_int' || key === 'value_ints')
          ? exactIntsTensor(a, name)
          : decodeAttribute(a, source, `attribute of node '${name}'`);
    }
    return { name, opType, domain, inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attributes };
  });

  const allInputs = (g.input ?? []).map((v) => decodeValueInfo(v, source));
  const inputs = allInputs.filter((v) => !initializers.has(v.name));
  if (inputs.length === 0) throw new ModelError(`${file} declares no graph input; re-export it with 'lip export'.`);
  const outputs = (g.output ?? []).map((v) => decodeValueInfo(v, source));
  if (outputs.length === 0) throw new ModelError(`${file} declares no graph output; re-export it with 'lip export'.`);
  const valueInfo = new Map<string, OnnxValueInfo>();
  for (const v of g.valueInfo ?? []) valueInfo.set(v.name ?? '', decodeValueInfo(v, source));

  const available = new Set<string>([...inputs.map((v) => v.name), ...initializers.keys()]);
  const seen = new Set<string>(available);
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      if (seen.has(o)) {
        throw new ModelError(
          `${file}: value '${o}' is defined twice (node '${n.name}' writes a name that is already a graph input, ` +
            'an initializer or another node output); the file is corrupt, re-export it.',
        );
      }
      seen.add(o);
    }
  }
  const sorted = topoSort(nodes, available, source);
  const produced = new Set<string>(available);
  sorted.forEach((n) => n.outputs.forEach((o) => produced.add(o)));
  for (const o of outputs) {
    if (!produced.has(o.name)) {
      throw new ModelError(`${file}: graph output '${o.name}' is produced by no node; the file is incomplete, re-export it.`);
    }
  }

  const metadata: Record<string, string> = {};
  for (const p of proto.metadataProps ?? []) metadata[p.key ?? ''] = p.value ?? '';

  return {
    source,
    bytes,
    irVersion: toNumber(proto.irVersion),
    opset: opsets[''],
    opsets,
    producerName: proto.producerName ?? '',
    producerVersion: proto.producerVersion ?? '',
    graphName: g.name ?? '',
    metadata,
    inputs,
    outputs,
    nodes: sorted,
    initializers,
    valueInfo,
  };
}

/** The constant behind a value name: an initializer or the output of a Constant node; undefined otherwise. */
export function constantTensor(model: OnnxModel, name: string): OnnxTensor | undefined {
  const init = model.initializers.get(name);
  if (init) return init;
  for (const n of model.nodes) {
    if (n.opType === 'Constant' && n.outputs[0] === name) return constantNodeValue(n, model.source);
  }
  return undefined;
}

/** Values of a tensor as float64 (exact for floats and for integers up to 2^53 in magnitude). */
export function tensorToFloat64(t: OnnxTensor): Float64Array {
  return t.data instanceof BigInt64Array ? Float64Array.from(t.data, Number) : Float64Array.from(t.data);
}

/** The metadata value `key` parsed as JSON, or undefined when absent; refuses malformed JSON. */
export function metadataJson<T = unknown>(model: OnnxModel, key: string): T | undefined {
  const raw = model.metadata[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new ModelError(`${describe(model.source)}: metadata '${key}' is not valid JSON (${JSON.stringify(raw)}); re-export the model.`);
  }
}
