/**
 * The bound's state while it walks a graph: every value's shape, element
 * type, Lipschitz bound, constant data and symbolic view, the layer table,
 * and the budgets of the symbolic engine.
 *
 * Symbolic memory and work are bounded:
 *  - a value's symbolic view is dropped once no later node reads it, and a
 *    store (one per anchor) is freed once no live value refers to it;
 *  - a store never holds more than SYMBOLIC_STORE_LIMIT expressions, nor all
 *    stores together more than SYMBOLIC_LIVE_LIMIT: an op that would pass
 *    either first re-anchors its inputs (their joint bound is certified by a
 *    block check, and the block restarts from fresh wires: the bound is the
 *    product of the blocks' bounds), and other stores are flushed;
 *  - all symbolic work (expressions created, expressions visited by block
 *    checks) is capped by SYMBOLIC_WORK_LIMIT; past it nothing new is tracked
 *    and pending blocks keep their composed bound (a product of factors),
 *    with a note in the layer table and a warning.
 */
import { ModelError, ModelTooLargeError } from '@lip/core/errors';
import { MAX_VALUE_ELEMENTS } from '../onnx/limits';
import type { OnnxDataType, OnnxModel, OnnxNode } from '../onnx/read';
import { CIRCULAR_WORK_LIMIT, EXACT_WORK_LIMIT } from './conv';
import { DENSE_WORK_LIMIT } from './dense';
import { asFloats, asIndexNumbers, ConstValues, isIntType } from './fold';
import { mulUp, nextUp, sqrtUp } from './rounding';
import { SHAPE_RULES, ShapeContext } from './shapes';
import { ExprStore, Expr, checkBlock, blockName } from './symbolic';
import { sizeOf } from './tensor_ops';

/** Blocks larger than this many input elements are not tracked symbolically (bounded by composition). */
export const SYMBOLIC_ELEMENT_LIMIT = 1 << 21;
/** Most expressions one symbolic store holds before its block is cut (9 bytes each). */
export const SYMBOLIC_STORE_LIMIT = 1 << 22;
/** Most expressions all live stores hold together. */
export const SYMBOLIC_LIVE_LIMIT = 1 << 23;
/** Most symbolic work per bound (a few seconds): expressions created plus expressions visited by block checks. */
export const SYMBOLIC_WORK_LIMIT = 1 << 27;

export interface LayerBound {
  /** Name of the (first) node. */
  node: string;
  /** The value whose bound this row gives (a node output; for a block cut, its inputs joined by '+'). */
  value: string;
  /** Op type, or the recognized block ('GroupSort2', 'MaxMin', 'structure', ...). */
  op: string;
  /** All nodes this entry covers. */
  nodes: string[];
  /** This layer's bound: output bound / input bound. */
  factor: number;
  /** Bound from the graph input to this layer's output. */
  cumulative: number;
  /** How the factor was obtained (and which fallback, when a work limit was hit). */
  method: string;
  /** Output shape, batch dimension included (as 1). */
  outputShape: number[];
}

/** Work limits of the bound (see README, "What `lip bound` guarantees"). */
export interface BoundLimits {
  /** Multiply-adds of one dense (Gemm/MatMul) norm. */
  denseWork: number;
  /** Multiply-adds of one conv's exact bound. */
  convExactWork: number;
  /** Multiply-adds of one conv's circular bound. */
  convCircularWork: number;
  /** Expressions of one symbolic store. */
  symbolicStore: number;
  /** Expressions of all live symbolic stores. */
  symbolicLive: number;
  /** Symbolic work (expressions created and visited). */
  symbolicWork: number;
}

export interface BoundOptions {
  /** Per-sample input shape when the model leaves non-batch dims symbolic. */
  inputShape?: number[];
  /** Allow the exact (Gram + Cholesky) conv bound; false forces the circular one. Default true. */
  exactConv?: boolean;
  /** Only propagate shapes (no norms, no symbolic blocks): see `largestValueElements`. Default false. */
  shapesOnly?: boolean;
  /** Lower work limits (default: DENSE_WORK_LIMIT, EXACT_WORK_LIMIT, ...); tests use them to exercise the fallbacks. */
  limits?: Partial<BoundLimits>;
}

export interface Sym {
  anchor: string;
  /** One expression per element. */
  exprs: Int32Array;
  nodes: string[];
}

export interface Val {
  shape: number[];
  dtype: OnnxDataType;
  /** Bound from the input; 0 for constants, Infinity when not Lipschitz (`why`). */
  lip: number;
  why?: string;
  isConst: boolean;
  /** Constant values when known (numbers for float types, BigInts for integer types). */
  data?: ConstValues;
  sym?: Sym;
  /** The value is x * x of the variable value `square`. */
  square?: string;
  /** The value is a window mean of x * x: `sqrt` of it has Lipschitz factor sqrt(colWeight). */
  meanSquare?: { of: string; colWeight: number };
  /** The value equals the (non-negative) value `equals` (Abs or Relu of a window mean of x * x, torch's lp_pool2d). */
  equals?: string;
  /** The value is Sign of the value `signOf` (torch's lp_pool2d multiplies it back: sign(m) * relu(|m|) = m). */
  signOf?: string;
  materialized?: boolean;
  /** Producing node (for head detection). */
  producer?: OnnxNode;
}

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

/** Index of the first NaN or infinite value of `d`, or -1 (small and on its own: V8 optimizes it early). */
function firstNonFinite(d: ArrayLike<number>): number {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return i;
  return -1;
}

/** A shared symbolic view of several values. */
export interface SharedSym {
  anchor: string;
  views: Int32Array[];
  nodes: string[];
}

export class Bounder {
  readonly vals = new ValueTable((name, shape, producer) => this.checkShape(producer, shape, `value '${name}'`));
  /** Largest per-sample element count of an input-dependent value seen so far. */
  largest = 0;
  readonly layers: LayerBound[] = [];
  readonly warnings: string[] = [];
  readonly file: string;
  private readonly stores = new Map<string, ExprStore>();
  private readonly anchorWires = new Map<string, Int32Array>();
  /** Values (and the anchor itself while its wires are held) that refer to each store. */
  private readonly members = new Map<string, Set<string>>();
  /** Bounds of anchors made by re-anchoring (they are not graph values). */
  private readonly syntheticAnchors = new Map<string, number>();
  private symbolicWork = 0;
  private symbolicOff = false;
  private anchorCount = 0;
  readonly limits: BoundLimits;
  private readonly opTypes: ReadonlyMap<string, string>;

  constructor(
    readonly model: OnnxModel,
    readonly opts: BoundOptions,
  ) {
    this.file = model.source === '<bytes>' ? 'the model' : `'${model.source}'`;
    this.opTypes = new Map(model.nodes.map((n) => [n.name, n.opType]));
    this.limits = {
      denseWork: DENSE_WORK_LIMIT,
      convExactWork: EXACT_WORK_LIMIT,
      convCircularWork: CIRCULAR_WORK_LIMIT,
      symbolicStore: SYMBOLIC_STORE_LIMIT,
      symbolicLive: SYMBOLIC_LIVE_LIMIT,
      symbolicWork: SYMBOLIC_WORK_LIMIT,
      ...opts.limits,
    };
  }

  fail(node: OnnxNode, msg: string): never {
    throw new ModelError(`${this.file}: node '${node.name}' (${node.opType}): ${msg}`);
  }

  /**
   * Refuses a shape with invalid dims, or of more than MAX_VALUE_ELEMENTS
   * elements, before anything of that size is allocated.
   */
  checkShape(node: OnnxNode | undefined, shape: readonly number[], label = 'the output', perSample = true): void {
    const what = `${label}${node ? ` of node '${node.name}' (${node.opType})` : ''}`;
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ModelError(`${this.file}: ${what} has the invalid shape [${shape.join(', ')}]; the file is corrupt, re-export it.`);
    }
    const n = sizeOf(shape);
    if (n > MAX_VALUE_ELEMENTS) {
      throw new ModelTooLargeError(
        `${this.file}: ${what} has shape [${shape.join(', ')}] (${n} elements), above the limit of ` +
          `${MAX_VALUE_ELEMENTS} per sample; the file is corrupt or not a model this tool can verify.`,
      );
    }
    // `largest` sizes onnxruntime batches: only values computed per sample count.
    if (perSample) this.largest = Math.max(this.largest, n);
  }

  get(name: string): Val {
    const v = this.vals.get(name);
    if (!v) throw new ModelError(`${this.file}: value '${name}' is used before it is defined`);
    return v;
  }

  /** What the shape rules read about `node`. */
  shapeContext(node: OnnxNode): ShapeContext {
    return {
      node,
      opset: this.model.opset,
      shape: (i) => (node.inputs[i] ? this.get(node.inputs[i]).shape : undefined),
      ints: (i, what) => this.intInput(node, i, what),
      floats: (i, what) => {
        const name = node.inputs[i];
        if (!name) return undefined;
        const v = this.get(name);
        if (!v.isConst || !v.data) this.fail(node, `its ${what} (input ${i}) must be a constant tensor`);
        return Array.from(asFloats(v.data));
      },
      fail: (msg) => this.fail(node, msg),
    };
  }

  /**
   * Output shapes of `node` by its shape rule, checked against
   * MAX_VALUE_ELEMENTS before anything is allocated: values that depend on x,
   * and constants that folding computes (ConstantOfShape, Expand, Range, ...
   * of a hostile shape would otherwise allocate without limit).
   */
  outShapes(node: OnnxNode): number[][] {
    const rule = SHAPE_RULES[node.opType];
    if (!rule) this.fail(node, 'has no shape rule');
    const shapes = rule(this.shapeContext(node));
    const perSample = node.inputs.some((n) => n && !this.get(n).isConst);
    shapes.forEach((s, k) => {
      if (node.outputs[k]) this.checkShape(node, s, `value '${node.outputs[k]}'`, perSample);
    });
    return shapes;
  }

  /** Integer values of constant input `i` (undefined when omitted), or a ModelError naming what must be constant. */
  intInput(node: OnnxNode, i: number, what: string): number[] | undefined {
    const name = node.inputs[i];
    if (!name) return undefined;
    const v = this.get(name);
    if (!v.isConst || !v.data) this.fail(node, `its ${what} (input ${i}) must be a constant tensor`);
    if (!isIntType(v.dtype) || v.dtype === 'bool') this.fail(node, `its ${what} (input ${i}) must be an integer tensor, got ${v.dtype}`);
    return asIndexNumbers(v.data as readonly bigint[]);
  }

  /** Float values of constant input `name` (weights, factors), or a ModelError. */
  floatConst(node: OnnxNode, name: string, what: string): ArrayLike<number> {
    const v = this.get(name);
    if (!v.isConst || !v.data) this.fail(node, `its ${what} must be a constant tensor`);
    if (isIntType(v.dtype)) this.fail(node, `its ${what} must be a float tensor, got ${v.dtype}`);
    const d = v.data as ArrayLike<number>;
    // Shape propagation (sizing onnxruntime batches) does not judge the weights.
    if (!this.opts.shapesOnly) {
      const bad = firstNonFinite(d);
      if (bad >= 0) this.fail(node, `its ${what} holds a non-finite value (${d[bad]}) at index ${bad}; re-export the model`);
    }
    return d;
  }

  setConst(name: string, shape: number[], dtype: OnnxDataType, data: ConstValues | undefined, producer?: OnnxNode): void {
    this.vals.set(name, { shape, dtype, lip: 0, isConst: true, data, producer });
  }

  /** Records a node that is not part of a symbolic block. */
  record(node: OnnxNode, out: Val, inLip: number, method: string): void {
    const factor = inLip > 0 ? out.lip / inLip : out.lip;
    const value = node.outputs.find((o) => o && this.vals.get(o) === out) ?? node.outputs[0];
    this.layers.push({ node: node.name, value, op: node.opType, nodes: [node.name], factor, cumulative: out.lip, method, outputShape: out.shape });
  }

  /** Refines a symbolic value's bound with the block check (once) and returns its bound. */
  lipOf(name: string): number {
    const v = this.get(name);
    if (v.sym && !v.materialized) this.materialize(name, v);
    return v.lip;
  }

  private anchorLip(anchor: string): number {
    return this.syntheticAnchors.get(anchor) ?? this.get(anchor).lip;
  }

  private opsOf(nodes: readonly string[]): string {
    return [...new Set(nodes.map((n) => this.opTypes.get(n) ?? '?'))].join('/');
  }

  /** Runs the block check of `exprs` (charged to the symbolic work); null when the work limit does not allow it. */
  private check(anchor: string, exprs: ArrayLike<Expr>): ReturnType<typeof checkBlock> | null {
    const store = this.stores.get(anchor)!;
    if (this.symbolicWork + store.size > this.limits.symbolicWork) {
      this.symbolicOff = true;
      return null;
    }
    const check = checkBlock(store, exprs);
    this.symbolicWork += check.visited;
    return check;
  }

  private materialize(name: string, v: Val): void {
    v.materialized = true;
    const sym = v.sym!;
    const base = this.anchorLip(sym.anchor);
    const composed = v.lip;
    const check = this.check(sym.anchor, sym.exprs);
    if (check?.ok && base < v.lip) v.lip = base;
    const ops = this.opsOf(sym.nodes);
    const factor = base > 0 ? v.lip / base : v.lip;
    if (sym.nodes.length === 0) return;
    let op: string;
    let method: string;
    if (check === null) {
      op = 'block';
      method = `composition of ${ops} (symbolic check skipped: symbolic work limit ${this.limits.symbolicWork} reached)`;
      this.warnings.push(
        `nodes ${sym.nodes.join(', ')} (${ops}) were bounded by composition as x${factor.toPrecision(4)}: ` +
          'the symbolic work limit was reached, so the block was not checked',
      );
    } else if (check.ok) {
      op = blockName(check);
      method = `recognized 1-Lipschitz ${op === 'structure' ? 'reshape/permutation' : 'activation block'} (${ops})`;
    } else {
      op = 'block';
      method = `composition of ${ops} (${check.reason})`;
      if (composed > base * (1 + 1e-12)) {
        this.warnings.push(
          `nodes ${sym.nodes.join(', ')} (${ops}) are not a recognized 1-Lipschitz block (${check.reason}); ` +
            `bounded by composition as x${factor.toPrecision(4)}, which may be loose`,
        );
      }
    }
    this.layers.push({ node: sym.nodes[0], value: name, op, nodes: [...sym.nodes], factor, cumulative: v.lip, method, outputShape: v.shape });
  }

  private join(anchor: string, name: string): void {
    let set = this.members.get(anchor);
    if (!set) this.members.set(anchor, (set = new Set()));
    set.add(name);
  }

  private leave(anchor: string, name: string): void {
    const set = this.members.get(anchor);
    if (!set) return;
    set.delete(name);
    if (set.size === 0) {
      this.members.delete(anchor);
      this.stores.delete(anchor);
      this.anchorWires.delete(anchor);
      this.syntheticAnchors.delete(anchor);
    }
  }

  /** Sets a value, keeping the stores' member lists up to date. */
  setVal(name: string, v: Val): void {
    const old = this.vals.get(name);
    if (old?.sym) this.leave(old.sym.anchor, name);
    this.vals.set(name, v);
    if (v.sym) this.join(v.sym.anchor, name);
  }

  /** Drops the symbolic view of a value no later node reads (its store is freed with its last member). */
  release(name: string): void {
    const v = this.vals.get(name);
    if (v?.sym) {
      const anchor = v.sym.anchor;
      v.sym = undefined;
      this.leave(anchor, name);
    }
    if (this.anchorWires.has(name)) this.leave(name, name);
  }

  /** Anchor and expressions of a variable value (a fresh anchor when it has no symbolic view). */
  symView(name: string): { anchor: string; exprs: Int32Array } | null {
    const v = this.get(name);
    if (this.opts.shapesOnly || v.isConst || v.square || v.meanSquare || !Number.isFinite(v.lip)) return null;
    if (v.sym) return { anchor: v.sym.anchor, exprs: v.sym.exprs };
    if (this.symbolicOff) return null;
    const n = sizeOf(v.shape);
    if (n > SYMBOLIC_ELEMENT_LIMIT) return null;
    let wires = this.anchorWires.get(name);
    if (!wires) {
      if (!this.makeRoom(n, null)) return null;
      const store = new ExprStore();
      this.stores.set(name, store);
      wires = store.wires(n);
      this.symbolicWork += n;
      this.anchorWires.set(name, wires);
      this.join(name, name);
    }
    return { anchor: name, exprs: wires };
  }

  /** Symbolic views of all `names` when they share one anchor; null otherwise. */
  sharedSym(names: string[]): SharedSym | null {
    const views: Int32Array[] = [];
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

  /**
   * The shared symbolic view of `names` for an op that creates up to
   * `created` expressions, within the symbolic budgets (re-anchoring the
   * inputs when their store is full); null when the op must be bounded by
   * composition instead.
   */
  symbolicOp(names: string[], created: number, node: OnnxNode): { sym: SharedSym; store: ExprStore } | null {
    if (this.symbolicOff) return null;
    if (this.symbolicWork + created > this.limits.symbolicWork) {
      this.symbolicOff = true;
      return null;
    }
    let sym = this.sharedSym(names);
    if (!sym) return null;
    const store = this.stores.get(sym.anchor)!;
    const live = this.liveExpressions();
    // Past half the limits the block is cut at the first op whose inputs are the block's only live
    // values and finished gates (so both parts are still recognized); at the limits, wherever it is.
    const full = store.size + created > this.limits.symbolicStore || live + created > this.limits.symbolicLive;
    const half = store.size + created > this.limits.symbolicStore / 2 || live + created > this.limits.symbolicLive / 2;
    const clean = (): boolean =>
      [...(this.members.get(sym!.anchor) ?? [])].every((m) => names.includes(m)) && sym!.views.every((view) => view.every((e) => !store.pending(e)));
    if (full || (half && clean())) {
      sym = this.reanchor(names, sym, node);
      if (!sym || !this.makeRoom(created, sym.anchor)) return null;
    }
    this.symbolicWork += created;
    return { sym, store: this.stores.get(sym.anchor)! };
  }

  private liveExpressions(): number {
    let n = 0;
    for (const s of this.stores.values()) n += s.size;
    return n;
  }

  /** Frees stores other than `keep` (materializing their live values) until `n` more expressions fit. */
  private makeRoom(n: number, keep: string | null): boolean {
    if (this.liveExpressions() + n <= this.limits.symbolicLive) return true;
    for (const anchor of [...this.stores.keys()]) {
      if (anchor === keep) continue;
      for (const name of [...(this.members.get(anchor) ?? [])]) {
        if (name !== anchor || this.vals.get(name)?.sym) this.lipOf(name);
        this.release(name);
      }
      if (this.liveExpressions() + n <= this.limits.symbolicLive) return true;
    }
    return this.liveExpressions() + n <= this.limits.symbolicLive;
  }

  /**
   * Cuts the block at `names`: their joint bound is certified by one block
   * check (or composed), and they continue from fresh wires of a new anchor.
   */
  private reanchor(names: string[], sym: SharedSym, node: OnnxNode): SharedSym | null {
    const distinct = [...new Set(names)];
    const vals = distinct.map((n) => this.get(n));
    const parts = distinct.map((n) => sym.views[names.indexOf(n)]);
    const exprs = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((at, p) => {
      exprs.set(p, at);
      return at + p.length;
    }, 0);
    if (exprs.length > SYMBOLIC_ELEMENT_LIMIT) return null;
    const base = this.anchorLip(sym.anchor);
    // Joint bound of the inputs: sqrt(sum of their squared bounds), or the anchor's when the block check passes.
    let joint = sqrtUp(vals.reduce((a, v) => nextUp(a + mulUp(v.lip, v.lip)), 0));
    const check = this.check(sym.anchor, exprs);
    if (check?.ok && base < joint) joint = base;
    const ops = this.opsOf(sym.nodes);
    const limits = `symbolic limits: ${this.limits.symbolicStore} expressions per block, ${this.limits.symbolicLive} alive`;
    if (sym.nodes.length > 0) {
      const factor = base > 0 ? joint / base : joint;
      this.layers.push({
        node: sym.nodes[0],
        value: distinct.join('+'),
        op: check?.ok ? blockName(check) : 'block',
        nodes: [...sym.nodes],
        factor,
        cumulative: joint,
        outputShape: [exprs.length],
        method:
          check === null
            ? `composition of ${ops} (symbolic check skipped: symbolic work limit ${this.limits.symbolicWork} reached)`
            : `${check.ok ? 'recognized 1-Lipschitz block' : `composition (${check.reason})`} (${ops}), cut before node '${node.name}' (${limits})`,
      });
      if (!check?.ok && factor > 1 + 1e-12) {
        this.warnings.push(
          `nodes ${sym.nodes.join(', ')} (${ops}) were cut before node '${node.name}' (${limits}) where the block was not ` +
            `finished; bounded by composition as x${factor.toPrecision(4)}, which may be loose`,
        );
      }
    }
    if (check === null) return null;
    const anchor = `${node.name}#inputs${this.anchorCount++}`;
    const store = new ExprStore();
    const wires = store.wires(exprs.length);
    this.symbolicWork += exprs.length;
    this.stores.set(anchor, store);
    this.syntheticAnchors.set(anchor, joint);
    let at = 0;
    distinct.forEach((name, i) => {
      const v = vals[i];
      const n = sizeOf(v.shape);
      // Each input is a coordinate selection of the joint vector.
      this.setVal(name, { ...v, lip: Math.min(v.lip, joint), materialized: false, sym: { anchor, exprs: wires.subarray(at, at + n), nodes: [] } });
      at += n;
    });
    return this.sharedSym(names);
  }
}
