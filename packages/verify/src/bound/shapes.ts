/**
 * Output shapes of every operator the reader accepts, one rule per op,
 * following the ONNX spec (opsets 7 to 21) as onnxruntime implements it
 * (checked against onnxruntime in shapes.test.ts). Where the two disagree the
 * rule refuses the node (see ./pool.ts for the pooling cases).
 *
 * The parameter parsers (`reshapeTarget`, `sliceSelection`, `splitSizes`,
 * ...) are shared with the bound's rules, which move elements by them, so a
 * value's shape and its elements never disagree.
 */
import { attrInt, attrInts, attrString, constantNodeValue, OnnxNode } from '../onnx/read';
import { AutoPad, windowAxes, WindowAxis } from './pool';
import { broadcastShapes, range, sizeOf, sliceIndices } from './tensor_ops';

/** What a shape rule may read. */
export interface ShapeContext {
  readonly node: OnnxNode;
  readonly opset: number;
  /** Shape of input `i`; undefined when the input is omitted (''). */
  shape(i: number): readonly number[] | undefined;
  /** Values of the constant integer input `i`; undefined when it is omitted. Fails when it is not a constant integer tensor. */
  ints(i: number, what: string): number[] | undefined;
  /** Throws a ModelError naming the node. */
  fail(msg: string): never;
}

/** Output shapes, one per node output. */
export type ShapeRule = (ctx: ShapeContext) => number[][];

/** Shape of a required input. */
function inShape(ctx: ShapeContext, i: number): number[] {
  const s = ctx.shape(i);
  if (!s) ctx.fail(`input ${i} is missing`);
  return [...s];
}

/** An axis in [-rank, rank - 1], normalized to [0, rank - 1]. */
export function axisIn(ctx: ShapeContext, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) ctx.fail(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Distinct axes, normalized. */
function distinctAxes(ctx: ShapeContext, axes: readonly number[], rank: number, what: string): number[] {
  const out = axes.map((a) => axisIn(ctx, a, rank, what));
  if (new Set(out).size !== out.length) ctx.fail(`${what} [${axes.join(', ')}] repeat an axis`);
  return out;
}

const same: ShapeRule = (ctx: ShapeContext) => [inShape(ctx, 0)];

/** Multidirectional (numpy) broadcasting of all present inputs. */
const broadcast: ShapeRule = (ctx: ShapeContext) => {
  const shapes = ctx.node.inputs.map((_, i) => ctx.shape(i)).filter((s): s is readonly number[] => s !== undefined);
  let out: number[] | null = [...shapes[0]];
  for (const s of shapes.slice(1)) out = out && broadcastShapes(out, s);
  if (!out) ctx.fail(`input shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')} do not broadcast`);
  return [out];
};

const softmax: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  axisIn(ctx, attrInt(ctx.node, 'axis', ctx.opset >= 13 ? -1 : 1), Math.max(x.length, 1));
  return [x];
};

export function concatAxis(ctx: ShapeContext): number {
  const x = inShape(ctx, 0);
  if (ctx.node.attributes.axis === undefined) ctx.fail("attribute 'axis' is required");
  return axisIn(ctx, attrInt(ctx.node, 'axis', 0), x.length);
}

const concat: ShapeRule = (ctx: ShapeContext) => {
  const axis = concatAxis(ctx);
  const shapes = ctx.node.inputs.map((_, i) => inShape(ctx, i));
  const x = shapes[0];
  for (const s of shapes) {
    if (s.length !== x.length || s.some((d, i) => i !== axis && d !== x[i])) {
      ctx.fail(`input shapes ${shapes.map((t) => `[${t.join(', ')}]`).join(', ')} do not concatenate on axis ${axis}`);
    }
  }
  return [x.map((d, i) => (i === axis ? shapes.reduce((a, s) => a + s[axis], 0) : d))];
};

export function flattenAxis(ctx: ShapeContext): number {
  const r = inShape(ctx, 0).length;
  const axis = attrInt(ctx.node, 'axis', 1);
  // Flatten's axis may equal the rank: [-r, r], and -1 means r - 1.
  const a = axis < 0 ? axis + r : axis;
  if (!Number.isInteger(a) || a < 0 || a > r) ctx.fail(`axis ${axis} is out of range [-${r}, ${r}]`);
  return a;
}

const flatten: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const a = flattenAxis(ctx);
  return [[sizeOf(x.slice(0, a)), sizeOf(x.slice(a))]];
};

export function reshapeTarget(ctx: ShapeContext): number[] {
  const x = inShape(ctx, 0);
  const spec = ctx.opset >= 5 ? ctx.ints(1, "'shape'") : attrInts(ctx.node, 'shape', []);
  if (!spec) ctx.fail("input 'shape' is missing");
  const allowZero = ctx.opset >= 14 && attrInt(ctx.node, 'allowzero', 0) === 1;
  if (allowZero && spec.includes(0) && spec.includes(-1)) ctx.fail(`shape [${spec.join(', ')}] has both 0 and -1 with allowzero = 1`);
  const out = spec.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= x.length) ctx.fail(`shape [${spec.join(', ')}] copies dimension ${i} (0) of a rank-${x.length} input`);
      return x[i];
    }
    if (d < -1) ctx.fail(`shape [${spec.join(', ')}] has a negative dimension`);
    return d;
  });
  const free = out.filter((d) => d === -1).length;
  if (free > 1) ctx.fail(`shape [${spec.join(', ')}] has more than one -1`);
  const known = sizeOf(out.filter((d) => d !== -1));
  if (free === 1) {
    const n = sizeOf(x);
    if (known === 0 || n % known !== 0) ctx.fail(`cannot reshape [${x.join(', ')}] to [${spec.join(', ')}]`);
    out[out.indexOf(-1)] = n / known;
  }
  if (sizeOf(out) !== sizeOf(x)) ctx.fail(`cannot reshape [${x.join(', ')}] to [${spec.join(', ')}]`);
  return out;
}

/** The axes Squeeze removes. */
export function squeezeAxes(ctx: ShapeContext): Set<number> {
  const x = inShape(ctx, 0);
  const given = ctx.opset >= 13 ? ctx.ints(1, "'axes'") : ctx.node.attributes.axes !== undefined ? attrInts(ctx.node, 'axes', []) : undefined;
  if (!given) return new Set(range(x.length).filter((i) => x[i] === 1));
  const axes = distinctAxes(ctx, given, x.length, 'axes');
  for (const a of axes) if (x[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${x[a]} (shape [${x.join(', ')}])`);
  return new Set(axes);
}

export function unsqueezeAxes(ctx: ShapeContext): Set<number> {
  const x = inShape(ctx, 0);
  const given = ctx.opset >= 13 ? ctx.ints(1, "'axes'") : attrInts(ctx.node, 'axes', []);
  if (!given || given.length === 0) ctx.fail("'axes' is required");
  return new Set(distinctAxes(ctx, given, x.length + given.length, 'axes'));
}

const unsqueeze: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const axes = unsqueezeAxes(ctx);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < x.length + axes.size; i++) out.push(axes.has(i) ? 1 : x[k++]);
  return [out];
};

export function transposePerm(ctx: ShapeContext): number[] {
  const r = inShape(ctx, 0).length;
  const perm = attrInts(ctx.node, 'perm', range(r).reverse());
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= r)) {
    ctx.fail(`perm [${perm.join(', ')}] is not a permutation of the ${r} axes`);
  }
  return perm;
}

export function blockSize(ctx: ShapeContext): number {
  const x = inShape(ctx, 0);
  if (x.length !== 4) ctx.fail(`expects a 4-D input, got [${x.join(', ')}]`);
  const bs = attrInt(ctx.node, 'blocksize', 0);
  if (!Number.isSafeInteger(bs) || bs < 1) ctx.fail(`blocksize ${bs} must be an integer >= 1`);
  return bs;
}

const depthToSpace: ShapeRule = (ctx: ShapeContext) => {
  const bs = blockSize(ctx);
  const [n, c, h, w] = inShape(ctx, 0);
  if (c % (bs * bs) !== 0) ctx.fail(`${c} channels are not divisible by blocksize^2 = ${bs * bs}`);
  const mode = attrString(ctx.node, 'mode', 'DCR');
  if (mode !== 'DCR' && mode !== 'CRD') ctx.fail(`mode '${mode}' must be 'DCR' or 'CRD'`);
  return [[n, c / (bs * bs), h * bs, w * bs]];
};

const spaceToDepth: ShapeRule = (ctx: ShapeContext) => {
  const bs = blockSize(ctx);
  const [n, c, h, w] = inShape(ctx, 0);
  if (h % bs !== 0 || w % bs !== 0) ctx.fail(`spatial size ${h}x${w} is not divisible by blocksize ${bs}`);
  return [[n, c * bs * bs, h / bs, w / bs]];
};

/** Per-axis index lists of a Slice (ONNX clamping rules). */
export function sliceSelection(ctx: ShapeContext): number[][] {
  const x = inShape(ctx, 0);
  let starts: number[], ends: number[], axes: number[], steps: number[];
  if (ctx.opset >= 10) {
    starts = ctx.ints(1, "'starts'") ?? ctx.fail("input 'starts' is missing");
    ends = ctx.ints(2, "'ends'") ?? ctx.fail("input 'ends' is missing");
    axes = ctx.ints(3, "'axes'") ?? range(starts.length);
    steps = ctx.ints(4, "'steps'") ?? starts.map(() => 1);
  } else {
    starts = attrInts(ctx.node, 'starts', []);
    ends = attrInts(ctx.node, 'ends', []);
    axes = attrInts(ctx.node, 'axes', range(starts.length));
    steps = starts.map(() => 1);
  }
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    ctx.fail(`starts [${starts.join(', ')}], ends [${ends.join(', ')}], axes [${axes.join(', ')}] and steps [${steps.join(', ')}] differ in length`);
  }
  const norm = distinctAxes(ctx, axes, x.length, 'axes');
  const idx = x.map((d) => range(d));
  norm.forEach((a, i) => {
    if (steps[i] === 0) ctx.fail('a step is 0');
    idx[a] = sliceIndices(x[a], starts[i], ends[i], steps[i]);
  });
  return idx;
}

export function splitAxis(ctx: ShapeContext): number {
  return axisIn(ctx, attrInt(ctx.node, 'axis', 0), inShape(ctx, 0).length);
}

export function splitSizes(ctx: ShapeContext): number[] {
  const x = inShape(ctx, 0);
  const axis = splitAxis(ctx);
  const d = x[axis];
  const nOut = ctx.node.outputs.length;
  let sizes: number[];
  const given = ctx.opset >= 13 ? ctx.ints(1, "'split'") : ctx.node.attributes.split !== undefined ? attrInts(ctx.node, 'split', []) : undefined;
  if (given) {
    sizes = given;
  } else if (ctx.opset >= 18) {
    if (ctx.node.attributes.num_outputs === undefined) ctx.fail("neither the 'split' input nor the 'num_outputs' attribute is given");
    const parts = attrInt(ctx.node, 'num_outputs', nOut);
    if (parts !== nOut) ctx.fail(`num_outputs = ${parts} but the node has ${nOut} outputs`);
    // ceil(d / parts) per output, the last one smaller; onnxruntime refuses an empty last part.
    const chunk = Math.ceil(d / parts);
    sizes = range(parts).map((i) => (i < parts - 1 ? chunk : d - chunk * (parts - 1)));
    if (sizes[parts - 1] < 1) ctx.fail(`dimension ${d} cannot be split into ${parts} parts of ${chunk}`);
  } else {
    if (d % nOut !== 0) ctx.fail(`dimension ${d} is not evenly splittable into ${nOut} outputs`);
    sizes = new Array<number>(nOut).fill(d / nOut);
  }
  if (sizes.length !== nOut || sizes.some((s) => s < 0) || sizes.reduce((a, s) => a + s, 0) !== d) {
    ctx.fail(`split sizes [${sizes.join(', ')}] do not cover dimension ${d} with ${nOut} outputs`);
  }
  return sizes;
}

const split: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const axis = splitAxis(ctx);
  return splitSizes(ctx).map((s) => x.map((d, i) => (i === axis ? s : d)));
};

/** Gather's axis and its indices (normalized to [0, dim)). */
export function gatherIndices(ctx: ShapeContext): { axis: number; indices: number[]; indicesShape: number[] } {
  const x = inShape(ctx, 0);
  const axis = axisIn(ctx, attrInt(ctx.node, 'axis', 0), x.length);
  const raw = ctx.ints(1, "'indices'") ?? ctx.fail("input 'indices' is missing");
  const d = x[axis];
  const indices = raw.map((i) => {
    if (i < -d || i >= d) ctx.fail(`index ${i} is out of range [${-d}, ${d - 1}] for axis ${axis}`);
    return i < 0 ? i + d : i;
  });
  return { axis, indices, indicesShape: inShape(ctx, 1) };
}

const gather: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { axis, indicesShape } = gatherIndices(ctx);
  return [[...x.slice(0, axis), ...indicesShape, ...x.slice(axis + 1)]];
};

export function topK(ctx: ShapeContext): { axis: number; k: number } {
  const x = inShape(ctx, 0);
  const axis = axisIn(ctx, attrInt(ctx.node, 'axis', -1), x.length);
  let k: number;
  if (ctx.opset >= 10) {
    const ks = ctx.ints(1, "'K'") ?? ctx.fail("input 'K' is missing");
    if (ks.length !== 1) ctx.fail(`'K' must hold one value, got [${ks.join(', ')}]`);
    k = ks[0];
  } else {
    k = attrInt(ctx.node, 'k', -1);
  }
  if (!(k >= 0 && k <= x[axis])) ctx.fail(`K = ${k} is outside [0, ${x[axis]}]`);
  return { axis, k };
}

const topk: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { axis, k } = topK(ctx);
  const out = x.map((d, i) => (i === axis ? k : d));
  return ctx.node.outputs.map(() => [...out]);
};

/** Reduced axes (empty: nothing is reduced) and keepdims. */
export function reduceAxes(ctx: ShapeContext): { axes: Set<number>; keep: boolean } {
  const x = inShape(ctx, 0);
  const keep = attrInt(ctx.node, 'keepdims', 1) === 1;
  const given = ctx.opset >= 18 ? ctx.ints(1, "'axes'") : ctx.node.attributes.axes !== undefined ? attrInts(ctx.node, 'axes', []) : undefined;
  if (!given || given.length === 0) {
    const noop = ctx.opset >= 18 && attrInt(ctx.node, 'noop_with_empty_axes', 0) === 1;
    return { axes: new Set(noop ? [] : range(x.length)), keep };
  }
  return { axes: new Set(distinctAxes(ctx, given, x.length, 'axes')), keep };
}

const reduce: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { axes, keep } = reduceAxes(ctx);
  return [keep ? x.map((d, i) => (axes.has(i) ? 1 : d)) : x.filter((_, i) => !axes.has(i))];
};

/** Pad's per-axis amounts [begins..., ends...] over all axes, and its mode. */
export function padAmounts(ctx: ShapeContext): { pads: number[]; mode: string } {
  const x = inShape(ctx, 0);
  const r = x.length;
  const mode = attrString(ctx.node, 'mode', 'constant');
  if (!['constant', 'reflect', 'edge', ...(ctx.opset >= 19 ? ['wrap'] : [])].includes(mode)) ctx.fail(`mode '${mode}' is not supported`);
  const given = ctx.opset >= 11 ? ctx.ints(1, "'pads'") ?? ctx.fail("input 'pads' is missing") : attrInts(ctx.node, 'pads', []);
  const axesIn = ctx.opset >= 18 ? ctx.ints(3, "'axes'") : undefined;
  const axes = axesIn ? distinctAxes(ctx, axesIn, r, 'axes') : range(r);
  if (given.length !== 2 * axes.length) ctx.fail(`pads [${given.join(', ')}] must hold ${2 * axes.length} values`);
  const pads = new Array<number>(2 * r).fill(0);
  axes.forEach((a, i) => { pads[a] = given[i]; pads[a + r] = given[i + axes.length]; });
  for (let i = 0; i < r; i++) {
    if (x[i] + pads[i] + pads[i + r] < 0) ctx.fail(`pads [${given.join(', ')}] remove more than dimension ${i} (${x[i]})`);
  }
  return { pads, mode };
}

const pad: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { pads } = padAmounts(ctx);
  return [x.map((d, i) => d + pads[i] + pads[i + x.length])];
};

/** The first opset that defines each pooling attribute (onnxruntime refuses it earlier). */
const POOL_ATTRIBUTE_SINCE: Record<string, Record<string, number>> = {
  AveragePool: { ceil_mode: 10, dilations: 19, count_include_pad: 7 },
  MaxPool: { ceil_mode: 10, dilations: 10, storage_order: 8 },
  LpPool: { ceil_mode: 18, dilations: 18 },
};

function autoPad(ctx: ShapeContext): AutoPad {
  const a = attrString(ctx.node, 'auto_pad', 'NOTSET');
  if (a !== 'NOTSET' && a !== 'VALID' && a !== 'SAME_UPPER' && a !== 'SAME_LOWER') {
    ctx.fail(`auto_pad '${a}' must be NOTSET, VALID, SAME_UPPER or SAME_LOWER`);
  }
  return a;
}

/** Window geometry of AveragePool, MaxPool and LpPool per spatial axis. */
export function poolAxes(ctx: ShapeContext): WindowAxis[] {
  const x = inShape(ctx, 0);
  if (x.length < 3) ctx.fail(`expects an [N, C, spatial...] input, got [${x.join(', ')}]`);
  const since = POOL_ATTRIBUTE_SINCE[ctx.node.opType] ?? {};
  for (const [name, opset] of Object.entries(since)) {
    if (ctx.opset < opset && ctx.node.attributes[name] !== undefined) {
      ctx.fail(`attribute '${name}' is not part of ${ctx.node.opType} before opset ${opset} (this model has opset ${ctx.opset})`);
    }
  }
  const spatial = x.slice(2);
  const r = spatial.length;
  if (ctx.node.attributes.kernel_shape === undefined) ctx.fail("attribute 'kernel_shape' is required");
  return windowAxes(spatial, {
    kernel: attrInts(ctx.node, 'kernel_shape', []),
    strides: attrInts(ctx.node, 'strides', new Array<number>(r).fill(1)),
    dilations: attrInts(ctx.node, 'dilations', new Array<number>(r).fill(1)),
    pads: attrInts(ctx.node, 'pads', new Array<number>(2 * r).fill(0)),
    autoPad: autoPad(ctx),
    ceilMode: attrInt(ctx.node, 'ceil_mode', 0) === 1,
  }, ctx.fail);
}

const pool: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const out = [x[0], x[1], ...poolAxes(ctx).map((a) => a.out)];
  return ctx.node.outputs.map(() => [...out]);
};

const globalPool: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  if (x.length < 3) ctx.fail(`expects an [N, C, spatial...] input, got [${x.join(', ')}]`);
  return [[x[0], x[1], ...x.slice(2).map(() => 1)]];
};

/** Conv's weight layout and window geometry. */
export function convSpec(ctx: ShapeContext): { cout: number; cinPerGroup: number; group: number; kernel: number[]; axes: WindowAxis[] } {
  const x = inShape(ctx, 0);
  const w = inShape(ctx, 1);
  if (x.length < 3 || w.length !== x.length) ctx.fail(`weights [${w.join(', ')}] do not fit the input [${x.join(', ')}]`);
  const group = attrInt(ctx.node, 'group', 1);
  const [cout, cinPerGroup, ...kernel] = w;
  if (!(Number.isSafeInteger(group) && group >= 1) || x[1] !== cinPerGroup * group || cout % group !== 0 || cout < 1) {
    ctx.fail(`weights [${w.join(', ')}] do not fit ${x[1]} input channels with group = ${group}`);
  }
  const given = attrInts(ctx.node, 'kernel_shape', kernel);
  if (given.join() !== kernel.join()) ctx.fail(`kernel_shape [${given.join(', ')}] differs from the weights [${w.join(', ')}]`);
  const b = ctx.shape(2);
  if (b && (b.length !== 1 || b[0] !== cout)) ctx.fail(`bias [${b.join(', ')}] must be [${cout}]`);
  const r = x.length - 2;
  const axes = windowAxes(x.slice(2), {
    kernel,
    strides: attrInts(ctx.node, 'strides', new Array<number>(r).fill(1)),
    dilations: attrInts(ctx.node, 'dilations', new Array<number>(r).fill(1)),
    pads: attrInts(ctx.node, 'pads', new Array<number>(2 * r).fill(0)),
    autoPad: autoPad(ctx),
    ceilMode: false,
  }, ctx.fail);
  return { cout, cinPerGroup, group, kernel, axes };
}

const conv: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { cout, axes } = convSpec(ctx);
  return [[x[0], cout, ...axes.map((a) => a.out)]];
};

/** Gemm's M, K, N. */
export function gemmDims(ctx: ShapeContext): { m: number; k: number; n: number } {
  const a = inShape(ctx, 0);
  const b = inShape(ctx, 1);
  if (a.length !== 2 || b.length !== 2) ctx.fail(`operands [${a.join(', ')}] and [${b.join(', ')}] must be 2-D`);
  const transA = attrInt(ctx.node, 'transA', 0) === 1;
  const transB = attrInt(ctx.node, 'transB', 0) === 1;
  const [m, k] = transA ? [a[1], a[0]] : a;
  const [k2, n] = transB ? [b[1], b[0]] : b;
  if (k !== k2) ctx.fail(`inner dimensions differ (${k} vs ${k2})`);
  const c = ctx.shape(2);
  // C broadcasts one way to [M, N].
  if (c && (c.length > 2 || (broadcastShapes(c, [m, n]) ?? []).join() !== [m, n].join())) {
    ctx.fail(`C [${c.join(', ')}] does not broadcast to [${m}, ${n}]`);
  }
  return { m, k, n };
}

const gemm: ShapeRule = (ctx: ShapeContext) => {
  const { m, n } = gemmDims(ctx);
  return [[m, n]];
};

const matmul: ShapeRule = (ctx: ShapeContext) => {
  const A = inShape(ctx, 0);
  const B = inShape(ctx, 1);
  if (A.length === 0 || B.length === 0) ctx.fail('MatMul operands must have rank >= 1');
  const a = A.length === 1 ? [1, A[0]] : A;
  const b = B.length === 1 ? [B[0], 1] : B;
  if (a[a.length - 1] !== b[b.length - 2]) ctx.fail(`shapes [${A.join(', ')}] and [${B.join(', ')}] do not multiply`);
  const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
  if (!batch) ctx.fail(`batch dimensions of [${A.join(', ')}] and [${B.join(', ')}] do not broadcast`);
  let out = [...batch, a[a.length - 2], b[b.length - 1]];
  if (A.length === 1) out = out.filter((_, i) => i !== out.length - 2);
  if (B.length === 1) out = out.slice(0, -1);
  return [out];
};

const constant: ShapeRule = (ctx: ShapeContext) => [[...constantNodeValue(ctx.node).dims]];

/** Shape's slice of the input's dims ([start, end), opset 15), clamped as Slice clamps. */
export function shapeRange(ctx: ShapeContext): number[] {
  const x = inShape(ctx, 0);
  const r = x.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  return range(r).slice(clamp(attrInt(ctx.node, 'start', 0)), clamp(attrInt(ctx.node, 'end', r)));
}

/** The dims ConstantOfShape and Expand read from their shape input. */
export function shapeInput(ctx: ShapeContext, i: number): number[] {
  const dims = ctx.ints(i, "'shape'") ?? ctx.fail("input 'shape' is missing");
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) ctx.fail(`shape [${dims.join(', ')}] has a negative dimension`);
  return dims;
}

/** Range's element count: max(ceil((limit - start) / delta), 0). */
export function rangeCount(ctx: ShapeContext): { start: number; delta: number; n: number } {
  const [start] = ctx.ints(0, "'start'") ?? ctx.fail("input 'start' is missing");
  const [limit] = ctx.ints(1, "'limit'") ?? ctx.fail("input 'limit' is missing");
  const [delta] = ctx.ints(2, "'delta'") ?? ctx.fail("input 'delta' is missing");
  if (delta === 0) ctx.fail('delta is 0');
  return { start, delta, n: Math.max(Math.ceil((limit - start) / delta), 0) };
}

/** BatchNormalization in inference: [N, C, ...] with four per-channel [C] parameters. */
const batchNorm: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  if (x.length < 2) ctx.fail(`expects an [N, C, ...] input, got [${x.join(', ')}]`);
  for (let i = 1; i <= 4; i++) {
    const p = inShape(ctx, i);
    if (p.length !== 1 || p[0] !== x[1]) ctx.fail(`parameter ${i} has shape [${p.join(', ')}], expected [${x[1]}]`);
  }
  if (attrInt(ctx.node, 'training_mode', 0) !== 0 || ctx.node.outputs.slice(1).some((o) => o)) {
    ctx.fail('only inference mode is supported (training_mode = 0, one output); export the model in eval mode');
  }
  return [x];
};

/** One axis of Pad: the source index of each output position, -1 where the constant fills in. */
export function padIndexMap(n: number, begin: number, end: number, mode: string): number[] {
  const out: number[] = [];
  for (let o = 0; o < n + begin + end; o++) {
    let i = o - begin;
    if (i < 0 || i >= n) {
      if (mode === 'constant' || n === 0) i = -1;
      else if (mode === 'edge') i = i < 0 ? 0 : n - 1;
      else if (mode === 'wrap') i = ((i % n) + n) % n;
      else {
        // reflect: mirror about the first and last element (not repeating them); onnxruntime needs n >= 2 here.
        const period = 2 * (n - 1);
        if (period === 0) i = 0;
        else {
          i = ((i % period) + period) % period;
          if (i >= n) i = period - i;
        }
      }
    }
    out.push(i);
  }
  return out;
}

/** One rule per operator the reader accepts. */
export const SHAPE_RULES: Readonly<Record<string, ShapeRule>> = {
  Abs: same, Neg: same, Relu: same, Sigmoid: same, Sqrt: same, Tanh: same, Identity: same, Softmax: softmax,
  Add: broadcast, Sub: broadcast, Mul: broadcast, Div: broadcast, Max: broadcast, Min: broadcast, Sum: broadcast,
  Concat: concat,
  Flatten: flatten,
  Reshape: (ctx) => [reshapeTarget(ctx)],
  Squeeze: (ctx) => {
    const drop = squeezeAxes(ctx);
    return [inShape(ctx, 0).filter((_, i) => !drop.has(i))];
  },
  Unsqueeze: unsqueeze,
  Transpose: (ctx) => {
    const x = inShape(ctx, 0);
    return [transposePerm(ctx).map((p) => x[p])];
  },
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  Slice: (ctx) => [sliceSelection(ctx).map((l) => l.length)],
  Split: split,
  Gather: gather,
  TopK: topk,
  ReduceL2: reduce, ReduceMax: reduce, ReduceMin: reduce,
  Pad: pad,
  AveragePool: pool, MaxPool: pool, LpPool: pool,
  GlobalAveragePool: globalPool, GlobalLpPool: globalPool, GlobalMaxPool: globalPool,
  Conv: conv,
  Gemm: gemm,
  MatMul: matmul,
  Constant: constant,
  LeakyRelu: same, Elu: same, Clip: same, Sign: same, Cast: same, Pow: broadcast,
  Dropout: (ctx) => {
    const x = inShape(ctx, 0);
    return ctx.node.outputs.map(() => [...x]);
  },
  BatchNormalization: batchNorm,
  Shape: (ctx) => [[shapeRange(ctx).length]],
  ConstantOfShape: (ctx) => [shapeInput(ctx, 0)],
  Expand: (ctx) => {
    const x = inShape(ctx, 0);
    const target = shapeInput(ctx, 1);
    return [broadcastShapes(x, target) ?? ctx.fail(`input [${x.join(', ')}] does not broadcast with shape [${target.join(', ')}]`)];
  },
  Range: (ctx) => [[rangeCount(ctx).n]],
  Equal: broadcast,
  Where: broadcast,
};
