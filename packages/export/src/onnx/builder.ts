import { onnx } from 'onnx-proto';
import { InvalidArgumentError, assertArg } from '@lip/train';

/** Element types the builder writes, by their numpy-style names. */
export type ElemType = 'float32' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

const DATA_TYPE: Record<ElemType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A dimension: a fixed size, or a named symbolic one such as `'N'`. */
export type Dim = number | string;

/**
 * An attribute with an explicit ONNX type. A plain JS number cannot say
 * whether `1` is an INT or a FLOAT, so float attributes with integral values
 * (`alpha: 1`) must be written `attr.float(1)`.
 */
export type TypedAttr =
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  | { readonly kind: 'tensor'; readonly value: onnx.ITensorProto };

/**
 * An attribute value. Plain numbers are INT when integral and FLOAT otherwise;
 * arrays are INTS when every entry is integral and FLOATS otherwise. Strings are
 * STRING, string arrays STRINGS. Use `attr.*` to force a type.
 */
export type AttrValue = number | string | readonly number[] | readonly string[] | TypedAttr;

/** Explicitly typed attribute values. */
export const attr = {
  float: (value: number): TypedAttr => ({ kind: 'float', value }),
  floats: (value: readonly number[]): TypedAttr => ({ kind: 'floats', value }),
  int: (value: number): TypedAttr => ({ kind: 'int', value }),
  ints: (value: readonly number[]): TypedAttr => ({ kind: 'ints', value }),
  string: (value: string): TypedAttr => ({ kind: 'string', value }),
  strings: (value: readonly string[]): TypedAttr => ({ kind: 'strings', value }),
  tensor: (value: onnx.ITensorProto): TypedAttr => ({ kind: 'tensor', value }),
};

/** Data for an initializer: float32, int64 (as BigInt64Array or a plain number array). */
export type InitializerData = Float32Array | BigInt64Array | readonly number[];

export interface GraphBuilderOptions {
  /** Default-domain opset version (13 or newer for our exporter; any >= 7 here). */
  opset: number;
  /** `ModelProto.producer_name`. Default `'lip'`. */
  producer?: string;
  /** `ModelProto.producer_version`. Default `''`. */
  producerVersion?: string;
  /** `GraphProto.name`. Default `'main'`. */
  graphName?: string;
  /** `ModelProto.ir_version`. Default: the IR version that the opset was released with. */
  irVersion?: number;
  /** Further opset imports for other domains, e.g. `[{ domain: 'com.microsoft', version: 1 }]`. */
  extraOpsets?: { domain: string; version: number }[];
}

export interface NodeOptions {
  /** Output names, or how many fresh outputs to create. Default 1 fresh output. */
  outputs?: number | string[];
  /** Node name. Default: a fresh `<opType>_<k>`. */
  name?: string;
  /** Operator domain. Default `''` (ai.onnx). */
  domain?: string;
}

/** The IR version each ai.onnx opset shipped with (onnx/helper.py VERSION_TABLE). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 21) return 10;
  return 11;
}

/**
 * Builds one ONNX model in topological order. Every name (input, initializer,
 * node output) is checked to be unique, and every node input to exist already,
 * so a mistake fails here rather than in a runtime.
 *
 * ```ts
 * const b = new GraphBuilder({ opset: 17 });
 * b.input('input', 'float32', ['N', 4]);
 * const w = b.initializer(b.fresh('W'), new Float32Array(8), [4, 2]);
 * const [y] = b.node('Gemm', ['input', w]);
 * b.node('Identity', [y], {}, { outputs: ['logits'] });
 * b.output('logits', ['N', 2]);
 * fs.writeFileSync('m.onnx', b.toBytes());
 * ```
 */
export class GraphBuilder {
  readonly opset: number;
  private readonly opts: GraphBuilderOptions;
  private readonly names = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly metadata = new Map<string, string>();

  constructor(opts: GraphBuilderOptions) {
    assertArg(Number.isInteger(opts.opset) && opts.opset >= 7, () => `'opset' must be an integer >= 7, got ${String(opts.opset)}`);
    this.opts = opts;
    this.opset = opts.opset;
  }

  /** A name not used yet in this graph: `prefix`, else `prefix_1`, `prefix_2`, ... */
  fresh(prefix = 't'): string {
    let k = this.counters.get(prefix) ?? 0;
    let name = k === 0 ? prefix : `${prefix}_${k}`;
    while (this.names.has(name) || this.nodeNames.has(name)) {
      k += 1;
      name = `${prefix}_${k}`;
    }
    this.counters.set(prefix, k + 1);
    return name;
  }

  /** True when `name` is already a value in the graph. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Declares a graph input. Returns its name. */
  input(name: string, elemType: ElemType, dims: readonly Dim[]): string {
    this.claim(name, 'input');
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /**
   * Adds a constant tensor. Float32Array gives FLOAT; BigInt64Array or a
   * number array gives INT64. Returns its name.
   */
  initializer(name: string, data: InitializerData, dims: readonly number[]): string {
    const size = dims.reduce((a, d) => a * d, 1);
    assertArg(
      dims.every((d) => Number.isInteger(d) && d >= 0),
      () => `initializer '${name}': 'dims' must be non-negative integers, got [${dims.join(', ')}]`,
    );
    assertArg(data.length === size, () => `initializer '${name}': ${data.length} values do not fill dims [${dims.join(', ')}] (${size})`);
    this.claim(name, 'initializer');
    this.initializers.push(tensorProto(name, data, dims));
    return name;
  }

  /**
   * Adds a node. `inputs` must name existing values (`''` marks an omitted
   * optional input). Returns the output names.
   */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue | undefined> = {}, opts: NodeOptions = {}): string[] {
    for (const x of inputs) {
      assertArg(x === '' || this.names.has(x), () => `${opType}: input '${x}' is not defined yet (nodes must be added in topological order)`);
    }
    const outs = opts.outputs ?? 1;
    const outputs = typeof outs === 'number' ? Array.from({ length: outs }, () => this.fresh(`${opType}_out`)) : outs;
    for (const y of outputs) this.claim(y, `${opType} output`);
    const name = opts.name ?? this.fresh(opType);
    assertArg(!this.nodeNames.has(name), () => `node name '${name}' is already used`);
    this.nodeNames.add(name);
    const attribute: onnx.IAttributeProto[] = [];
    for (const [key, value] of Object.entries(attrs)) {
      if (value !== undefined) attribute.push(attributeProto(key, value));
    }
    const node: onnx.INodeProto = { opType, name, input: [...inputs], output: [...outputs], attribute };
    if (opts.domain) node.domain = opts.domain;
    this.nodes.push(node);
    return [...outputs]; // a copy: callers may reuse the array without rewiring the node
  }

  /** Declares a graph output; `name` must already be produced. Returns its name. */
  output(name: string, dims: readonly Dim[], elemType: ElemType = 'float32'): string {
    assertArg(this.names.has(name), () => `output '${name}' is not produced by any node, input or initializer`);
    assertArg(!this.outputs.some((o) => o.name === name), () => `output '${name}' is already declared`);
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /**
   * Renames a node output everywhere it appears, so the last node can write
   * straight into a graph output name (`logits`) without an Identity.
   */
  rename(from: string, to: string): void {
    const producer = this.nodes.find((n) => (n.output ?? []).includes(from));
    assertArg(producer !== undefined, () => `rename: '${from}' is not a node output`);
    assertArg(!this.outputs.some((o) => o.name === from), () => `rename: '${from}' is already a declared graph output`);
    this.claim(to, 'rename target');
    this.names.delete(from);
    for (const n of this.nodes) {
      n.input = (n.input ?? []).map((x) => (x === from ? to : x));
      n.output = (n.output ?? []).map((x) => (x === from ? to : x));
    }
  }

  /** Sets one `metadata_props` entry (a later call with the same key replaces it). */
  setMetadata(key: string, value: string): void {
    this.metadata.set(key, value);
  }

  /** The model as a protobuf message object. */
  toModelProto(): onnx.ModelProto {
    assertArg(this.outputs.length > 0, () => 'the graph has no outputs: call output(name, dims) first');
    const opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: '', version: this.opset }];
    for (const o of this.opts.extraOpsets ?? []) opsetImport.push({ domain: o.domain, version: o.version });
    return onnx.ModelProto.create({
      irVersion: this.opts.irVersion ?? irVersionForOpset(this.opset),
      producerName: this.opts.producer ?? 'lip',
      producerVersion: this.opts.producerVersion ?? '',
      opsetImport,
      graph: {
        name: this.opts.graphName ?? 'main',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadataProps: [...this.metadata].map(([key, value]) => ({ key, value })),
    });
  }

  /** The serialized model. */
  toBytes(): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto()).finish();
  }

  private claim(name: string, what: string): void {
    assertArg(typeof name === 'string' && name.length > 0, () => `${what} name must be a non-empty string`);
    if (this.names.has(name)) throw new InvalidArgumentError(`${what} name '${name}' is already used in the graph`);
    this.names.add(name);
  }
}

function valueInfo(name: string, elemType: ElemType, dims: readonly Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[elemType],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** A TensorProto with little-endian `raw_data` (the byte order ONNX specifies). */
export function tensorProto(name: string, data: InitializerData, dims: readonly number[]): onnx.ITensorProto {
  let raw: Uint8Array;
  let dataType: onnx.TensorProto.DataType;
  if (data instanceof Float32Array) {
    dataType = onnx.TensorProto.DataType.FLOAT;
    raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  } else {
    dataType = onnx.TensorProto.DataType.INT64;
    raw = new Uint8Array(data.length * 8);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v === 'number') {
        assertArg(Number.isSafeInteger(v), () => `initializer '${name}': int64 value ${v} is not a safe integer`);
        view.setBigInt64(8 * i, BigInt(v), true);
      } else {
        view.setBigInt64(8 * i, v, true);
      }
    }
  }
  return { name, dims: [...dims], dataType, rawData: raw };
}

const A = onnx.AttributeProto.AttributeType;

function attributeProto(name: string, value: AttrValue): onnx.IAttributeProto {
  const typed = toTyped(name, value);
  switch (typed.kind) {
    case 'float':
      return { name, type: A.FLOAT, f: typed.value };
    case 'floats':
      return { name, type: A.FLOATS, floats: [...typed.value] };
    case 'int':
      assertArg(Number.isSafeInteger(typed.value), () => `attribute '${name}' must be an integer, got ${typed.value}`);
      return { name, type: A.INT, i: typed.value };
    case 'ints':
      assertArg(
        typed.value.every((v) => Number.isSafeInteger(v)),
        () => `attribute '${name}' must be integers, got [${typed.value.join(', ')}]`,
      );
      return { name, type: A.INTS, ints: [...typed.value] };
    case 'string':
      return { name, type: A.STRING, s: utf8(typed.value) };
    case 'strings':
      return { name, type: A.STRINGS, strings: typed.value.map(utf8) };
    case 'tensor':
      return { name, type: A.TENSOR, t: typed.value };
  }
}

function toTyped(name: string, value: AttrValue): TypedAttr {
  if (typeof value === 'number') return Number.isInteger(value) ? attr.int(value) : attr.float(value);
  if (typeof value === 'string') return attr.string(value);
  if (Array.isArray(value)) {
    if (value.length === 0) throw new InvalidArgumentError(`attribute '${name}': an empty list has no type; use attr.ints([]) or attr.floats([])`);
    if (value.every((v) => typeof v === 'string')) return attr.strings(value as string[]);
    if (value.every((v) => typeof v === 'number')) {
      const nums = value as number[];
      return nums.every((v) => Number.isInteger(v)) ? attr.ints(nums) : attr.floats(nums);
    }
    throw new InvalidArgumentError(`attribute '${name}': a list must hold only numbers or only strings`);
  }
  return value as TypedAttr;
}

const encoder = new TextEncoder();
function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
