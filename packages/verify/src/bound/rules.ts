/**
 * The bound rules (`BOUND_RULES`): one per operator the reader accepts. A
 * rule sets its node's outputs (shape, element type, folded constant data)
 * and a bound L_v on the Lipschitz constant of input -> v for each, from its
 * inputs' values:
 *   linear maps: their certified spectral norm (Gemm/MatMul exact, Conv exact
 *   or circular, poolings from their window geometry, Mul/Div by constants);
 *   1-Lipschitz maps (Relu, Neg, Tanh, reshapes, slices, sorts): L;
 *   Concat and Min/Max of several values: sqrt(sum L_i^2 m_i) (m_i the
 *   broadcast or duplication multiplicity), Add/Sub: sum sqrt(m_i) L_i.
 * Output shapes come from one shape rule per op (./shapes.ts), constants are
 * folded with ONNX semantics (./fold.ts), and every product of bounds is
 * rounded up (./rounding.ts). Relu and Neg, Min/Max and the ReduceMin/Max of
 * a GroupSort also extend their inputs' symbolic views (./symbolic.ts).
 * Ops that are not Lipschitz (x*x without the L2-pooling Sqrt, TopK indices,
 * ...) get an infinite bound with the reason; shape arithmetic on constants
 * is folded. Rules only read the graph (no reader, no folding), so the
 * reader's folding can run them (./propagate.ts).
 */
import type { OnnxNode } from '../onnx/read';
import type { Bounder, SharedSym, Val } from './bounder';
import type { Expr } from './symbolic';
import type { RegisteredOp } from '../ops/registry';
import { convNormUpperBound, ConvBoundGeometry } from './conv';
import { handleConvTranspose } from './conv_transpose';
import { denseNormUpperBound, DenseNormBound } from './dense';
import { asFloats, ConstValues, foldBinary, foldUnary, isIntType, tensorValues } from './fold';
import { axisNorms, axisWork } from './pool';
import { mulUp, nextUp, roundedSumUp, sqrtUp } from './rounding';
import {
  alphaParams,
  batchNormParams,
  castParams,
  clipRange,
  concatAxis,
  constantNodeValue,
  constantOfShapeParams,
  convSpec,
  depthToSpaceParams,
  gatherIndices,
  gemmParams,
  globalPoolParams,
  padParams,
  poolParams,
  rangeCount,
  reduceAxes,
  shapeRange,
  sliceSelection,
  spaceToDepthParams,
  splitParams,
  topK,
  transposePerm,
} from '../ops/attributes';
import { padIndexMap } from './shapes';
import { applySllResidual } from './residual';
import { broadcastTo, concat, permute, range, select, sizeOf } from './tensor_ops';

/** Lipschitz constants of elementwise unary ops. */
const UNARY_LIP: Record<string, [number, string]> = {
  Relu: [1, 'Relu is 1-Lipschitz'],
  Neg: [1, 'negation'],
  Abs: [1, 'Abs is 1-Lipschitz'],
  Tanh: [1, 'Tanh is 1-Lipschitz'],
  Sigmoid: [0.25, 'Sigmoid is 1/4-Lipschitz'],
  Softmax: [1, 'Softmax is 1-Lipschitz (its Jacobian norm is at most 1/2)'],
  Clip: [1, 'Clip is 1-Lipschitz'],
};

/** Sets `out` to `node`'s output as symbolic expressions `exprs` over `sym`'s anchor (a recognized block in progress). */
function setSymbolic(b: Bounder, out: string, node: OnnxNode, sym: SharedSym, exprs: Int32Array, v: Pick<Val, 'shape' | 'dtype' | 'lip' | 'why'>): void {
  b.setVal(out, { ...v, isConst: false, producer: node, sym: { anchor: sym.anchor, exprs, nodes: [...sym.nodes, node.name] } });
}

/** Factor and method of a unary op; LeakyRelu and Elu from their alpha: max(1, |alpha|) (Elu's slope alpha e^x <= alpha for x < 0). */
function unaryLip(b: Bounder, node: OnnxNode): [number, string] {
  if (node.opType === 'LeakyRelu' || node.opType === 'Elu') {
    const { alpha } = alphaParams(b.shapeContext(node));
    return [Math.max(1, Math.abs(alpha)), `${node.opType} with alpha = ${alpha}: max(1, |alpha|)`];
  }
  // Clip's bounds must be constants (its parser refuses computed ones); any constant bounds keep it 1-Lipschitz.
  if (node.opType === 'Clip') clipRange(b.shapeContext(node));
  return UNARY_LIP[node.opType];
}

/** sqrt of a window mean of x*x (an L2-norm pooling); refused on any other value (sqrt is not Lipschitz at 0). */
function sqrtOfMeanSquare(b: Bounder, node: OnnxNode, x: Val, shape: number[]): void {
  const out = node.outputs[0];
  if (!x.meanSquare) {
    b.setVal(out, {
      shape,
      dtype: x.dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (${node.opType}) is not Lipschitz at 0 (only sqrt(AveragePool(x*x)), an L2-norm pooling, is supported)`,
    });
    return;
  }
  const inLip = b.lipOf(x.meanSquare.of);
  const v: Val = { shape, dtype: x.dtype, lip: mulUp(inLip, sqrtUp(x.meanSquare.colWeight)), isConst: false, producer: node };
  b.setVal(out, v);
  b.record(node, v, inLip, 'L2-norm pooling sqrt(mean(x*x)): sqrt(max over inputs of sum of 1/divisor of the windows reading it)');
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

/** An upper bound on x^y (Math.pow is within a few ulps, not correctly rounded). */
function powUp(x: number, y: number): number {
  return x ** y * (1 + 1e-14);
}

/** The element type all `vals` share, or a ModelError (ONNX requires equal types). */
function commonType(b: Bounder, node: OnnxNode, vals: Val[]): Val['dtype'] {
  const t = vals[0].dtype;
  if (vals.some((v) => v.dtype !== t)) b.fail(node, `its inputs have different element types (${vals.map((v) => v.dtype).join(', ')})`);
  return t;
}

/** Data inputs (as opposed to constant parameters) of a structural op. */
function dataInputs(node: OnnxNode): string[] {
  return node.opType === 'Concat' ? node.inputs.filter((x) => x) : [node.inputs[0]];
}

/** Ops whose output holds the input's elements in the same order. */
const IDENTITY_MOVES = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/**
 * Flat source indices (into the concatenated data inputs) of each output of
 * a structural op other than IDENTITY_MOVES, by the same parameter parsers
 * as its shape rule.
 */
function moves(b: Bounder, node: OnnxNode, x: number[], inShapes: number[][]): number[][] {
  const ctx = b.shapeContext(node);
  const ident = (): number[] => range(sizeOf(x));
  switch (node.opType) {
    case 'Transpose':
      return [permute(ident(), x, transposePerm(ctx)).data];
    case 'SpaceToDepth': {
      const { blockSize: bs } = spaceToDepthParams(ctx);
      const [n, c, h, w] = x;
      return [permute(ident(), [n, c, h / bs, bs, w / bs, bs], [0, 3, 5, 1, 2, 4]).data];
    }
    case 'DepthToSpace': {
      const { blockSize: bs, mode } = depthToSpaceParams(ctx);
      const [n, c, h, w] = x;
      const crd = mode === 'CRD';
      return [
        crd
          ? permute(ident(), [n, c / (bs * bs), bs, bs, h, w], [0, 1, 4, 2, 5, 3]).data
          : permute(ident(), [n, bs, bs, c / (bs * bs), h, w], [0, 3, 4, 1, 5, 2]).data,
      ];
    }
    case 'Slice':
      return [select(ident(), x, sliceSelection(ctx)).data];
    case 'Split': {
      const { axis, sizes } = splitParams(ctx);
      let at = 0;
      return sizes.map((s) => {
        const idx = x.map((d) => range(d));
        idx[axis] = range(s, at);
        at += s;
        return select(ident(), x, idx).data;
      });
    }
    case 'Gather': {
      const { axis, indices } = gatherIndices(ctx);
      const idx = x.map((d) => range(d));
      idx[axis] = indices;
      return [select(ident(), x, idx).data];
    }
    case 'Concat': {
      const axis = concatAxis(ctx);
      let offset = 0;
      const parts = inShapes.map((s) => {
        const data = range(sizeOf(s), offset);
        offset += sizeOf(s);
        return { shape: s, data };
      });
      return [concat(parts, axis).data];
    }
    default:
      return b.fail(node, 'not a structural op');
  }
}

function handleStructural(b: Bounder, node: OnnxNode): void {
  const names = dataInputs(node);
  const ins = names.map((n) => b.get(n));
  const dtype = commonType(b, node, ins);
  const outShapes = b.outShapes(node);
  const allConst = ins.every((v) => v.isConst);
  const allData = allConst && ins.every((v) => v.data);
  if (allConst && !allData) {
    outShapes.forEach((s, k) => b.setConst(node.outputs[k], s, dtype, undefined, node));
    return;
  }
  const identity = IDENTITY_MOVES.has(node.opType);
  if (identity && sizeOf(ins[0].shape) !== sizeOf(outShapes[0])) {
    b.fail(node, `cannot hold the ${sizeOf(ins[0].shape)} input elements in an output of shape [${outShapes[0].join(', ')}]`);
  }
  // Shapes only (folding, batch sizing): an input-dependent output needs its shape, not the element moves behind its bound.
  if (b.opts.shapesOnly && !allConst) {
    const inLip = ins.reduce((a, v) => (v.isConst ? a : Math.max(a, v.lip)), 0);
    outShapes.forEach((shape, k) => {
      if (node.outputs[k])
        b.setVal(node.outputs[k], { shape, dtype, lip: inLip, why: ins.find((v) => !Number.isFinite(v.lip))?.why, isConst: false, producer: node });
    });
    return;
  }
  const srcs = identity
    ? []
    : moves(
        b,
        node,
        ins[0].shape,
        ins.map((v) => v.shape),
      );
  srcs.forEach((src, k) => {
    if (src.length !== sizeOf(outShapes[k])) b.fail(node, `moves ${src.length} elements into an output of shape [${outShapes[k].join(', ')}]`);
  });
  if (allConst && identity) {
    b.setConst(node.outputs[0], outShapes[0], dtype, ins[0].data, node);
    return;
  }
  if (allConst) {
    const all: (number | bigint)[] = ins.flatMap((v) => Array.from(v.data! as ArrayLike<number | bigint>));
    outShapes.forEach((s, k) => b.setConst(node.outputs[k], s, dtype, srcs[k].map((j) => all[j]) as ConstValues, node));
    return;
  }
  const sizes = ins.map((v) => sizeOf(v.shape));
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, s) => a + s, 0));
  const owner = (j: number): number => {
    let i = ins.length - 1;
    while (i > 0 && offsets[i] > j) i--;
    return i;
  };
  // Multiplicity of each input's elements in each output: sqrt(sum_i m_i L_i^2).
  const lipFor = (src: number[], lips: number[]): number => {
    const mult = new Uint32Array(sizes.reduce((a, n) => a + n, 0));
    const mMax = new Array<number>(ins.length).fill(0);
    for (const j of src) {
      const m = ++mult[j];
      const i = owner(j);
      if (m > mMax[i]) mMax[i] = m;
    }
    const terms = ins.map((v, i) => (v.isConst || mMax[i] === 0 ? 0 : mMax[i] * lips[i] * lips[i]));
    if (terms.some((t) => !Number.isFinite(t))) return Infinity;
    const live = ins.filter((v, i) => !v.isConst && mMax[i] > 0);
    // One input read once: exactly its bound; otherwise sqrt(sum m_i L_i^2), rounded up.
    if (live.length === 1) {
      const i = ins.indexOf(live[0]);
      return mMax[i] === 1 ? lips[i] : mulUp(lips[i], sqrtUp(mMax[i]));
    }
    return sqrtUp(ins.reduce((a, v, i) => (v.isConst || mMax[i] === 0 ? a : nextUp(a + mulUp(mMax[i], mulUp(lips[i], lips[i])))), 0));
  };
  const why = ins.find((v) => !Number.isFinite(v.lip))?.why;
  const sym = ins.every((v) => !v.isConst) ? b.sharedSym(names) : null;
  if (sym) {
    const flat = sym.views.length === 1 ? sym.views[0] : new Int32Array(sizes.reduce((a, n) => a + n, 0));
    if (sym.views.length > 1) sym.views.forEach((view, i) => flat.set(view, offsets[i]));
    const lips = ins.map((v) => v.lip);
    outShapes.forEach((shape, k) => {
      if (!node.outputs[k]) return;
      // An identity move (Reshape, Flatten, ...) keeps the expressions and the bound.
      let exprs = flat;
      const src = srcs[k];
      if (!identity) {
        exprs = new Int32Array(src.length);
        for (let i = 0; i < src.length; i++) exprs[i] = flat[src[i]];
      }
      setSymbolic(b, node.outputs[k], node, sym, exprs, { shape, dtype, lip: identity ? lips[0] : lipFor(src, lips), why });
    });
    return;
  }
  const lips = ins.map((v, i) => (v.isConst ? 0 : b.lipOf(names[i])));
  const inLip = lips.reduce((a, l) => Math.max(a, l), -Infinity);
  outShapes.forEach((shape, k) => {
    if (!node.outputs[k]) return;
    const v: Val = { shape, dtype, lip: identity ? lips[0] : lipFor(srcs[k], lips), isConst: false, why, producer: node };
    b.setVal(node.outputs[k], v);
    b.record(node, v, inLip, node.opType === 'Concat' ? 'concatenation: sqrt(sum of squared input bounds)' : 'selects/permutes elements');
  });
}

function handleUnary(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const out = node.outputs[0];
  const [shape] = b.outShapes(node);
  if (x.isConst) {
    b.setConst(out, shape, x.dtype, x.data ? foldUnary(node.opType, x.dtype, x.data, `${b.file}: node '${node.name}' (${node.opType})`) : undefined, node);
    return;
  }
  if (node.opType === 'Sqrt') return sqrtOfMeanSquare(b, node, x, shape);
  if (x.meanSquare && (node.opType === 'Abs' || node.opType === 'Relu')) {
    // A window mean of x*x is >= 0: Abs and Relu return it unchanged (torch's lp_pool2d writes sign(m) * relu(|m|)).
    b.setVal(out, { ...x, shape, producer: node, equals: x.equals ?? name, sym: undefined });
    return;
  }
  if (node.opType === 'Sign') {
    b.setVal(out, {
      shape,
      dtype: x.dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      signOf: x.meanSquare ? (x.equals ?? name) : undefined,
      why: `node '${node.name}' (Sign) is not continuous (only sign(m) * relu(|m|) of torch's lp_pool2d, equal to m >= 0, is supported)`,
    });
    return;
  }
  const [k, method] = unaryLip(b, node);
  if (node.opType === 'Relu' || node.opType === 'Neg') {
    const s = b.symbolicOp([name], sizeOf(shape), node);
    if (s) {
      const exprs = s.sym.views[0].map((e) => (node.opType === 'Relu' ? s.store.relu(e) : s.store.neg(e)));
      setSymbolic(b, out, node, s.sym, exprs, { shape, dtype: x.dtype, lip: x.lip, why: x.why });
      return;
    }
  }
  const inLip = b.lipOf(name);
  const v: Val = { shape, dtype: x.dtype, lip: mulUp(inLip, k), why: x.why, isConst: false, producer: node };
  b.setVal(out, v);
  b.record(node, v, inLip, method);
}

function handleElementwise(b: Bounder, node: OnnxNode): void {
  const names = node.inputs.filter((n) => n);
  const ins = names.map((n) => b.get(n));
  const op = node.opType;
  const dtype = commonType(b, node, ins);
  const [outShape] = b.outShapes(node);
  const out = node.outputs[0];
  if (ins.every((v) => v.isConst)) {
    let data: ConstValues | undefined;
    if (ins.every((v) => v.data)) {
      b.checkShape(node, outShape);
      const where = `${b.file}: node '${node.name}' (${op})`;
      data = broadcastTo(ins[0].data! as ArrayLike<number | bigint>, ins[0].shape, outShape) as ConstValues;
      for (const v of ins.slice(1)) {
        const other = broadcastTo(v.data! as ArrayLike<number | bigint>, v.shape, outShape) as ConstValues;
        data = foldBinary(op, dtype, data, other, where);
      }
    }
    b.setConst(out, outShape, dtype, data, node);
    return;
  }
  if (isIntType(dtype)) {
    b.setVal(out, {
      shape: outShape,
      dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (${op}) computes ${dtype} values from the input, which is not a Lipschitz function`,
    });
    return;
  }
  const n = sizeOf(outShape);
  const rep = (v: Val): number => n / Math.max(1, sizeOf(v.shape));
  const vars = names.filter((_, i) => !ins[i].isConst);
  const why = vars.map((nm) => b.get(nm)).find((v) => !Number.isFinite(v.lip))?.why;
  // An SLL residual block x - A^T diag(g) relu(A x + b): its certificate (./residual.ts), else the rules below.
  if (op === 'Sub' && applySllResidual(b, node, outShape, dtype, why)) return;
  if (isCentering(node, names, ins, outShape)) {
    const inLip = b.lipOf(names[0]);
    const v: Val = { shape: outShape, dtype, lip: inLip, why, isConst: false, producer: node };
    b.setVal(out, v);
    b.record(node, v, inLip, 'centering y - GlobalAveragePool(y): the projection I - 11^T/n on each row, norm 1');
    return;
  }

  // Symbolic: two (or more, for Min/Max) variable inputs of one anchor, same shape, no constants.
  if (
    ['Add', 'Sub', 'Min', 'Max'].includes(op) &&
    vars.length === ins.length &&
    ins.length >= 2 &&
    (op === 'Min' || op === 'Max' || ins.length === 2) &&
    ins.every((v) => v.shape.join() === outShape.join())
  ) {
    const s = b.symbolicOp(names, n * (ins.length - 1), node);
    if (s) {
      const st = s.store;
      const f = op === 'Add' ? st.add.bind(st) : op === 'Sub' ? st.sub.bind(st) : op === 'Min' ? st.min.bind(st) : st.max.bind(st);
      const exprs = s.sym.views[0].map((e, i) => s.sym.views.slice(1).reduce((acc, view) => f(acc, view[i]), e));
      const lips = ins.map((v) => v.lip);
      const lip = op === 'Add' || op === 'Sub' ? lips.reduce((a, l) => nextUp(a + l), 0) : sqrtUp(lips.reduce((a, l) => nextUp(a + mulUp(l, l)), 0));
      setSymbolic(b, out, node, s.sym, exprs, { shape: outShape, dtype, lip, why });
      return;
    }
  }

  const lips = names.map((nm, i) => (ins[i].isConst ? 0 : b.lipOf(nm)));
  const inLip = lips.reduce((a, l) => Math.max(a, l), -Infinity);
  const rule = ELEMENTWISE[op];
  const r = rule(b, node, ins, lips, rep, inLip);
  const v: Val = { shape: outShape, dtype, lip: r.lip, why: r.extra?.why ?? why, isConst: false, producer: node, ...r.extra };
  b.setVal(out, v);
  if (Number.isFinite(r.lip)) b.record(node, v, inLip, r.method);
}

/**
 * `Sub(y, GlobalAveragePool(y))` (LayerCentering, as @lip/export writes it): y minus its
 * mean over axes 2.. for each (sample, channel), the orthogonal projection
 * I - 11^T/n on each row of n values. Its norm is 1 (0 when n = 1), so the
 * bound is y's; the generic Sub rule would give 2 L_y.
 */
function isCentering(node: OnnxNode, names: string[], ins: Val[], outShape: number[]): boolean {
  if (node.opType !== 'Sub' || ins.length !== 2 || ins[0].isConst || ins[1].isConst || !Number.isFinite(ins[0].lip)) return false;
  const mean = ins[1].producer;
  return mean?.opType === 'GlobalAveragePool' && mean.inputs[0] === names[0] && ins[0].shape.join() === outShape.join();
}

type ElementwiseRule = (
  b: Bounder,
  node: OnnxNode,
  ins: Val[],
  lips: number[],
  rep: (v: Val) => number,
  inLip: number,
) => { lip: number; method: string; extra?: Partial<Val> };

/** sum_i sqrt(m_i) L_i over the variable inputs (m_i their broadcast multiplicity). */
const sumRule: ElementwiseRule = (_b, _node, ins, lips, rep) => {
  const vars = ins.filter((v) => !v.isConst).length;
  // The first term is exact (0 + t = t): adding a constant keeps the bound (a translation), with no ulp added.
  const lip = ins.reduce((a, v, i) => (v.isConst ? a : a === 0 ? mulUp(sqrtUp(rep(v)), lips[i]) : nextUp(a + mulUp(sqrtUp(rep(v)), lips[i]))), 0);
  return { lip, method: vars === 1 ? 'adds a constant' : 'sum of the input bounds' };
};

/** sqrt(sum_i m_i L_i^2) over the variable inputs. */
const minMaxRule: ElementwiseRule = (_b, node, ins, lips, rep) => {
  const vars = ins.filter((v) => !v.isConst).length;
  const lip = sqrtUp(ins.reduce((a, v, i) => (v.isConst ? a : nextUp(a + mulUp(rep(v), mulUp(lips[i], lips[i])))), 0));
  return { lip, method: vars === 1 ? `elementwise ${node.opType.toLowerCase()} with a constant` : 'elementwise min/max: sqrt(sum of squared input bounds)' };
};

const mulRule: ElementwiseRule = (b, node, ins, _lips, rep, inLip) => {
  const names = node.inputs.filter((n) => n);
  const vars = names.filter((_, i) => !ins[i].isConst);
  if (vars.length === 1) {
    const x = ins.find((v) => !v.isConst)!;
    const cName = names[ins.findIndex((v) => v.isConst)];
    const c = b.floatConst(node, cName, 'constant factor');
    const cMax = maxAbs(c);
    const lip = mulUp(mulUp(sqrtUp(rep(x)), inLip), cMax);
    const method = `multiplies by a constant (max |c| = ${cMax.toPrecision(6)})`;
    if (x.meanSquare && minOf(c) >= 0) {
      // sqrt(c * mean(x^2)) (the portable L2 pool): a weighted L2 norm whose column weights scale by at most max c.
      return { lip, method, extra: { meanSquare: { of: x.meanSquare.of, colWeight: mulUp(mulUp(x.meanSquare.colWeight, rep(x)), cMax) }, why: x.why } };
    }
    return { lip, method };
  }
  if (vars.length === 2) {
    const [p, q] = ins;
    const same = (sign: Val, v: Val, vName: string): boolean => sign.signOf !== undefined && v.meanSquare !== undefined && sign.signOf === (v.equals ?? vName);
    const keep = same(p, q, names[1]) ? q : same(q, p, names[0]) ? p : null;
    if (keep) {
      return { lip: Infinity, method: 'sign(m) * m = m for m >= 0', extra: { meanSquare: keep.meanSquare, equals: keep.equals, why: keep.why } };
    }
  }
  if (vars.length === 2 && vars[0] === vars[1]) {
    return {
      lip: Infinity,
      method: 'square',
      extra: { square: vars[0], why: `node '${node.name}' (Mul) squares '${vars[0]}' (x*x is not Lipschitz; only sqrt(AveragePool(x*x)) is supported)` },
    };
  }
  return { lip: Infinity, method: 'product', extra: { why: `node '${node.name}' (Mul) multiplies two input-dependent tensors, which is not Lipschitz` } };
};

const divRule: ElementwiseRule = (b, node, ins, _lips, rep, inLip) => {
  if (!ins[0].isConst && ins[1].isConst) {
    const c = b.floatConst(node, node.inputs[1], 'divisor');
    const m = minAbs(c);
    if (!(m > 0)) return { lip: Infinity, method: 'division', extra: { why: `node '${node.name}' (Div) divides by zero` } };
    // x / c: the factor 1 / min |c|, rounded up.
    const lip = mulUp(mulUp(sqrtUp(rep(ins[0])), inLip), nextUp(1 / m));
    const method = `divides by a constant (min |c| = ${m.toPrecision(6)})`;
    if (ins[0].meanSquare && minOf(c) > 0) {
      return {
        lip,
        method,
        extra: { meanSquare: { of: ins[0].meanSquare.of, colWeight: mulUp(mulUp(ins[0].meanSquare.colWeight, rep(ins[0])), nextUp(1 / m)) }, why: ins[0].why },
      };
    }
    return { lip, method };
  }
  return { lip: Infinity, method: 'division', extra: { why: `node '${node.name}' (Div) divides by an input-dependent tensor, which is not Lipschitz` } };
};

const ELEMENTWISE: Record<string, ElementwiseRule> = { Add: sumRule, Sub: sumRule, Sum: sumRule, Min: minMaxRule, Max: minMaxRule, Mul: mulRule, Div: divRule };

/** A constant matrix operand as a float64 row-major matrix, as stored (a 1-D operand as one row). */
function matrix(b: Bounder, node: OnnxNode, i: number): { data: Float64Array; rows: number; cols: number } {
  const v = b.get(node.inputs[i]);
  const d = b.floatConst(node, node.inputs[i], `weight input ${i}`);
  if (v.shape.length !== 2 && v.shape.length !== 1) b.fail(node, `constant operand ${i} must be 1-D or 2-D, got [${v.shape.join(', ')}]`);
  // A 1-D operand of MatMul is a row (first operand) or a column (second); its norm is ||v||_2 either way.
  const [r, c] = v.shape.length === 2 ? v.shape : [1, v.shape[0]];
  return { data: d instanceof Float64Array ? d : Float64Array.from(d), rows: r, cols: c };
}

/**
 * Certified norm of constant operand `i`, transposed when `trans` (1 in shapes-only mode, where no norm is needed), and
 * its method text. ||W^T|| = ||W||: the bound is computed on the operand as stored, whose Gram on the smaller side is
 * the same dot products summed in the same order as its transpose's (the same bits, with no transposition to make);
 * only the dims in the text follow `trans`.
 */
function weightNorm(b: Bounder, node: OnnxNode, i: number, trans: boolean): { norm: number; method: string } {
  if (b.opts.shapesOnly) return { norm: 1, method: '' };
  const w = matrix(b, node, i);
  const r: DenseNormBound = denseNormUpperBound(w.data, w.rows, w.cols, b.limits.denseWork);
  const what = trans ? `${w.cols}x${w.rows} weight` : `${w.rows}x${w.cols} weight`;
  if (r.method === 'exact') return { norm: r.bound, method: `certified spectral norm of the ${what} (${r.bound.toPrecision(8)})` };
  const why = `exact norm over the work limit of ${b.limits.denseWork.toExponential(0)} multiply-adds`;
  if (r.method === 'block') {
    return { norm: r.bound, method: `block bound of the ${what}: ||W||^2 <= sum of ${r.blocks} blocks' certified ||W_b||^2 (${why})` };
  }
  return { norm: r.bound, method: `sqrt(||W||_1 ||W||_inf) of the ${what} (${why})` };
}

function handleGemm(b: Bounder, node: OnnxNode): void {
  const [an, bn, cn] = node.inputs;
  const A = b.get(an);
  const B = b.get(bn);
  const [outShape] = b.outShapes(node);
  const dtype = commonType(b, node, [A, B]);
  const { alpha, beta, transA, transB } = gemmParams(b.shapeContext(node));
  const out = node.outputs[0];
  const C = cn ? b.get(cn) : undefined;
  if (A.isConst && B.isConst && (!C || C.isConst)) {
    b.setConst(out, outShape, dtype, undefined, node);
    return;
  }
  let lip: number;
  let inLip: number;
  let method: string;
  if (!A.isConst && B.isConst) {
    inLip = b.lipOf(an);
    const { norm, method: m } = weightNorm(b, node, 1, transB);
    lip = mulUp(mulUp(inLip, Math.abs(alpha)), norm);
    method = m;
  } else if (A.isConst && !B.isConst) {
    inLip = b.lipOf(bn);
    const { norm, method: m } = weightNorm(b, node, 0, transA);
    lip = mulUp(mulUp(inLip, Math.abs(alpha)), norm);
    method = m;
  } else if (!A.isConst && !B.isConst) {
    b.setVal(out, {
      shape: outShape,
      dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (Gemm) multiplies two input-dependent tensors, which is not Lipschitz`,
    });
    return;
  } else {
    inLip = 0;
    lip = 0;
    method = 'constant product';
  }
  if (C && !C.isConst) {
    const cl = b.lipOf(cn);
    lip = nextUp(lip + mulUp(mulUp(Math.abs(beta), sqrtUp(sizeOf(outShape) / Math.max(1, sizeOf(C.shape)))), cl));
    inLip = Math.max(inLip, cl);
    method += `, plus |beta| x the bound of its input-dependent C`;
  }
  const why = [A, B, C].find((x) => x && !x.isConst && !Number.isFinite(x.lip))?.why;
  const v: Val = { shape: outShape, dtype, lip, why, isConst: false, producer: node };
  b.setVal(out, v);
  b.record(node, v, inLip, method);
}

function handleMatMul(b: Bounder, node: OnnxNode): void {
  const [an, bn] = node.inputs;
  const A = b.get(an);
  const B = b.get(bn);
  const out = node.outputs[0];
  const [outShape] = b.outShapes(node);
  const dtype = commonType(b, node, [A, B]);
  if (A.isConst && B.isConst) {
    b.setConst(out, outShape, dtype, undefined, node);
    return;
  }
  if (!A.isConst && !B.isConst) {
    b.setVal(out, {
      shape: outShape,
      dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (MatMul) multiplies two input-dependent tensors, which is not Lipschitz`,
    });
    return;
  }
  const wi = A.isConst ? 0 : 1;
  const W = wi === 0 ? A : B;
  if (W.shape.length > 2) b.fail(node, `the constant operand must be 1-D or 2-D, got [${W.shape.join(', ')}]`);
  const inLip = b.lipOf(wi === 0 ? bn : an);
  const { norm, method } = weightNorm(b, node, wi, false);
  const v: Val = { shape: outShape, dtype, lip: mulUp(inLip, norm), why: (wi === 0 ? B : A).why, isConst: false, producer: node };
  b.setVal(out, v);
  b.record(node, v, inLip, method);
}

function handlePool(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const op = node.opType;
  const out = node.outputs[0];
  const outShapes = b.outShapes(node);
  const outShape = outShapes[0];
  if (op.startsWith('Global')) {
    const area = sizeOf(x.shape.slice(2));
    if (x.isConst) return b.setConst(out, outShape, x.dtype, undefined, node);
    if (op === 'GlobalAveragePool' && x.square) {
      b.setVal(out, {
        shape: outShape,
        dtype: x.dtype,
        lip: Infinity,
        isConst: false,
        producer: node,
        meanSquare: { of: x.square, colWeight: nextUp(1 / area) },
        why: `node '${node.name}' (GlobalAveragePool of x*x) must be followed by Sqrt`,
      });
      return;
    }
    const inLip = b.lipOf(name);
    let k = 1;
    let method = 'global max over disjoint channels: 1-Lipschitz';
    if (op === 'GlobalAveragePool') {
      // Two roundings (sqrt, division), each within half an ulp: two steps up cover them.
      k = nextUp(nextUp(1 / Math.sqrt(area)));
      method = `global average of ${area} cells: 1/sqrt(${area})`;
    } else if (op === 'GlobalLpPool') {
      const { p } = globalPoolParams(b.shapeContext(node));
      k = p >= 2 ? 1 : powUp(area, 1 / p - 0.5);
      method = `global L${p} norm per channel`;
    }
    const v: Val = { shape: outShape, dtype: x.dtype, lip: mulUp(inLip, k), why: x.why, isConst: false, producer: node };
    b.setVal(out, v);
    b.record(node, v, inLip, method);
    return;
  }
  const { axes, countIncludePad, p } = poolParams(b.shapeContext(node));
  // axisNorms walks every tap of every window: refuse geometry whose walk is larger than any value may be.
  axes.forEach((a, i) => b.checkShape(node, [axisWork(a)], `the window taps on axis ${i + 2}`));
  if (x.isConst) return b.setConst(out, outShape, x.dtype, undefined, node);
  if (outShapes.length > 1 && node.outputs[1]) {
    b.setVal(node.outputs[1], {
      shape: outShapes[1],
      dtype: 'int64',
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (MaxPool) indices are not a continuous function of the input`,
    });
  }
  const norms = axes.map((a) => axisNorms(a, countIncludePad));
  const kernel = axes.map((a) => a.kernel).join('x');
  // The pooling matrix is the Kronecker product of the axes' matrices: its 1- and inf-norms are products.
  const product = (f: (n: (typeof norms)[number]) => number, ops: (a: (typeof axes)[number]) => number): number =>
    norms.reduce((acc, n, i) => mulUp(acc, roundedSumUp(f(n), ops(axes[i]))), 1);
  if (op === 'AveragePool' && x.square) {
    const colWeight = product(
      (n) => n.maxCol,
      (a) => 2 * a.kernel,
    );
    b.setVal(out, {
      shape: outShape,
      dtype: x.dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      meanSquare: { of: x.square, colWeight },
      why: `node '${node.name}' (AveragePool of x*x) must be followed by Sqrt`,
    });
    return;
  }
  const inLip = b.lipOf(name);
  const cover = norms.reduce((a, n) => a * n.maxCover, 1);
  let k: number;
  let method: string;
  if (op === 'AveragePool') {
    const maxRow = product(
      (n) => n.maxRow,
      () => 2,
    );
    const maxCol = product(
      (n) => n.maxCol,
      (a) => 2 * a.kernel,
    );
    k = sqrtUp(mulUp(maxRow, maxCol));
    method = `average pooling ${kernel}: sqrt(||A||_1 ||A||_inf) with onnxruntime's divisors`;
  } else if (op === 'LpPool') {
    // ||v||_p <= ||v||_2 for p >= 2, <= c^(1/p - 1/2) ||v||_2 for a window of c cells.
    const cells = norms.reduce((a, n) => a * n.maxCells, 1);
    k = mulUp(sqrtUp(cover), p >= 2 ? 1 : powUp(cells, 1 / p - 0.5));
    method = `L${p} pooling ${kernel}: window norms, each cell in at most ${cover} windows`;
  } else {
    k = sqrtUp(cover);
    method = `max pooling ${kernel}: each cell in at most ${cover} windows`;
  }
  const v: Val = { shape: outShape, dtype: x.dtype, lip: mulUp(inLip, k), why: x.why, isConst: false, producer: node };
  b.setVal(out, v);
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
  const dtype = commonType(b, node, [x, W]);
  const [outShape] = b.outShapes(node);
  const spec = convSpec(b.shapeContext(node));
  const oneD = x.shape.length === 3;
  const lift = (v: number[], dflt: number): number[] => (oneD ? [dflt, ...v] : v);
  const kernel = lift(spec.kernel, 1);
  const dil = lift(
    spec.axes.map((a) => a.dilation),
    1,
  );
  // The bound expands dilations into a dense kernel: refuse one larger than any value may be.
  b.checkShape(node, [spec.cout, spec.cinPerGroup, (kernel[0] - 1) * dil[0] + 1, (kernel[1] - 1) * dil[1] + 1], 'the dilated kernel');
  if (x.isConst) return b.setConst(out, outShape, dtype, undefined, node);
  const axes = oneD ? [{ n: 1, kernel: 1, stride: 1, dilation: 1, padBegin: 0, padEnd: 0, out: 1 }, ...spec.axes] : spec.axes;
  const geo: ConvBoundGeometry = {
    cout: spec.cout,
    cinPerGroup: spec.cinPerGroup,
    group: spec.group,
    kernel: [kernel[0], kernel[1]],
    strides: [axes[0].stride, axes[1].stride],
    dilations: [dil[0], dil[1]],
    pads: [axes[0].padBegin, axes[1].padBegin, axes[0].padEnd, axes[1].padEnd],
    inHW: [axes[0].n, axes[1].n],
    outHW: [axes[0].out, axes[1].out],
  };
  const inLip = b.lipOf(xn);
  if (b.opts.shapesOnly) {
    b.setVal(out, { shape: outShape, dtype, lip: inLip, why: x.why, isConst: false, producer: node });
    return;
  }
  const weights = b.floatConst(node, wn, 'weights');
  const cb = convNormUpperBound(weights, geo, b.opts.exactConv !== false, { exact: b.limits.convExactWork, circular: b.limits.convCircularWork });
  const v: Val = { shape: outShape, dtype, lip: mulUp(inLip, cb.bound), why: x.why, isConst: false, producer: node };
  b.setVal(out, v);
  foldBatchNormIntoConv(b, node, weights, geo, inLip);
  const grid = `${geo.inHW[0] + (kernel[0] - 1) * dil[0]}x${geo.inHW[1] + (kernel[1] - 1) * dil[1]}`;
  const methods: Record<typeof cb.method, string> = {
    exact: `certified exact norm on ${geo.inHW.join('x')} inputs (Gram + Cholesky; circular bound ${cb.circular === null ? 'not computed' : cb.circular.toPrecision(6)})`,
    circular: `circular-convolution spectrum on a ${grid} grid (Sedghi et al. 2019)`,
    patch: `patch bound ||K_mat|| sqrt(cover) (${cb.note})`,
    'one-inf': `sqrt(||A||_1 ||A||_inf) of the kernel (${cb.note})`,
  };
  b.record(node, v, inLip, methods[cb.method]);
}

function handleReduce(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const [outShape] = b.outShapes(node);
  const out = node.outputs[0];
  if (x.isConst) return b.setConst(out, outShape, x.dtype, undefined, node);
  if (node.opType !== 'ReduceL2' && reduceSymbolic(b, node, x, outShape)) return;
  const inLip = b.lipOf(name);
  const v: Val = { shape: outShape, dtype: x.dtype, lip: inLip, why: x.why, isConst: false, producer: node };
  b.setVal(out, v);
  b.record(node, v, inLip, `${node.opType} over disjoint groups: 1-Lipschitz`);
}

/** One sort gate per group of expressions, shared by the ReduceMin and ReduceMax of a GroupSort (deel-torchlip's export). */
const SORT_GATES = new WeakMap<object, Map<string, Expr[] | null>>();

/**
 * ReduceMin / ReduceMax as the first / last output of a sort gate over each
 * reduced group, so that Concat(ReduceMin, ReduceMax) over groups is
 * recognized as a GroupSort (1-Lipschitz) by the block check.
 */
function reduceSymbolic(b: Bounder, node: OnnxNode, x: Val, outShape: number[]): boolean {
  const { axes } = reduceAxes(b.shapeContext(node));
  const n = sizeOf(x.shape);
  const s = b.symbolicOp([node.inputs[0]], n, node);
  if (!s) return false;
  const st = s.store;
  let gates = SORT_GATES.get(st);
  if (!gates) SORT_GATES.set(st, (gates = new Map()));
  // Output index of each input element: the reduced axes collapse to 0.
  const kept = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
  const groups: Expr[][] = Array.from({ length: sizeOf(kept) }, () => []);
  const idx = new Array<number>(x.shape.length).fill(0);
  const view = s.sym.views[0];
  for (let i = 0; i < n; i++) {
    let o = 0;
    for (let ax = 0; ax < kept.length; ax++) o = o * kept[ax] + (axes.has(ax) ? 0 : idx[ax]);
    groups[o].push(view[i]);
    for (let ax = x.shape.length - 1; ax >= 0; ax--) {
      if (++idx[ax] < x.shape[ax]) break;
      idx[ax] = 0;
    }
  }
  const exprs = new Int32Array(groups.length);
  for (let g = 0; g < groups.length; g++) {
    const members = groups[g];
    if (members.length === 1) {
      exprs[g] = members[0];
      continue;
    }
    const key = members.join(',');
    let sorted = gates.get(key);
    if (sorted === undefined) gates.set(key, (sorted = st.sort(members)));
    if (!sorted) return false;
    exprs[g] = node.opType === 'ReduceMin' ? sorted[0] : sorted[sorted.length - 1];
  }
  setSymbolic(b, node.outputs[0], node, s.sym, exprs, { shape: outShape, dtype: x.dtype, lip: x.lip, why: x.why });
  return true;
}

function handleTopK(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const outShapes = b.outShapes(node);
  const outShape = outShapes[0];
  const { axis, k, sorted } = topK(b.shapeContext(node));
  if (node.outputs[1]) {
    b.setVal(node.outputs[1], {
      shape: outShapes[1],
      dtype: 'int64',
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (TopK) indices are not a continuous function of the input`,
    });
  }
  const out = node.outputs[0];
  if (x.isConst) return b.setConst(out, outShape, x.dtype, undefined, node);
  if (!sorted && k > 1) {
    // Unsorted, the K values come in an order the runtime picks (heap or partition order): not continuous.
    b.setVal(out, {
      shape: outShape,
      dtype: x.dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (TopK with sorted = 0) returns its ${k} values in an unspecified order, which is not a continuous function of the input`,
    });
    return;
  }
  const s = b.symbolicOp([name], sizeOf(x.shape), node);
  if (s) {
    const st = s.store;
    const inner = sizeOf(x.shape.slice(axis + 1));
    const outer = sizeOf(x.shape.slice(0, axis));
    const n = x.shape[axis];
    const exprs = new Int32Array(outer * k * inner);
    let ok = true;
    for (let o = 0; o < outer && ok; o++) {
      for (let i = 0; i < inner && ok; i++) {
        const members = range(n).map((j) => s.sym.views[0][(o * n + j) * inner + i]);
        const sorted = st.sort(members);
        if (!sorted) {
          ok = false;
          break;
        }
        for (let r = 0; r < k; r++) exprs[(o * k + r) * inner + i] = sorted[r];
      }
    }
    if (ok) {
      setSymbolic(b, out, node, s.sym, exprs, { shape: outShape, dtype: x.dtype, lip: x.lip, why: x.why });
      return;
    }
  }
  const inLip = b.lipOf(name);
  const v: Val = { shape: outShape, dtype: x.dtype, lip: inLip, why: x.why, isConst: false, producer: node };
  b.setVal(out, v);
  b.record(node, v, inLip, 'sorting along an axis is 1-Lipschitz');
}

function handlePad(b: Bounder, node: OnnxNode): void {
  const name = node.inputs[0];
  const x = b.get(name);
  const [outShape] = b.outShapes(node);
  const { pads, mode, value } = padParams(b.shapeContext(node));
  const fill = isIntType(x.dtype) ? BigInt(Math.trunc(value)) : value;
  const out = node.outputs[0];
  const r = x.shape.length;
  const maps = x.shape.map((n, i) => padIndexMap(n, pads[i], pads[i + r], mode));
  if (x.isConst) {
    let data: ConstValues | undefined;
    if (x.data) {
      const src = selectPadded(x.shape, maps);
      const d = x.data as ArrayLike<number | bigint>;
      data = src.map((j) => (j < 0 ? fill : d[j])) as ConstValues;
    }
    return b.setConst(out, outShape, x.dtype, data, node);
  }
  // The pad map is a product of per-axis selections: an input element is copied prod_axes(copies on that axis)
  // times, and the map's norm is sqrt(max copies) (reflect and edge copy border elements more than once).
  let copies = 1;
  for (const m of maps) {
    const count = new Uint32Array(Math.max(1, Math.max(...m, -1) + 1));
    let most = 0;
    for (const j of m) if (j >= 0) most = Math.max(most, ++count[j]);
    copies *= most;
  }
  if (mode === 'constant' && x.square && value === 0 && pads.every((p) => p >= 0)) {
    // Zero padding of x*x is x*x of zero-padded x (torch's lp_pool2d pads the squares).
    b.setVal(out, { shape: outShape, dtype: x.dtype, lip: Infinity, isConst: false, producer: node, square: x.square, why: x.why });
    return;
  }
  const inLip = b.lipOf(name);
  const k = copies <= 1 ? 1 : sqrtUp(copies);
  const v: Val = { shape: outShape, dtype: x.dtype, lip: mulUp(inLip, k), why: x.why, isConst: false, producer: node };
  b.setVal(out, v);
  b.record(
    node,
    v,
    inLip,
    mode === 'constant' ? 'constant padding (or cropping)' : `${mode} padding: each element copied at most ${copies} times, sqrt(${copies})`,
  );
}

/** Flat source index of each output element of a per-axis index selection (-1: filled in). */
function selectPadded(shape: readonly number[], maps: number[][]): number[] {
  let out = [0];
  let size = 1;
  shape.forEach((n, ax) => {
    const next: number[] = [];
    for (const base of out) for (const j of maps[ax]) next.push(base < 0 || j < 0 ? -1 : base * n + j);
    out = next;
    size *= n;
  });
  return size === 0 ? out.map(() => -1) : out;
}

/** BatchNormalization in inference: y_c = s_c (x_c - mean_c) + B_c, s_c = scale_c / sqrt(var_c + eps); factor max |s_c|. */
function handleBatchNorm(b: Bounder, node: OnnxNode): void {
  const x = b.get(node.inputs[0]);
  const [outShape] = b.outShapes(node);
  for (let i = 1; i <= 4; i++) if (!b.get(node.inputs[i]).isConst) b.fail(node, `its parameter input ${i} must be a constant tensor`);
  if (x.isConst) return b.setConst(node.outputs[0], outShape, x.dtype, undefined, node);
  const inLip = b.lipOf(node.inputs[0]);
  if (b.opts.shapesOnly) {
    b.setVal(node.outputs[0], { shape: outShape, dtype: x.dtype, lip: inLip, why: x.why, isConst: false, producer: node });
    return;
  }
  const scale = b.floatConst(node, node.inputs[1], 'scale');
  const variance = b.floatConst(node, node.inputs[4], 'variance');
  const eps = batchNormParams(b.shapeContext(node)).epsilon;
  let k = 0;
  for (let c = 0; c < scale.length; c++) {
    const den = variance[c] + eps;
    if (!(den > 0)) b.fail(node, `variance + epsilon = ${den} at channel ${c} must be > 0`);
    // |scale| / sqrt(den): the sqrt and the division each round within half an ulp; two steps up cover them.
    k = Math.max(k, nextUp(nextUp(Math.abs(scale[c]) / Math.sqrt(den))));
  }
  const folded = FOLDED_BN.get(b)?.get(node);
  if (folded !== undefined && folded.lip < mulUp(inLip, k)) {
    const v: Val = { shape: outShape, dtype: x.dtype, lip: folded.lip, why: x.why, isConst: false, producer: node };
    b.setVal(node.outputs[0], v);
    b.record(
      node,
      v,
      inLip,
      `batch normalization folded into conv '${folded.conv}': certified norm of the scaled conv ` +
        `${folded.norm.toPrecision(6)} (instead of max_c |s_c| = ${k.toPrecision(6)} times the conv's)`,
    );
    return;
  }
  const v: Val = { shape: outShape, dtype: x.dtype, lip: mulUp(inLip, k), why: x.why, isConst: false, producer: node };
  b.setVal(node.outputs[0], v);
  b.record(node, v, inLip, `batch normalization (inference): max_c |scale_c| / sqrt(var_c + eps) = ${k.toPrecision(6)}`);
}

/** Bounds of BatchNormalization nodes folded into the Conv before them, per bound computation. */
const FOLDED_BN = new WeakMap<Bounder, Map<OnnxNode, { lip: number; norm: number; conv: string }>>();

/**
 * When a Conv's output is read only by a BatchNormalization (inference,
 * constant parameters), bounds the pair as one conv whose output channel c is
 * scaled by t_c >= |s_c|, s_c = scale_c / sqrt(var_c + eps): scaling the rows
 * of an operator A by factors no larger in magnitude cannot raise its norm
 * (diag(s) A = diag(s/t) diag(t) A with |s/t| <= 1, and signs are orthogonal),
 * so ||diag(s) A|| <= ||diag(t) A||. The scaled weights are formed in float64;
 * their rounding (a relative 2^-53 per entry, at most sqrt(entries) 2^-53 of
 * the norm) is covered by a factor 1 + 1e-9. The BatchNorm then adds a bias.
 */
function foldBatchNormIntoConv(b: Bounder, conv: OnnxNode, weights: ArrayLike<number>, geo: ConvBoundGeometry, inLip: number): void {
  const out = conv.outputs[0];
  const readers = b.model.nodes.filter((n) => n.inputs.includes(out));
  const bn = readers.length === 1 && readers[0].opType === 'BatchNormalization' && readers[0].inputs[0] === out ? readers[0] : null;
  if (!bn || b.model.outputs.some((o) => o.name === out) || ![1, 2, 3, 4].every((i) => bn.inputs[i] && b.get(bn.inputs[i]).isConst)) return;
  const scale = b.floatConst(bn, bn.inputs[1], 'scale');
  const variance = b.floatConst(bn, bn.inputs[4], 'variance');
  const eps = batchNormParams(b.shapeContext(bn)).epsilon;
  if (scale.length !== geo.cout || variance.length !== geo.cout) return;
  const perOut = weights.length / geo.cout;
  const scaled = new Float64Array(weights.length);
  for (let c = 0; c < geo.cout; c++) {
    const den = variance[c] + eps;
    if (!(den > 0)) return;
    const t = nextUp(nextUp(Math.abs(scale[c]) / Math.sqrt(den)));
    for (let j = c * perOut; j < (c + 1) * perOut; j++) scaled[j] = weights[j] * t;
  }
  const cb = convNormUpperBound(scaled, geo, b.opts.exactConv !== false, { exact: b.limits.convExactWork, circular: b.limits.convCircularWork });
  const norm = mulUp(cb.bound, 1 + 1e-9);
  let map = FOLDED_BN.get(b);
  if (!map) FOLDED_BN.set(b, (map = new Map()));
  map.set(bn, { lip: mulUp(inLip, norm), norm, conv: conv.name });
}

/** Pow: folded on constants; x^1 is x, x^2 marks a square (for L2 pooling), m^0.5 of a window mean of x*x is an L2 pooling. */
function handlePow(b: Bounder, node: OnnxNode): void {
  const [xn, en] = node.inputs;
  const x = b.get(xn);
  const e = b.get(en);
  const [shape] = b.outShapes(node);
  const out = node.outputs[0];
  if (x.isConst && e.isConst) {
    let data: ConstValues | undefined;
    if (x.data && e.data && !isIntType(x.dtype)) {
      const xs = broadcastTo(asFloats(x.data), x.shape, shape);
      const es = broadcastTo(asFloats(e.data), e.shape, shape);
      const round = x.dtype === 'float32' ? Math.fround : (v: number): number => v;
      data = xs.map((v, i) => round(v ** es[i]));
    }
    return b.setConst(out, shape, x.dtype, x.dtype === 'float16' ? undefined : data, node);
  }
  const exps = e.isConst && e.data ? asFloats(e.data) : null;
  const p = exps && exps.every((v) => v === exps[0]) && exps.length > 0 ? exps[0] : NaN;
  if (x.isConst || !Number.isFinite(p) || sizeOf(shape) !== sizeOf(x.shape)) {
    b.setVal(out, {
      shape,
      dtype: x.dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (Pow) raises to an input-dependent or broadcasting power, which is not Lipschitz`,
    });
    return;
  }
  if (p === 1) {
    b.setVal(out, { ...x, shape, producer: node });
    return;
  }
  if (p === 0.5) return sqrtOfMeanSquare(b, node, x, shape);
  if (p === 2) {
    // Refine x's bound (its block check) now: its symbolic view is dropped after this, its last reader.
    b.lipOf(xn);
    b.setVal(out, {
      shape,
      dtype: x.dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      square: xn,
      why: `node '${node.name}' (Pow) squares '${xn}' (x^2 is not Lipschitz; only sqrt(AveragePool(x^2)) is supported)`,
    });
    return;
  }
  b.setVal(out, {
    shape,
    dtype: x.dtype,
    lip: Infinity,
    isConst: false,
    producer: node,
    why: `node '${node.name}' (Pow) raises to the power ${p}, which is not globally Lipschitz (only x^2 inside an L2 pooling and x^1 are)`,
  });
}

/** Dropout in inference is the identity (its mask is all true); training mode is refused. */
function handleDropout(b: Bounder, node: OnnxNode): void {
  const [shape] = b.outShapes(node);
  const training = node.inputs[2] ? b.get(node.inputs[2]) : undefined;
  if (training && (!training.isConst || !training.data || training.data[0])) b.fail(node, 'training_mode must be a constant false');
  b.setVal(node.outputs[0], { ...b.get(node.inputs[0]), shape, producer: node });
  if (node.outputs[1]) b.setConst(node.outputs[1], shape, 'bool', new Array<bigint>(sizeOf(shape)).fill(1n), node);
}

/** Cast: folded on constants (ONNX: float -> int truncates toward zero, -> bool is != 0); float -> float is the identity. */
function handleCast(b: Bounder, node: OnnxNode): void {
  const x = b.get(node.inputs[0]);
  const [shape] = b.outShapes(node);
  const out = node.outputs[0];
  const { to } = castParams(b.shapeContext(node));
  if (x.isConst) {
    let data: ConstValues | undefined;
    if (x.data) {
      const src = Array.from(x.data as ArrayLike<number | bigint>);
      if (to === 'bool') data = src.map((v) => (Number(v) !== 0 ? 1n : 0n));
      else if (isIntType(to)) {
        if (src.some((v) => typeof v === 'number' && !Number.isFinite(v))) b.fail(node, 'casts a non-finite constant to an integer type');
        data = foldUnary(
          'Identity',
          to,
          src.map((v) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(v)))),
          b.file,
        );
      } else if (to !== 'float16') data = foldUnary('Identity', to, src.map(Number), b.file);
    }
    return b.setConst(out, shape, to, data, node);
  }
  if (isIntType(to) || isIntType(x.dtype)) {
    b.setVal(out, {
      shape,
      dtype: to,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (Cast to ${to}) rounds input-dependent values to integers, which is not continuous`,
    });
    return;
  }
  b.setVal(out, { ...x, shape, dtype: to, producer: node });
}

/** Shape arithmetic that foldModel folds: Shape (of any value), ConstantOfShape, Range, Expand, Equal and Where on constants. */
function handleShapeArithmetic(b: Bounder, node: OnnxNode): void {
  const [shape] = b.outShapes(node);
  const out = node.outputs[0];
  const ctx = b.shapeContext(node);
  const op = node.opType;
  if (op === 'Shape') {
    const dims = b.get(node.inputs[0]).shape;
    return b.setConst(
      out,
      shape,
      'int64',
      shapeRange(ctx).map((i) => BigInt(dims[i])),
      node,
    );
  }
  if (op === 'ConstantOfShape') {
    const t = constantOfShapeParams(ctx).value;
    const dtype = t ? t.dataType : 'float32';
    const v = t ? tensorValues(t)[0] : 0;
    return b.setConst(out, shape, dtype, new Array(sizeOf(shape)).fill(v) as ConstValues, node);
  }
  if (op === 'Range') {
    const t = b.get(node.inputs[0]);
    const { start, delta, n } = rangeCount(ctx);
    b.checkShape(node, shape);
    return b.setConst(
      out,
      shape,
      t.dtype,
      range(n).map((i) => BigInt(start + i * delta)),
      node,
    );
  }
  const ins = node.inputs.map((n) => b.get(n));
  if (op === 'Expand' && !ins[0].isConst) {
    const x = ins[0];
    const inLip = b.lipOf(node.inputs[0]);
    // Broadcasting copies every element out/in times.
    const m = sizeOf(shape) / Math.max(1, sizeOf(x.shape));
    const v: Val = { shape, dtype: x.dtype, lip: m <= 1 ? inLip : mulUp(inLip, sqrtUp(m)), why: x.why, isConst: false, producer: node };
    b.setVal(out, v);
    b.record(node, v, inLip, `broadcast: each element copied ${m} times`);
    return;
  }
  const dtype = op === 'Equal' ? 'bool' : op === 'Where' ? ins[1].dtype : ins[0].dtype;
  if (!ins.every((v) => v.isConst)) {
    b.setVal(out, {
      shape,
      dtype,
      lip: Infinity,
      isConst: false,
      producer: node,
      why: `node '${node.name}' (${op}) on input-dependent values is not supported (only shape arithmetic on constants)`,
    });
    return;
  }
  if (!ins.every((v) => v.data)) return b.setConst(out, shape, dtype, undefined, node);
  b.checkShape(node, shape);
  const [a, c, d] = ins.map((v) => broadcastTo(v.data! as ArrayLike<number | bigint>, v.shape, shape));
  if (op === 'Expand') return b.setConst(out, shape, dtype, a as ConstValues, node);
  if (op === 'Equal')
    return b.setConst(
      out,
      shape,
      dtype,
      a.map((v, i) => (v === c[i] ? 1n : 0n)),
      node,
    );
  return b.setConst(out, shape, dtype, a.map((cond, i) => (cond ? c[i] : d[i])) as ConstValues, node);
}

/** Constant: its value (the Constant op's parser). */
function handleConstant(b: Bounder, node: OnnxNode): void {
  const t = constantNodeValue(node, b.model.source);
  b.setConst(node.outputs[0], [...t.dims], t.dataType, tensorValues(t), node);
}

type BoundRule = (b: Bounder, node: OnnxNode) => void;

/** One bound rule per operator the reader accepts, by category as in the registry. */
export const BOUND_RULES: Readonly<Record<string, BoundRule | undefined>> = {
  Relu: handleUnary,
  Neg: handleUnary,
  Abs: handleUnary,
  Sigmoid: handleUnary,
  Tanh: handleUnary,
  Sqrt: handleUnary,
  Softmax: handleUnary,
  LeakyRelu: handleUnary,
  Elu: handleUnary,
  Clip: handleUnary,
  Sign: handleUnary,
  Add: handleElementwise,
  Sub: handleElementwise,
  Mul: handleElementwise,
  Div: handleElementwise,
  Min: handleElementwise,
  Max: handleElementwise,
  Sum: handleElementwise,
  Pow: handlePow,
  Gemm: handleGemm,
  MatMul: handleMatMul,
  Conv: handleConv,
  ConvTranspose: handleConvTranspose,
  BatchNormalization: handleBatchNorm,
  AveragePool: handlePool,
  MaxPool: handlePool,
  LpPool: handlePool,
  GlobalAveragePool: handlePool,
  GlobalLpPool: handlePool,
  GlobalMaxPool: handlePool,
  ReduceL2: handleReduce,
  ReduceMax: handleReduce,
  ReduceMin: handleReduce,
  TopK: handleTopK,
  Identity: handleStructural,
  Reshape: handleStructural,
  Flatten: handleStructural,
  Squeeze: handleStructural,
  Unsqueeze: handleStructural,
  Transpose: handleStructural,
  DepthToSpace: handleStructural,
  SpaceToDepth: handleStructural,
  Slice: handleStructural,
  Split: handleStructural,
  Gather: handleStructural,
  Concat: handleStructural,
  Pad: handlePad,
  Dropout: handleDropout,
  Cast: handleCast,
  Constant: handleConstant,
  Shape: handleShapeArithmetic,
  ConstantOfShape: handleShapeArithmetic,
  Range: handleShapeArithmetic,
  Expand: handleShapeArithmetic,
  Equal: handleShapeArithmetic,
  Where: handleShapeArithmetic,
} satisfies Record<RegisteredOp, BoundRule>;

/** Operators the bound has a rule for, sorted. */
export const BOUND_OPS: readonly string[] = Object.keys(BOUND_RULES).sort();
