/**
 * `lipschitzBound(model)`: a sound upper bound on the L2 Lipschitz constant of
 * an ONNX graph (per sample, from the input to the first output), computed
 * from the weights alone.
 *
 * Every value carries a bound L_v on the Lipschitz constant of input -> v,
 * composed node by node with rules that are sound for any graph:
 *   linear maps: their certified spectral norm (Gemm/MatMul exact, Conv exact
 *   or circular, poolings from their window geometry, Mul/Div by constants);
 *   1-Lipschitz maps (Relu, Neg, Tanh, reshapes, slices, sorts): L;
 *   Concat and Min/Max of several values: sqrt(sum L_i^2 m_i) (m_i the
 *   broadcast or duplication multiplicity), Add/Sub: sum sqrt(m_i) L_i.
 * Those rules bound a GroupSort written with Min/Max or Relu arithmetic by 2
 * or 3 instead of 1, so the activation blocks are also tracked symbolically
 * (./symbolic.ts) and bounded by 1 when their structure is proved to be a
 * network of 1-Lipschitz gates. Anything unrecognized keeps its (looser)
 * composed bound with a warning; ops that are not Lipschitz (x*x without the
 * L2-pooling Sqrt, TopK indices, ...) make the bound refuse with a ModelError.
 */
import { ModelError, ModelTooLargeError, matrixSpectralNormUpperBound } from '@lip/train';
import {
  MAX_VALUE_ELEMENTS, OnnxModel, OnnxNode, OnnxTensor, attrFloat, attrInt, attrInts, attrString, constantNodeValue, readOnnxModel,
} from '../onnx/read';
import { convNormUpperBound, ConvGeometry } from './conv';
import { ExprStore, Expr, checkBlock, blockName } from './symbolic';
import {
  broadcastShapes, broadcastTo, concat, normAxis, permute, range, select, sizeOf, sliceIndices, stridesOf,
} from './tensor_ops';

/** Blocks larger than this many input elements are not tracked symbolically (bounded by composition). */
export const SYMBOLIC_ELEMENT_LIMIT = 1 << 21;

export interface LayerBound {
  /** Name of the (first) node. */
  node: string;
  /** Op type, or the recognized block ('GroupSort2', 'MaxMin', 'structure', ...). */
  op: string;
  /** All nodes this entry covers. */
  nodes: string[];
  /** This layer's bound: output bound / input bound. */
  factor: number;
  /** Bound from the graph input to this layer's output. */
  cumulative: number;
  /** How the factor was obtained. */
  method: string;
  /** Output shape, batch dimension included (as 1). */
  outputShape: number[];
}

/** The final linear layer, for head-aware certificates. */
export interface LinearHead {
  /** Name of the Gemm/MatMul node. */
  node: string;
  classes: number;
  dim: number;
  /** Row j holds the weights of logit j (`[classes, dim]`, float64). */
  weights: Float64Array;
  /** Certified bound of graph input -> head input. */
  bodyLipschitz: number;
}

export interface LipschitzBound {
  /** Certified upper bound on the Lipschitz constant (L2) of input -> first output, per sample. */
  total: number;
  layers: LayerBound[];
  warnings: string[];
  /** Input shape per sample (without the batch dimension). */
  inputShape: number[];
  /** Output shape per sample. */
  outputShape: number[];
  head: LinearHead | null;
}

export interface BoundOptions {
  /** Per-sample input shape when the model leaves non-batch dims symbolic. */
  inputShape?: number[];
  /** Allow the exact (Gram + Cholesky) conv bound; false forces the circular one. Default true. */
  exactConv?: boolean;
  /** Only propagate shapes (no norms, no symbolic blocks): see `largestValueElements`. Default false. */
  shapesOnly?: boolean;
}

interface Sym {
  anchor: string;
  exprs: Expr[];
  nodes: string[];
}

interface Val {
  shape: number[];
  /** Bound from the input; 0 for constants, Infinity when not Lipschitz (`why`). */
  lip: number;
  why?: string;
  isConst: boolean;
  data?: ArrayLike<number>;
  sym?: Sym;
  /** The value is x * x of the variable value `square`. */
  square?: string;
  /** The value is a window mean of x * x: `sqrt` of it has Lipschitz factor sqrt(colWeight). */
  meanSquare?: { of: string; colWeight: number };
  materialized?: boolean;
  /** Producing node (for head detection). */
  producer?: OnnxNode;
}

const STRUCTURAL = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'DepthToSpace',
  'SpaceToDepth', 'Slice', 'Split', 'Gather', 'Concat']);

/**
 * Values by name. Every input-dependent value is checked against
 * MAX_VALUE_ELEMENTS when it is stored; computations that would allocate
 * their output first call `Bounder.checkShape`.
 */
class ValueTable extends Map<string, Val> {
  constructor(private readonly check: (name: string, shape: readonly number[], producer?: OnnxNode) => void) {
    super();
  }

  override set(name: string, v: Val): this {
    if (!v.isConst) this.check(name, v.shape, v.producer);
    return super.set(name, v);
  }
}

class Bounder {
  readonly vals = new ValueTable((name, shape, producer) => this.checkShape(producer, shape, `value '${name}'`));
  /** Largest per-sample element count of an input-dependent value seen so far. */
  largest = 0;
  readonly layers: LayerBound[] = [];
  readonly warnings: string[] = [];
  private readonly stores = new Map<string, ExprStore>();
  private readonly anchorWires = new Map<string, Expr[]>();
  readonly file: string;

  constructor(readonly model: OnnxModel, readonly opts: BoundOptions) {
    this.file = model.source === '<bytes>' ? 'the model' : `'${model.source}'`;
  }

  fail(node: OnnxNode, msg: string): never {
    throw new ModelError(`${this.file}: node '${node.name}' (${node.opType}): ${msg}`);
  }

  /**
   * Refuses a shape with invalid dims, or of more than MAX_VALUE_ELEMENTS
   * elements, before anything of that size is allocated.
   */
  checkShape(node: OnnxNode | undefined, shape: readonly number[], label = 'the output'): void {
    const what = `${label}${node ? ` of node '${node.name}' (${node.opType})` : ''}`;
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ModelError(`${this.file}: ${what} has the invalid shape [${shape.join(', ')}]; the file is corrupt, re-export it.`);
    }
    const n = sizeOf(shape);
    if (n > MAX_VALUE_ELEMENTS) {
      throw new ModelTooLargeError(`${this.file}: ${what} has shape [${shape.join(', ')}] (${n} elements), above the limit of ` +
        `${MAX_VALUE_ELEMENTS} per sample; the file is corrupt or not a model this tool can verify.`);
    }
    this.largest = Math.max(this.largest, n);
  }

  get(name: string): Val {
    const v = this.vals.get(name);
    if (!v) throw new ModelError(`${this.file}: value '${name}' is used before it is defined`);
    return v;
  }

  /** Constant data of input `i`, or a ModelError naming what must be constant. */
  constInput(node: OnnxNode, i: number, what: string): ArrayLike<number> {
    const name = node.inputs[i];
    const v = name ? this.vals.get(name) : undefined;
    if (!v || !v.isConst || !v.data) this.fail(node, `its ${what} (input ${i}) must be a constant tensor`);
    return v.data;
  }

  optionalConst(node: OnnxNode, i: number): ArrayLike<number> | undefined {
    const name = node.inputs[i];
    if (!name) return undefined;
    return this.constInput(node, i, `input ${i}`);
  }

  /** Refines a symbolic value's bound with the block check (once) and returns its bound. */
  lipOf(name: string): number {
    const v = this.get(name);
    if (v.sym && !v.materialized) this.materialize(name, v);
    return v.lip;
  }

  private materialize(name: string, v: Val): void {
    v.materialized = true;
    const sym = v.sym!;
    const anchor = this.get(sym.anchor);
    const store = this.stores.get(sym.anchor)!;
    const check = checkBlock(store, sym.exprs);
    const composed = v.lip;
    const base = anchor.lip;
    if (check.ok && base < v.lip) v.lip = base;
    const ops = [...new Set(sym.nodes.map((n) => this.model.nodes.find((x) => x.name === n)?.opType ?? '?'))].join('/');
    const factor = base > 0 ? v.lip / base : v.lip;
    const op = check.ok ? blockName(check) : 'block';
    const method = check.ok
      ? `recognized 1-Lipschitz ${op === 'structure' ? 'reshape/permutation' : 'activation block'} (${ops})`
      : `composition of ${ops} (${check.reason})`;
    if (!check.ok && composed > base * (1 + 1e-12)) {
      this.warnings.push(`nodes ${sym.nodes.join(', ')} (${ops}) are not a recognized 1-Lipschitz block (${check.reason}); ` +
        `bounded by composition as x${factor.toPrecision(4)}, which may be loose`);
    }
    this.layers.push({ node: sym.nodes[0], op, nodes: [...sym.nodes], factor, cumulative: v.lip, method, outputShape: v.shape });
    void name;
  }

  /** Anchor and expressions of a variable value (a fresh anchor when it has no symbolic view). */
  symView(name: string): { anchor: string; exprs: Expr[] } | null {
    const v = this.get(name);
    if (this.opts.shapesOnly || v.isConst || v.square || v.meanSquare || !Number.isFinite(v.lip)) return null;
    if (v.sym) return { anchor: v.sym.anchor, exprs: v.sym.exprs };
    const n = sizeOf(v.shape);
    if (n > SYMBOLIC_ELEMENT_LIMIT) return null;
    let wires = this.anchorWires.get(name);
    if (!wires) {
      const store = new ExprStore();
      this.stores.set(name, store);
      wires = store.wires(n);
      this.anchorWires.set(name, wires);
    }
    return { anchor: name, exprs: wires };
  }

  store(anchor: string): ExprStore {
    return this.stores.get(anchor)!;
  }

  /** Symbolic views of all `names` when they share one anchor; null otherwise. */
  sharedSym(names: string[]): { anchor: string; views: Expr[][]; nodes: string[] } | null {
    const views: Expr[][] = [];
    let anchor: string | null = null;
    const nodes: string[] = [];
    for (const n of names) {
      const s = this.symView(n);
      if (!s) return null;
      if (anchor !== null && s.anchor !== anchor) return null;
      anchor = s.anchor;
      views.push(s.exprs);
      const v = this.get(n);
      if (v.sym) for (const x of v.sym.nodes) if (!nodes.includes(x)) nodes.push(x);
    }
    return anchor === null ? null : { anchor, views, nodes };
  }

  setConst(name: string, shape: number[], data: ArrayLike<number> | undefined, producer?: OnnxNode): void {
    this.vals.set(name, { shape, lip: 0, isConst: true, data, producer });
  }

  /** Records a node that is not part of a symbolic block. */
  record(node: OnnxNode, out: Val, inLip: number, method: string): void {
    const factor = inLip > 0 ? out.lip / inLip : out.lip;
    this.layers.push({ node: node.name, op: node.opType, nodes: [node.name], factor, cumulative: out.lip, method, outputShape: out.shape });
  }
}

/** Elementwise numeric functions for constant folding. */
const UNARY_FOLD: Record<string, (x: number) => number> = {
  Relu: (x) => Math.max(x, 0), Neg: (x) => -x, Abs: Math.abs, Sigmoid: (x) => 1 / (1 + Math.exp(-x)), Tanh: Math.tanh,
  Sqrt: Math.sqrt, Identity: (x) => x,
};
const BINARY_FOLD: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b, Sub: (a, b) => a - b, Mul: (a, b) => a * b, Div: (a, b) => a / b, Min: Math.min, Max: Math.max, Sum: (a, b) => a + b,
};
/** Lipschitz constants of elementwise unary ops. */
const UNARY_LIP: Record<string, [number, string]> = {
  Relu: [1, 'Relu is 1-Lipschitz'], Neg: [1, 'negation'], Abs: [1, 'Abs is 1-Lipschitz'], Tanh: [1, 'Tanh is 1-Lipschitz'],
  Sigmoid: [0.25, 'Sigmoid is 1/4-Lipschitz'], Softmax: [1, 'Softmax is 1-Lipschitz (its Jacobian norm is at most 1/2)'],
  Identity: [1, 'identity'],
};

/** max(0, ...v) without spreading (a spread of a long array overflows the call stack). */
function maxOf(v: readonly number[]): number {
  let m = 0;
  for (const x of v) if (x > m) m = x;
  return m;
}

/** Smallest entry (Infinity when empty). */
function minOf(d: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < d.length; i++) m = Math.min(m, d[i]);
  return m;
}

function maxAbs(d: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]));
  return m;
}

function minAbs(d: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < d.length; i++) m = Math.min(m, Math.abs(d[i]));
  return m;
}

/** Output shapes and flat source indices (into the concatenated data inputs) of a structural op. */
function structural(b: Bounder, node: OnnxNode, shapes: number[][]): { shape: number[]; src: number[] }[] {
  const x = shapes[0];
  const ident = (): number[] => range(sizeOf(x));
  const opset = b.model.opset;
  switch (node.opType) {
    case 'Identity':
      return [{ shape: [...x], src: ident() }];
    case 'Reshape': {
      const spec = Array.from(b.constInput(node, 1, "'shape'"));
      const allowZero = attrInt(node, 'allowzero', 0) === 1;
      const out = spec.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
      const known = out.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
      const free = out.filter((d) => d === -1).length;
      if (free > 1) b.fail(node, `shape [${spec.join(', ')}] has more than one -1`);
      if (free === 1) out[out.indexOf(-1)] = known === 0 ? 0 : sizeOf(x) / known;
      if (out.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(out) !== sizeOf(x)) {
        b.fail(node, `cannot reshape [${x.join(', ')}] to [${spec.join(', ')}]`);
      }
      return [{ shape: out, src: ident() }];
    }
    case 'Flatten': {
      const axis = normAxis(attrInt(node, 'axis', 1), x.length + 1);
      if (axis === null) b.fail(node, `axis out of range for rank ${x.length}`);
      return [{ shape: [sizeOf(x.slice(0, axis)), sizeOf(x.slice(axis))], src: ident() }];
    }
    case 'Squeeze': {
      const axesIn = opset >= 13 ? b.optionalConst(node, 1) : undefined;
      const axes = (axesIn ? Array.from(axesIn) : attrInts(node, 'axes', [])).map((a) => normAxis(a, x.length));
      if (axes.some((a) => a === null)) b.fail(node, 'axes out of range');
      const drop = axes.length > 0 ? new Set(axes as number[]) : new Set(x.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0));
      return [{ shape: x.filter((_, i) => !drop.has(i)), src: ident() }];
    }
    case 'Unsqueeze': {
      const axesRaw = opset >= 13 ? Array.from(b.constInput(node, 1, "'axes'")) : attrInts(node, 'axes', []);
      const rank = x.length + axesRaw.length;
      const axes = axesRaw.map((a) => normAxis(a, rank));
      if (axes.some((a) => a === null)) b.fail(node, 'axes out of range');
      const out: number[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : x[k++]);
      return [{ shape: out, src: ident() }];
    }
    case 'Transpose': {
      const perm = attrInts(node, 'perm', range(x.length).reverse());
      if (perm.length !== x.length || new Set(perm).size !== perm.length || perm.some((p) => p < 0 || p >= x.length)) {
        b.fail(node, `perm [${perm.join(', ')}] does not fit rank ${x.length}`);
      }
      return [permute(ident(), x, perm)].map((r) => ({ shape: r.shape, src: r.data }));
    }
    case 'DepthToSpace':
    case 'SpaceToDepth': {
      if (x.length !== 4) b.fail(node, 'expects a 4-D input');
      const bs = attrInt(node, 'blocksize', 0);
      const [n, c, h, w] = x;
      if (bs < 1) b.fail(node, `blocksize ${bs} is invalid`);
      if (node.opType === 'SpaceToDepth') {
        if (h % bs !== 0 || w % bs !== 0) b.fail(node, `spatial size ${h}x${w} is not divisible by ${bs}`);
        const p = permute(ident(), [n, c, h / bs, bs, w / bs, bs], [0, 3, 5, 1, 2, 4]);
        return [{ shape: [n, c * bs * bs, h / bs, w / bs], src: p.data }];
      }
      if (c % (bs * bs) !== 0) b.fail(node, `${c} channels are not divisible by ${bs * bs}`);
      const crd = attrString(node, 'mode', 'DCR') === 'CRD';
      const p = crd
        ? permute(ident(), [n, c / (bs * bs), bs, bs, h, w], [0, 1, 4, 2, 5, 3])
        : permute(ident(), [n, bs, bs, c / (bs * bs), h, w], [0, 3, 4, 1, 5, 2]);
      return [{ shape: [n, c / (bs * bs), h * bs, w * bs], src: p.data }];
    }
    case 'Slice': {
      let starts: number[], ends: number[], axes: number[], steps: number[];
      if (opset >= 10) {
        starts = Array.from(b.constInput(node, 1, "'starts'"));
        ends = Array.from(b.constInput(node, 2, "'ends'"));
        const a = b.optionalConst(node, 3);
        const s = b.optionalConst(node, 4);
        axes = a ? Array.from(a) : range(starts.length);
        steps = s ? Array.from(s) : starts.map(() => 1);
      } else {
        starts = attrInts(node, 'starts', []);
        ends = attrInts(node, 'ends', []);
        axes = attrInts(node, 'axes', range(starts.length));
        steps = starts.map(() => 1);
      }
      const idx = x.map((d) => range(d));
      axes.forEach((a, i) => {
        const ax = normAxis(a, x.length);
        if (ax === null) b.fail(node, `axis ${a} out of range`);
        if (steps[i] === 0) b.fail(node, 'step 0');
        idx[ax] = sliceIndices(x[ax], starts[i], ends[i], steps[i]);
      });
      const r = select(ident(), x, idx);
      return [{ shape: r.shape, src: r.data }];
    }
    case 'Split': {
      const axis = normAxis(attrInt(node, 'axis', 0), x.length);
      if (axis === null) b.fail(node, 'axis out of range');
      const nOut = node.outputs.length;
      let sizes: number[];
      const fromInput = opset >= 13 ? b.optionalConst(node, 1) : undefined;
      if (fromInput) sizes = Array.from(fromInput);
      else if (opset < 13 && node.attributes.split !== undefined) sizes = attrInts(node, 'split', []);
      else {
        const parts = opset >= 18 ? attrInt(node, 'num_outputs', nOut) : nOut;
        const chunk = Math.ceil(x[axis] / parts);
        sizes = range(parts).map((i) => Math.max(0, Math.min(chunk, x[axis] - i * chunk)));
      }
      if (sizes.length !== nOut || sizes.reduce((a, s) => a + s, 0) !== x[axis]) {
        b.fail(node, `split sizes [${sizes.join(', ')}] do not cover dimension ${x[axis]} with ${nOut} outputs`);
      }
      let at = 0;
      return sizes.map((s) => {
        const idx = x.map((d) => range(d));
        idx[axis] = range(s, at);
        at += s;
        const r = select(ident(), x, idx);
        return { shape: r.shape, src: r.data };
      });
    }
    case 'Gather': {
      const axis = normAxis(attrInt(node, 'axis', 0), x.length);
      if (axis === null) b.fail(node, 'axis out of range');
      const ind = b.constInput(node, 1, "'indices'");
      const indShape = b.get(node.inputs[1]).shape;
      const list = Array.from(ind).map((i) => (i < 0 ? i + x[axis] : i));
      if (list.some((i) => i < 0 || i >= x[axis])) b.fail(node, 'indices out of range');
      const outShape = [...x.slice(0, axis), ...indShape, ...x.slice(axis + 1)];
      b.checkShape(node, outShape);
      const idx = x.map((d) => range(d));
      idx[axis] = list;
      const r = select(ident(), x, idx);
      return [{ shape: outShape, src: r.data }];
    }
    case 'Concat': {
      const axis = normAxis(attrInt(node, 'axis', 0), x.length);
      if (axis === null) b.fail(node, 'axis out of range');
      b.checkShape(node, [shapes.reduce((a, s) => a + sizeOf(s), 0)]);
      let offset = 0;
      const parts = shapes.map((s) => {
        if (s.length !== x.length || s.some((d, i) => i !== axis && d !== x[i])) {
          b.fail(node, `input shapes [${shapes.map((t) => `[${t.join(', ')}]`).join(', ')}] do not concatenate on axis ${axis}`);
        }
        const data = range(sizeOf(s), offset);
        offset += sizeOf(s);
        return { shape: s, data };
      });
      const r = concat(parts, axis);
      return [{ shape: r.shape, src: r.data }];
    }
    default:
      return b.fail(node, 'not a structural op');
  }
}

/** Data inputs (as opposed to constant parameters) of a structural op. */
function dataInputs(node: OnnxNode): string[] {
  return node.opType === 'Concat' ? node.inputs.filter((x) => x) : [node.inputs[0]];
}

function handleStructural(b: Bounder, node: OnnxNode): void {
  const names = dataInputs(node);
  const ins = names.map((n) => b.get(n));
  const outs = structural(b, node, ins.map((v) => v.shape));
  const sizes = ins.map((v) => sizeOf(v.shape));
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, s) => a + s, 0));
  const owner = (j: number): number => {
    let i = ins.length - 1;
    while (i > 0 && offsets[i] > j) i--;
    return i;
  };
  if (ins.every((v) => v.isConst)) {
    const all = ins.every((v) => v.data) ? ins.flatMap((v) => Array.from(v.data!)) : undefined;
    outs.forEach((o, k) => b.setConst(node.outputs[k], o.shape, all ? o.src.map((j) => all[j]) : undefined, node));
    return;
  }
  const sym = ins.every((v) => !v.isConst) ? b.sharedSym(names) : null;
  // Multiplicity of each input's elements in each output: sqrt(sum_i m_i L_i^2).
  const lipFor = (src: number[], lips: number[]): number => {
    const mult = new Uint32Array(sizes.reduce((a, n) => a + n, 0));
    const mMax = new Array<number>(ins.length).fill(0);
    for (const j of src) {
      const m = ++mult[j];
      const i = owner(j);
      if (m > mMax[i]) mMax[i] = m;
    }
    let s = 0;
    for (let i = 0; i < ins.length; i++) {
      if (ins[i].isConst || mMax[i] === 0) continue;
      if (!Number.isFinite(lips[i])) return Infinity;
      s += mMax[i] * lips[i] * lips[i];
    }
    return Math.sqrt(s);
  };
  const why = ins.find((v) => !Number.isFinite(v.lip))?.why;
  if (sym) {
    const flat = sym.views.flat();
    const lips = ins.map((v) => v.lip);
    outs.forEach((o, k) => {
      b.vals.set(node.outputs[k], {
        shape: o.shape, lip: lipFor(o.src, lips), isConst: false, why, producer: node,
        sym: { anchor: sym.anchor, exprs: o.src.map((j) => flat[j]), nodes: [...sym.nodes, node.name] },
      });
    });
    return;
  }
  const lips = ins.map((v, i) => (v.isConst ? 0 : b.lipOf(names[i])));
  const inLip = lips.reduce((a, l) => Math.max(a, l), -Infinity);
  outs.forEach((o, k) => {
    const v: Val = { shape: o.shape, lip: lipFor(o.src, lips), isConst: false, why, producer: node };
    b.vals.set(node.outputs[k], v);
    b.record(node, v, inLip, node.opType === 'Concat' ? 'concatenation: sqrt(sum of squared input bounds)' : 'selects/permutes elements');
  });
}

function handleUnary(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const out = node.outputs[0];
  if (x.isConst) {
    const f: ((v: number) => number) | undefined = UNARY_FOLD[node.opType];
    b.setConst(out, x.shape, f !== undefined && x.data ? Array.from(x.data, f) : undefined, node);
    return;
  }
  if (node.opType === 'Sqrt') {
    if (!x.meanSquare) {
      b.vals.set(out, { shape: x.shape, lip: Infinity, isConst: false, producer: node,
        why: `node '${node.name}' (Sqrt) is not Lipschitz at 0 (only sqrt(AveragePool(x*x)), an L2-norm pooling, is supported)` });
      return;
    }
    const inLip = b.lipOf(x.meanSquare.of);
    const v: Val = { shape: x.shape, lip: inLip * Math.sqrt(x.meanSquare.colWeight), isConst: false, producer: node };
    b.vals.set(out, v);
    b.record(node, v, inLip, 'L2-norm pooling sqrt(mean(x*x)): sqrt(max over inputs of sum of 1/window size)');
    return;
  }
  const [k, method] = UNARY_LIP[node.opType];
  if (node.opType === 'Relu' || node.opType === 'Neg') {
    const sym = b.sharedSym([name]);
    if (sym) {
      const st = b.store(sym.anchor);
      const exprs = sym.views[0].map((e) => (node.opType === 'Relu' ? st.relu(e) : st.neg(e)));
      b.vals.set(out, { shape: x.shape, lip: x.lip, why: x.why, isConst: false, producer: node,
        sym: { anchor: sym.anchor, exprs, nodes: [...sym.nodes, node.name] } });
      return;
    }
  }
  const inLip = b.lipOf(name);
  const v: Val = { shape: x.shape, lip: inLip * k, why: x.why, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, method);
}

function handleElementwise(b: Bounder, node: OnnxNode): void {
  const names = node.inputs.filter((n) => n);
  const ins = names.map((n) => b.get(n));
  const op = node.opType;
  let shape: number[] | null = ins[0].shape;
  for (const v of ins.slice(1)) shape = shape && broadcastShapes(shape, v.shape);
  if (!shape) b.fail(node, `input shapes ${ins.map((v) => `[${v.shape.join(', ')}]`).join(', ')} do not broadcast`);
  const outShape = shape;
  b.checkShape(node, outShape);
  const out = node.outputs[0];
  if (ins.every((v) => v.isConst)) {
    const f = BINARY_FOLD[op];
    let data: number[] | undefined;
    if (ins.every((v) => v.data)) {
      data = broadcastTo(ins[0].data!, ins[0].shape, outShape);
      for (const v of ins.slice(1)) {
        const other = broadcastTo(v.data!, v.shape, outShape);
        data = data.map((a, i) => f(a, other[i]));
      }
    }
    b.setConst(out, outShape, data, node);
    return;
  }
  const n = sizeOf(outShape);
  const rep = (v: Val): number => n / Math.max(1, sizeOf(v.shape));
  const vars = names.filter((_, i) => !ins[i].isConst);
  const varVals = vars.map((nm) => b.get(nm));
  const why = varVals.find((v) => !Number.isFinite(v.lip))?.why;

  // Symbolic: two (or more, for Min/Max) variable inputs of one anchor, same shape, no constants.
  if (['Add', 'Sub', 'Min', 'Max'].includes(op) && vars.length === ins.length && ins.length >= 2 &&
    (op === 'Min' || op === 'Max' || ins.length === 2) && ins.every((v) => v.shape.join() === outShape.join())) {
    const sym = b.sharedSym(names);
    if (sym) {
      const st = b.store(sym.anchor);
      const f = op === 'Add' ? st.add.bind(st) : op === 'Sub' ? st.sub.bind(st) : op === 'Min' ? st.min.bind(st) : st.max.bind(st);
      const exprs = sym.views[0].map((e, i) => sym.views.slice(1).reduce((acc, view) => f(acc, view[i]), e));
      const lips = ins.map((v) => v.lip);
      const lip = op === 'Add' || op === 'Sub' ? lips.reduce((a, l) => a + l, 0) : Math.sqrt(lips.reduce((a, l) => a + l * l, 0));
      b.vals.set(out, { shape: outShape, lip, why, isConst: false, producer: node,
        sym: { anchor: sym.anchor, exprs, nodes: [...sym.nodes, node.name] } });
      return;
    }
  }

  const lips = names.map((nm, i) => (ins[i].isConst ? 0 : b.lipOf(nm)));
  const inLip = lips.reduce((a, l) => Math.max(a, l), -Infinity);
  let lip: number;
  let method: string;
  let extra: Partial<Val> = {};
  switch (op) {
    case 'Add':
    case 'Sub':
    case 'Sum':
      lip = ins.reduce((a, v, i) => a + (v.isConst ? 0 : Math.sqrt(rep(v)) * lips[i]), 0);
      method = vars.length === 1 ? 'adds a constant' : 'sum of the input bounds';
      break;
    case 'Min':
    case 'Max':
      lip = Math.sqrt(ins.reduce((a, v, i) => a + (v.isConst ? 0 : rep(v) * lips[i] * lips[i]), 0));
      method = vars.length === 1 ? `elementwise ${op.toLowerCase()} with a constant` : 'elementwise min/max: sqrt(sum of squared input bounds)';
      break;
    case 'Mul': {
      if (vars.length === 1) {
        const x = ins.find((v) => !v.isConst)!;
        const c = ins.find((v) => v.isConst)!;
        if (!c.data) b.fail(node, 'its constant factor could not be evaluated');
        lip = Math.sqrt(rep(x)) * inLip * maxAbs(c.data);
        method = `multiplies by a constant (max |c| = ${maxAbs(c.data).toPrecision(6)})`;
        if (x.meanSquare && minOf(c.data) >= 0) {
          // sqrt(c * mean(x^2)) (the portable L2 pool): a weighted L2 norm whose column weights scale by at most max c.
          extra = { meanSquare: { of: x.meanSquare.of, colWeight: x.meanSquare.colWeight * rep(x) * maxAbs(c.data) }, why: x.why };
        }
      } else if (vars.length === 2 && vars[0] === vars[1]) {
        lip = Infinity;
        extra = { square: vars[0], why: `node '${node.name}' (Mul) squares '${vars[0]}' (x*x is not Lipschitz; only sqrt(AveragePool(x*x)) is supported)` };
        method = 'square';
      } else {
        lip = Infinity;
        extra = { why: `node '${node.name}' (Mul) multiplies two input-dependent tensors, which is not Lipschitz` };
        method = 'product';
      }
      break;
    }
    case 'Div': {
      if (vars.length === 1 && !ins[0].isConst && ins[1].isConst && ins[1].data) {
        const m = minAbs(ins[1].data);
        lip = m > 0 ? Math.sqrt(rep(ins[0])) * inLip / m : Infinity;
        if (!(m > 0)) extra = { why: `node '${node.name}' (Div) divides by zero` };
        else if (ins[0].meanSquare && minOf(ins[1].data) > 0) {
          extra = { meanSquare: { of: ins[0].meanSquare.of, colWeight: ins[0].meanSquare.colWeight * rep(ins[0]) / m }, why: ins[0].why };
        }
        method = `divides by a constant (min |c| = ${m.toPrecision(6)})`;
      } else {
        lip = Infinity;
        extra = { why: `node '${node.name}' (Div) divides by an input-dependent tensor, which is not Lipschitz` };
        method = 'division';
      }
      break;
    }
    default:
      return b.fail(node, 'unexpected elementwise op');
  }
  const v: Val = { shape: outShape, lip, why: extra.why ?? why, isConst: false, producer: node, ...extra };
  b.vals.set(out, v);
  if (Number.isFinite(lip)) b.record(node, v, inLip, method);
}

/** Certified spectral norm of a weight matrix (1 in shapes-only mode, where no norm is needed). */
function weightNorm(b: Bounder, w: { data: Float64Array; rows: number; cols: number }): number {
  return b.opts.shapesOnly ? 1 : matrixSpectralNormUpperBound(w.data, w.rows, w.cols);
}

/** 2-D view of a matrix operand. */
function matrix(b: Bounder, node: OnnxNode, i: number, trans: boolean): { data: Float64Array; rows: number; cols: number } {
  const v = b.get(node.inputs[i]);
  if (!v.data) b.fail(node, `its weight input ${i} could not be evaluated`);
  if (v.shape.length !== 2) b.fail(node, `constant operand ${i} must be 2-D, got [${v.shape.join(', ')}]`);
  const [r, c] = v.shape;
  const data = new Float64Array(r * c);
  if (!trans) for (let k = 0; k < r * c; k++) data[k] = v.data[k];
  else for (let p = 0; p < r; p++) for (let q = 0; q < c; q++) data[q * r + p] = v.data[p * c + q];
  return trans ? { data, rows: c, cols: r } : { data, rows: r, cols: c };
}

function handleGemm(b: Bounder, node: OnnxNode): void {
  const [an, bn, cn] = node.inputs;
  const A = b.get(an);
  const B = b.get(bn);
  const transA = attrInt(node, 'transA', 0) === 1;
  const transB = attrInt(node, 'transB', 0) === 1;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  if (A.shape.length !== 2 || B.shape.length !== 2) b.fail(node, 'Gemm operands must be 2-D');
  const M = transA ? A.shape[1] : A.shape[0];
  const K = transA ? A.shape[0] : A.shape[1];
  const K2 = transB ? B.shape[1] : B.shape[0];
  const N = transB ? B.shape[0] : B.shape[1];
  if (K !== K2) b.fail(node, `inner dimensions differ (${K} vs ${K2})`);
  const outShape = [M, N];
  b.checkShape(node, outShape);
  const out = node.outputs[0];
  const C = cn ? b.get(cn) : undefined;
  if (A.isConst && B.isConst && (!C || C.isConst)) {
    b.setConst(out, outShape, undefined, node);
    return;
  }
  let lip: number;
  let inLip: number;
  let method: string;
  if (!A.isConst && B.isConst) {
    const w = matrix(b, node, 1, transB);
    inLip = b.lipOf(an);
    const norm = weightNorm(b, w);
    lip = inLip * Math.abs(alpha) * norm;
    method = `certified spectral norm of the ${w.rows}x${w.cols} weight (${norm.toPrecision(8)})`;
  } else if (A.isConst && !B.isConst) {
    const w = matrix(b, node, 0, transA);
    inLip = b.lipOf(bn);
    const norm = weightNorm(b, w);
    lip = inLip * Math.abs(alpha) * norm;
    method = `certified spectral norm of the ${w.rows}x${w.cols} weight (${norm.toPrecision(8)})`;
  } else if (!A.isConst && !B.isConst) {
    b.vals.set(out, { shape: outShape, lip: Infinity, isConst: false, producer: node,
      why: `node '${node.name}' (Gemm) multiplies two input-dependent tensors, which is not Lipschitz` });
    return;
  } else {
    inLip = 0;
    lip = 0;
    method = 'constant product';
  }
  if (C && !C.isConst) {
    const cl = b.lipOf(cn);
    lip += Math.abs(beta) * Math.sqrt(sizeOf(outShape) / Math.max(1, sizeOf(C.shape))) * cl;
    inLip = Math.max(inLip, cl);
  }
  const v: Val = { shape: outShape, lip, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, method);
}

function handleMatMul(b: Bounder, node: OnnxNode): void {
  const [an, bn] = node.inputs;
  const A = b.get(an);
  const B = b.get(bn);
  const out = node.outputs[0];
  const a = A.shape.length === 1 ? [1, A.shape[0]] : A.shape;
  const bs = B.shape.length === 1 ? [B.shape[0], 1] : B.shape;
  if (a[a.length - 1] !== bs[bs.length - 2]) b.fail(node, `shapes [${A.shape.join(', ')}] and [${B.shape.join(', ')}] do not multiply`);
  const batch = broadcastShapes(a.slice(0, -2), bs.slice(0, -2));
  if (!batch) b.fail(node, 'batch dimensions do not broadcast');
  let outShape = [...batch, a[a.length - 2], bs[bs.length - 1]];
  if (A.shape.length === 1) outShape = outShape.filter((_, i) => i !== outShape.length - 2);
  if (B.shape.length === 1) outShape = outShape.slice(0, -1);
  b.checkShape(node, outShape);
  if (A.isConst && B.isConst) {
    b.setConst(out, outShape, undefined, node);
    return;
  }
  if (!A.isConst && !B.isConst) {
    b.vals.set(out, { shape: outShape, lip: Infinity, isConst: false, producer: node,
      why: `node '${node.name}' (MatMul) multiplies two input-dependent tensors, which is not Lipschitz` });
    return;
  }
  const wi = A.isConst ? 0 : 1;
  const W = wi === 0 ? A : B;
  if (W.shape.length !== 2) b.fail(node, `the constant operand must be 2-D, got [${W.shape.join(', ')}]`);
  const w = matrix(b, node, wi, false);
  const inLip = b.lipOf(wi === 0 ? bn : an);
  const norm = weightNorm(b, w);
  const v: Val = { shape: outShape, lip: inLip * norm, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, `certified spectral norm of the ${w.rows}x${w.cols} weight (${norm.toPrecision(8)})`);
}

/** ONNX pads for a spatial op: explicit pads or auto_pad. Returns [begins..., ends...]. */
function spatialPads(b: Bounder, node: OnnxNode, inHW: number[], kernel: number[], strides: number[], dil: number[]): number[] {
  const auto = attrString(node, 'auto_pad', 'NOTSET');
  const r = inHW.length;
  if (auto === 'NOTSET') {
    const p = attrInts(node, 'pads', new Array<number>(2 * r).fill(0));
    if (p.length !== 2 * r || p.some((x) => x < 0)) b.fail(node, `pads [${p.join(', ')}] are invalid`);
    return p;
  }
  if (auto === 'VALID') return new Array<number>(2 * r).fill(0);
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER') b.fail(node, `auto_pad '${auto}' is not supported`);
  const begins: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < r; i++) {
    const out = Math.ceil(inHW[i] / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - inHW[i]);
    const small = Math.floor(total / 2);
    begins.push(auto === 'SAME_UPPER' ? small : total - small);
    ends.push(auto === 'SAME_UPPER' ? total - small : small);
  }
  return [...begins, ...ends];
}

/** 1-D window geometry: output size, per-window count of cells inside the input, per-input window count. */
function windows1d(n: number, k: number, s: number, pb: number, pe: number, dil: number, ceil: boolean):
  { out: number; inside: number[]; cover: number[]; windowsOf: number[][] } {
  const ext = (k - 1) * dil + 1;
  const span = n + pb + pe - ext;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= n + pb) out--;
  out = Math.max(out, 0);
  const inside: number[] = [];
  const cover = new Array<number>(n).fill(0);
  const windowsOf: number[][] = Array.from({ length: n }, () => []);
  for (let o = 0; o < out; o++) {
    let c = 0;
    for (let j = 0; j < k; j++) {
      const p = o * s - pb + j * dil;
      if (p >= 0 && p < n) {
        c++;
        cover[p]++;
        windowsOf[p].push(o);
      }
    }
    inside.push(c);
  }
  return { out, inside, cover, windowsOf };
}

interface PoolGeo {
  outHW: number[];
  /** max number of windows covering one input cell. */
  maxCover: number;
  /** per axis windows. */
  axes: ReturnType<typeof windows1d>[];
  kernel: number[];
  pads: number[];
}

function poolGeometry(b: Bounder, node: OnnxNode, x: number[], withDilations: boolean): PoolGeo {
  if (x.length < 3) b.fail(node, `expects an [N, C, spatial...] input, got [${x.join(', ')}]`);
  const spatial = x.slice(2);
  const r = spatial.length;
  const kernel = attrInts(node, 'kernel_shape', []);
  if (kernel.length !== r) b.fail(node, `kernel_shape must have ${r} entries`);
  const strides = attrInts(node, 'strides', new Array<number>(r).fill(1));
  const dil = withDilations ? attrInts(node, 'dilations', new Array<number>(r).fill(1)) : new Array<number>(r).fill(1);
  if (strides.length !== r || dil.length !== r || ![...kernel, ...strides, ...dil].every((v) => Number.isSafeInteger(v) && v >= 1)) {
    b.fail(node, `kernel_shape [${kernel.join(', ')}], strides [${strides.join(', ')}] and dilations [${dil.join(', ')}] ` +
      `must be ${r} integers >= 1 each`);
  }
  const pads = spatialPads(b, node, spatial, kernel, strides, dil);
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  // windows1d walks every tap of every window: refuse geometry whose walk is larger than any value may be.
  spatial.forEach((n, i) => {
    const out = Math.max(0, Math.floor((n + pads[i] + pads[i + r] - (kernel[i] - 1) * dil[i] - 1) / strides[i]) + 2);
    b.checkShape(node, [out, kernel[i]], `the window taps on axis ${i + 2}`);
  });
  const axes = spatial.map((n, i) => windows1d(n, kernel[i], strides[i], pads[i], pads[i + r], dil[i], ceil));
  const maxCover = axes.reduce((a, g) => a * maxOf(g.cover), 1);
  return { outHW: axes.map((g) => g.out), maxCover, axes, kernel, pads };
}

/**
 * AveragePool as a matrix: bound sqrt(||A||_1 ||A||_inf), and the L2-pool
 * weight max_p sum_{windows W containing p} 1 / divisor(W) (separable per axis).
 */
function averagePoolNorms(g: PoolGeo, countIncludePad: boolean): { linear: number; colWeight: number } {
  // divisor(W) = prod over axes of (kernel_i when counting pads, else cells inside on axis i).
  let maxRow = 1;
  let colWeight = 1;
  g.axes.forEach((a, i) => {
    const div = a.inside.map((c) => (countIncludePad ? g.kernel[i] : c));
    maxRow *= maxOf(a.inside.map((c, o) => (div[o] > 0 ? c / div[o] : 0)));
    colWeight *= maxOf(a.windowsOf.map((ws) => ws.reduce((acc, o) => acc + (div[o] > 0 ? 1 / div[o] : 0), 0)));
  });
  return { linear: Math.sqrt(maxRow * colWeight), colWeight };
}

function handlePool(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const op = node.opType;
  const out = node.outputs[0];
  if (op.startsWith('Global')) {
    const outShape = [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)];
    const area = sizeOf(x.shape.slice(2));
    if (x.isConst) return b.setConst(out, outShape, undefined, node);
    if (op === 'GlobalAveragePool' && x.square) {
      b.vals.set(out, { shape: outShape, lip: Infinity, isConst: false, producer: node, meanSquare: { of: x.square, colWeight: 1 / area },
        why: `node '${node.name}' (GlobalAveragePool of x*x) must be followed by Sqrt` });
      return;
    }
    const inLip = b.lipOf(name);
    let k = 1;
    let method = 'global max over disjoint channels: 1-Lipschitz';
    if (op === 'GlobalAveragePool') {
      k = 1 / Math.sqrt(area);
      method = `global average of ${area} cells: 1/sqrt(${area})`;
    } else if (op === 'GlobalLpPool') {
      const p = attrInt(node, 'p', 2);
      k = p >= 2 ? 1 : area ** (1 / p - 0.5);
      method = `global L${p} norm per channel`;
    }
    const v: Val = { shape: outShape, lip: inLip * k, why: x.why, isConst: false, producer: node };
    b.vals.set(out, v);
    b.record(node, v, inLip, method);
    return;
  }
  const g = poolGeometry(b, node, x.shape, op !== 'LpPool');
  const outShape = [...x.shape.slice(0, 2), ...g.outHW];
  if (x.isConst) return b.setConst(out, outShape, undefined, node);
  if (node.outputs.length > 1 && node.outputs[1]) {
    b.vals.set(node.outputs[1], { shape: outShape, lip: Infinity, isConst: false, producer: node,
      why: `node '${node.name}' (MaxPool) indices are not a continuous function of the input` });
  }
  if (op === 'AveragePool' && x.square) {
    const { colWeight } = averagePoolNorms(g, attrInt(node, 'count_include_pad', 0) === 1);
    b.vals.set(out, { shape: outShape, lip: Infinity, isConst: false, producer: node, meanSquare: { of: x.square, colWeight },
      why: `node '${node.name}' (AveragePool of x*x) must be followed by Sqrt` });
    return;
  }
  const inLip = b.lipOf(name);
  let k: number;
  let method: string;
  if (op === 'AveragePool') {
    k = averagePoolNorms(g, attrInt(node, 'count_include_pad', 0) === 1).linear;
    method = `average pooling ${g.kernel.join('x')}: sqrt(||A||_1 ||A||_inf)`;
  } else if (op === 'LpPool') {
    const p = attrInt(node, 'p', 2);
    const window = sizeOf(g.kernel);
    k = Math.sqrt(g.maxCover) * (p >= 2 ? 1 : window ** (1 / p - 0.5));
    method = `L${p} pooling ${g.kernel.join('x')}: window norms, each cell in at most ${g.maxCover} windows`;
  } else {
    k = Math.sqrt(g.maxCover);
    method = `max pooling ${g.kernel.join('x')}: each cell in at most ${g.maxCover} windows`;
  }
  const v: Val = { shape: outShape, lip: inLip * k, why: x.why, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, method);
}

function handleConv(b: Bounder, node: OnnxNode): void {
  const [xn, wn, bn] = node.inputs;
  const x = b.get(xn);
  const W = b.get(wn);
  const out = node.outputs[0];
  if (x.shape.length !== 4 && x.shape.length !== 3) b.fail(node, `only 1-D and 2-D convolutions are supported, input is [${x.shape.join(', ')}]`);
  if (!W.isConst || !W.data) b.fail(node, 'its weights must be a constant tensor');
  if (bn && !b.get(bn).isConst) b.fail(node, 'its bias must be a constant tensor');
  const oneD = x.shape.length === 3;
  const inHW = oneD ? [1, x.shape[2]] : x.shape.slice(2);
  const wShape = oneD ? [W.shape[0], W.shape[1], 1, W.shape[2]] : W.shape;
  const group = attrInt(node, 'group', 1);
  if (W.shape.length !== x.shape.length || !wShape.every((d) => Number.isSafeInteger(d) && d >= 1) || !(group >= 1)) {
    b.fail(node, `weights [${W.shape.join(', ')}] with group=${group} do not fit the input [${x.shape.join(', ')}]`);
  }
  const [cout, cinG, kh, kw] = wShape;
  const cin = x.shape[1];
  if (cin !== cinG * group || cout % group !== 0) b.fail(node, `weights [${W.shape.join(', ')}] do not fit ${cin} input channels with group=${group}`);
  const lift = (v: number[], dflt: number): number[] => (oneD ? [dflt, ...v] : v);
  const strides = lift(attrInts(node, 'strides', oneD ? [1] : [1, 1]), 1);
  const dil = lift(attrInts(node, 'dilations', oneD ? [1] : [1, 1]), 1);
  if (![...strides, ...dil].every((v) => Number.isSafeInteger(v) && v >= 1) || strides.length !== 2 || dil.length !== 2) {
    b.fail(node, `strides [${strides.join(', ')}] and dilations [${dil.join(', ')}] must be ${oneD ? 1 : 2} integers >= 1 each`);
  }
  // The bound expands dilations into a dense kernel: refuse one larger than any value may be.
  b.checkShape(node, [cout, cinG, (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1], 'the dilated kernel');
  let pads = spatialPads(b, node, x.shape.slice(2), oneD ? [kw] : [kh, kw], oneD ? [strides[1]] : strides, oneD ? [dil[1]] : dil);
  if (oneD) pads = [0, pads[0], 0, pads[1]];
  const outHW = [0, 1].map((i) => Math.floor((inHW[i] + pads[i] + pads[i + 2] - ((i === 0 ? kh : kw) - 1) * dil[i] - 1) / strides[i]) + 1);
  if (outHW.some((d) => d < 1)) b.fail(node, `the kernel does not fit the input [${x.shape.join(', ')}]`);
  const outShape = oneD ? [x.shape[0], cout, outHW[1]] : [x.shape[0], cout, ...outHW];
  if (x.isConst) return b.setConst(out, outShape, undefined, node);
  const geo: ConvGeometry = {
    cout, cinPerGroup: cinG, group, kernel: [kh, kw], strides: [strides[0], strides[1]], dilations: [dil[0], dil[1]],
    pads: [pads[0], pads[1], pads[2], pads[3]], inHW: [inHW[0], inHW[1]], outHW: [outHW[0], outHW[1]],
  };
  const inLip = b.lipOf(xn);
  const cb = b.opts.shapesOnly ? { bound: 1, method: 'circular', circular: 1 }
    : convNormUpperBound(W.data as Float32Array, geo, b.opts.exactConv !== false, b.file, node.name);
  const v: Val = { shape: outShape, lip: inLip * cb.bound, why: x.why, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, cb.method === 'exact'
    ? `certified exact norm on ${inHW.join('x')} inputs (Gram + Cholesky; circular bound ${cb.circular.toPrecision(6)})`
    : `circular-convolution spectrum on a ${inHW[0] + (kh - 1) * dil[0]}x${inHW[1] + (kw - 1) * dil[1]} grid (Sedghi et al. 2019)`);
}

function handleReduce(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const axesIn = b.model.opset >= 18 ? b.optionalConst(node, 1) : undefined;
  let axes = (axesIn ? Array.from(axesIn) : attrInts(node, 'axes', [])).map((a) => normAxis(a, x.shape.length));
  if (axes.some((a) => a === null)) b.fail(node, 'axes out of range');
  if (axes.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0) === 1) axes = [];
    else axes = range(x.shape.length);
  }
  const set = new Set(axes as number[]);
  const outShape = keep ? x.shape.map((d, i) => (set.has(i) ? 1 : d)) : x.shape.filter((_, i) => !set.has(i));
  const out = node.outputs[0];
  if (x.isConst) return b.setConst(out, outShape, undefined, node);
  const inLip = b.lipOf(name);
  const v: Val = { shape: outShape, lip: inLip, why: x.why, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, `${node.opType} over disjoint groups: 1-Lipschitz`);
}

function handleTopK(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const axis = normAxis(attrInt(node, 'axis', -1), x.shape.length);
  if (axis === null) b.fail(node, 'axis out of range');
  const k = b.model.opset >= 10 ? Number(b.constInput(node, 1, "'K'")[0]) : attrInt(node, 'k', 0);
  if (!(k >= 0 && k <= x.shape[axis])) b.fail(node, `K=${k} is outside [0, ${x.shape[axis]}]`);
  const outShape = x.shape.map((d, i) => (i === axis ? k : d));
  if (node.outputs[1]) {
    b.vals.set(node.outputs[1], { shape: outShape, lip: Infinity, isConst: false, producer: node,
      why: `node '${node.name}' (TopK) indices are not a continuous function of the input` });
  }
  const out = node.outputs[0];
  if (x.isConst) return b.setConst(out, outShape, undefined, node);
  const sym = b.sharedSym([name]);
  if (sym) {
    const st = b.store(sym.anchor);
    const inner = sizeOf(x.shape.slice(axis + 1));
    const outer = sizeOf(x.shape.slice(0, axis));
    const n = x.shape[axis];
    const exprs = new Array<Expr>(outer * k * inner);
    let ok = true;
    for (let o = 0; o < outer && ok; o++) {
      for (let i = 0; i < inner && ok; i++) {
        const members = range(n).map((j) => sym.views[0][(o * n + j) * inner + i]);
        const sorted = st.sort(members);
        if (!sorted) { ok = false; break; }
        for (let r = 0; r < k; r++) exprs[(o * k + r) * inner + i] = sorted[r];
      }
    }
    if (ok) {
      b.vals.set(out, { shape: outShape, lip: x.lip, why: x.why, isConst: false, producer: node,
        sym: { anchor: sym.anchor, exprs, nodes: [...sym.nodes, node.name] } });
      return;
    }
  }
  const inLip = b.lipOf(name);
  const v: Val = { shape: outShape, lip: inLip, why: x.why, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, 'sorting along an axis is 1-Lipschitz');
}

function handlePad(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const mode = attrString(node, 'mode', 'constant');
  const r = x.shape.length;
  let pads = b.model.opset >= 11 ? Array.from(b.constInput(node, 1, "'pads'")) : attrInts(node, 'pads', []);
  const axesIn = b.model.opset >= 18 ? b.optionalConst(node, 3) : undefined;
  if (axesIn) {
    const axes = Array.from(axesIn).map((a) => normAxis(a, r)!);
    const full = new Array<number>(2 * r).fill(0);
    axes.forEach((a, i) => { full[a] = pads[i]; full[a + r] = pads[i + axes.length]; });
    pads = full;
  }
  if (pads.length !== 2 * r) b.fail(node, `pads [${pads.join(', ')}] do not fit rank ${r}`);
  const outShape = x.shape.map((d, i) => d + pads[i] + pads[i + r]);
  const out = node.outputs[0];
  if (x.isConst) return b.setConst(out, outShape, undefined, node);
  if (mode !== 'constant') {
    b.vals.set(out, { shape: outShape, lip: Infinity, isConst: false, producer: node,
      why: `node '${node.name}' (Pad mode '${mode}') repeats input elements; only constant padding is supported` });
    return;
  }
  const inLip = b.lipOf(name);
  const v: Val = { shape: outShape, lip: inLip, why: x.why, isConst: false, producer: node };
  b.vals.set(out, v);
  b.record(node, v, inLip, 'constant padding');
}

function handleSoftmax(b: Bounder, node: OnnxNode): void {
  handleUnary(b, node);
}

const HANDLERS: ReadonlyArray<readonly [string[], (b: Bounder, node: OnnxNode) => void]> = [
  [[...STRUCTURAL], handleStructural],
  [['Relu', 'Neg', 'Abs', 'Sigmoid', 'Tanh', 'Sqrt'], handleUnary],
  [['Softmax'], handleSoftmax],
  [['Add', 'Sub', 'Mul', 'Div', 'Min', 'Max', 'Sum'], handleElementwise],
  [['Gemm'], handleGemm],
  [['MatMul'], handleMatMul],
  [['Conv'], handleConv],
  [['AveragePool', 'MaxPool', 'LpPool', 'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool'], handlePool],
  [['ReduceL2', 'ReduceMax', 'ReduceMin'], handleReduce],
  [['TopK'], handleTopK],
  [['Pad'], handlePad],
];
const HANDLER = new Map<string, (b: Bounder, node: OnnxNode) => void>(HANDLERS.flatMap(([ops, h]) => ops.map((op) => [op, h] as const)));

function tensorShape(t: OnnxTensor): number[] {
  return [...t.dims];
}

/** Finds a final Gemm/MatMul (followed only by Identity / constant bias) for head-aware certificates. */
function findHead(b: Bounder, outName: string): LinearHead | null {
  let name = outName;
  for (let hops = 0; hops < 8; hops++) {
    const v = b.vals.get(name);
    const node = v?.producer;
    if (!node) return null;
    if (node.opType === 'Identity') { name = node.inputs[0]; continue; }
    if (node.opType === 'Add' || node.opType === 'Sub') {
      const [p, q] = node.inputs.map((n) => b.get(n));
      if (!p.isConst && q.isConst && q.shape.length <= 1 || (node.opType === 'Add' && p.isConst && !q.isConst && p.shape.length <= 1)) {
        name = p.isConst ? node.inputs[1] : node.inputs[0];
        continue;
      }
      return null;
    }
    if (node.opType !== 'Gemm' && node.opType !== 'MatMul') return null;
    const A = b.get(node.inputs[0]);
    const B = b.get(node.inputs[1]);
    if (A.isConst || !B.isConst || !B.data || B.shape.length !== 2 || A.shape.length !== 2) return null;
    if (node.opType === 'Gemm' && attrInt(node, 'transA', 0) !== 0) return null;
    const transB = node.opType === 'Gemm' && attrInt(node, 'transB', 0) === 1;
    const alpha = node.opType === 'Gemm' ? attrFloat(node, 'alpha', 1) : 1;
    const [r, c] = B.shape;
    const dim = transB ? c : r;
    const classes = transB ? r : c;
    const weights = new Float64Array(classes * dim);
    for (let j = 0; j < classes; j++) {
      for (let i = 0; i < dim; i++) weights[j * dim + i] = alpha * (transB ? B.data[j * c + i] : B.data[i * c + j]);
    }
    return { node: node.name, classes, dim, weights, bodyLipschitz: b.lipOf(node.inputs[0]) };
  }
  return null;
}

/** Runs every node through its handler; the input gets `opts.inputShape` or its declared fixed dims. */
function propagate(m: OnnxModel, opts: BoundOptions): { b: Bounder; perSample: number[] } {
  const b = new Bounder(m, opts);
  if (m.inputs.length !== 1) throw new ModelError(`${b.file} has ${m.inputs.length} inputs; the bound needs a single-input model`);
  const input = m.inputs[0];
  if (!input.shape || input.shape.length < 1) throw new ModelError(`${b.file}: input '${input.name}' declares no shape`);
  let perSample: number[];
  if (opts.inputShape) {
    perSample = [...opts.inputShape];
  } else {
    const rest = input.shape.slice(1);
    if (!rest.every((d): d is number => typeof d === 'number' && d > 0)) {
      throw new ModelError(`${b.file}: input '${input.name}' has shape [${input.shape.join(', ')}]; ` +
        'the bound needs fixed non-batch dimensions (pass inputShape)');
    }
    perSample = rest;
  }
  b.vals.set(input.name, { shape: [1, ...perSample], lip: 1, isConst: false });
  for (const [name, t] of m.initializers) b.setConst(name, tensorShape(t), t.data);

  for (const node of m.nodes) {
    if (node.opType === 'Constant') {
      const t = constantNodeValue(node, m.source);
      b.setConst(node.outputs[0], tensorShape(t), t.data, node);
      continue;
    }
    const h = HANDLER.get(node.opType);
    if (!h) throw new ModelError(`${b.file}: node '${node.name}' (${node.opType}) cannot be bounded; supported: ${[...HANDLER.keys()].join(', ')}`);
    h(b, node);
  }
  return { b, perSample };
}

/**
 * Sound upper bound on the L2 Lipschitz constant of `model` (input -> first
 * output, per sample), with per-layer bounds. Throws ModelError when the graph
 * is not Lipschitz or cannot be analysed, ModelTooLargeError when a value
 * would exceed MAX_VALUE_ELEMENTS.
 */
export function lipschitzBound(model: OnnxModel | string | Uint8Array, opts: BoundOptions = {}): LipschitzBound {
  const m = typeof model === 'string' || model instanceof Uint8Array ? readOnnxModel(model) : model;
  const { b, perSample } = propagate(m, { ...opts, shapesOnly: false });
  const outName = m.outputs[0].name;
  const total = b.lipOf(outName);
  const outVal = b.get(outName);
  if (!Number.isFinite(total)) {
    throw new ModelError(`cannot bound the Lipschitz constant of ${b.file}: ${outVal.why ?? 'a node is not Lipschitz'}`);
  }
  const head = findHead(b, outName);
  return {
    total,
    layers: b.layers,
    warnings: b.warnings,
    inputShape: perSample,
    outputShape: outVal.shape.slice(1),
    head,
  };
}

/**
 * Elements per sample of the largest input-dependent value of `model` on
 * inputs of `inputShape` (default: the declared fixed dims), from the
 * bound's shape propagation alone (no norms). Throws ModelTooLargeError when
 * a value exceeds MAX_VALUE_ELEMENTS, ModelError when shapes cannot be
 * followed (an operator use the bound does not analyse).
 */
export function largestValueElements(model: OnnxModel, inputShape?: number[]): number {
  return propagate(model, { inputShape, shapesOnly: true }).b.largest;
}
