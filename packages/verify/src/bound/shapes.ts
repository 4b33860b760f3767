/**
 * Output shapes of every operator the reader accepts, one rule per op,
 * following the ONNX spec (opsets 7 to 21) as onnxruntime implements it
 * (checked against onnxruntime in shapes.test.ts). Where the two disagree the
 * rule refuses the node (see ./pool.ts for the pooling cases).
 *
 * Each rule reads the node through its op's one attribute parser
 * (ops/attributes.ts, named by the registry), which the bound's rules and the
 * tfjs translations also call, so a value's shape, its elements and its
 * translation never disagree.
 */
import type { RegisteredOp } from '../ops/registry';
import {
  AttributeContext,
  batchNormParams,
  concatAxis,
  constantOfShapeParams,
  constantValue,
  convSpec,
  convTransposeSpec,
  depthToSpaceParams,
  expandShape,
  flattenAxis,
  gatherIndices,
  gemmParams,
  globalPoolParams,
  inShape,
  padParams,
  poolParams,
  rangeCount,
  reduceAxes,
  reshapeTarget,
  shapeRange,
  sliceSelection,
  softmaxAxis,
  spaceToDepthParams,
  splitParams,
  squeezeAxes,
  topK,
  transposePerm,
  unsqueezeAxes,
  alphaParams,
  castParams,
  clipRange,
} from '../ops/attributes';
import { broadcastShapes, sizeOf } from './tensor_ops';

/** What a shape rule may read (the op parsers' context). */
export type ShapeContext = AttributeContext;

/** Output shapes, one per node output. */
export type ShapeRule = (ctx: ShapeContext) => number[][];

const same: ShapeRule = (ctx: ShapeContext) => [inShape(ctx, 0)];

/** Multidirectional (numpy) broadcasting of all present inputs. */
const broadcast: ShapeRule = (ctx: ShapeContext) => {
  const shapes = ctx.node.inputs.map((_, i) => ctx.shape(i)).filter((s): s is readonly number[] => s !== undefined);
  let out: number[] | null = [...shapes[0]];
  for (const s of shapes.slice(1)) out = out && broadcastShapes(out, s);
  if (!out) ctx.fail(`input shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')} do not broadcast`);
  return [out];
};

/** Shape-preserving ops whose parameters must still be valid. */
const sameAfter =
  (parse: (ctx: ShapeContext) => unknown): ShapeRule =>
  (ctx) => {
    parse(ctx);
    return [inShape(ctx, 0)];
  };

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

const flatten: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const a = flattenAxis(ctx);
  return [[sizeOf(x.slice(0, a)), sizeOf(x.slice(a))]];
};

const unsqueeze: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const axes = unsqueezeAxes(ctx);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < x.length + axes.size; i++) out.push(axes.has(i) ? 1 : x[k++]);
  return [out];
};

const depthToSpace: ShapeRule = (ctx: ShapeContext) => {
  const { blockSize: bs } = depthToSpaceParams(ctx);
  const [n, c, h, w] = inShape(ctx, 0);
  return [[n, c / (bs * bs), h * bs, w * bs]];
};

const spaceToDepth: ShapeRule = (ctx: ShapeContext) => {
  const { blockSize: bs } = spaceToDepthParams(ctx);
  const [n, c, h, w] = inShape(ctx, 0);
  return [[n, c * bs * bs, h / bs, w / bs]];
};

const split: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { axis, sizes } = splitParams(ctx);
  return sizes.map((s) => x.map((d, i) => (i === axis ? s : d)));
};

const gather: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { axis, indicesShape } = gatherIndices(ctx);
  return [[...x.slice(0, axis), ...indicesShape, ...x.slice(axis + 1)]];
};

const topk: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { axis, k } = topK(ctx);
  const out = x.map((d, i) => (i === axis ? k : d));
  return ctx.node.outputs.map(() => [...out]);
};

const reduce: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { axes, keep } = reduceAxes(ctx);
  return [keep ? x.map((d, i) => (axes.has(i) ? 1 : d)) : x.filter((_, i) => !axes.has(i))];
};

const pad: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { pads } = padParams(ctx);
  return [x.map((d, i) => d + pads[i] + pads[i + x.length])];
};

const pool: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const out = [x[0], x[1], ...poolParams(ctx).axes.map((a) => a.out)];
  return ctx.node.outputs.map(() => [...out]);
};

const globalPool: ShapeRule = (ctx: ShapeContext) => {
  globalPoolParams(ctx);
  const x = inShape(ctx, 0);
  return [[x[0], x[1], ...x.slice(2).map(() => 1)]];
};

const conv: ShapeRule = (ctx: ShapeContext) => {
  const x = inShape(ctx, 0);
  const { cout, axes } = convSpec(ctx);
  return [[x[0], cout, ...axes.map((a) => a.out)]];
};

const gemm: ShapeRule = (ctx: ShapeContext) => {
  const { m, n } = gemmParams(ctx);
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
export const SHAPE_RULES: Readonly<Record<string, ShapeRule | undefined>> = {
  Abs: same,
  Neg: same,
  Relu: same,
  Sigmoid: same,
  Sqrt: same,
  Tanh: same,
  Identity: same,
  Sign: same,
  LeakyRelu: sameAfter(alphaParams),
  Elu: sameAfter(alphaParams),
  Clip: sameAfter(clipRange),
  Softmax: sameAfter(softmaxAxis),
  Cast: sameAfter(castParams),
  Add: broadcast,
  Sub: broadcast,
  Mul: broadcast,
  Div: broadcast,
  Max: broadcast,
  Min: broadcast,
  Sum: broadcast,
  Pow: broadcast,
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
  ReduceL2: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  Pad: pad,
  AveragePool: pool,
  MaxPool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalLpPool: globalPool,
  GlobalMaxPool: globalPool,
  Conv: conv,
  ConvTranspose: (ctx) => {
    const spec = convTransposeSpec(ctx);
    return [[inShape(ctx, 0)[0], spec.coutPerGroup * spec.group, ...spec.outHW]];
  },
  Gemm: gemm,
  MatMul: matmul,
  BatchNormalization: sameAfter(batchNormParams),
  Constant: (ctx) => [[...constantValue(ctx).dims]],
  Dropout: (ctx) => {
    const x = inShape(ctx, 0);
    return ctx.node.outputs.map(() => [...x]);
  },
  Shape: (ctx) => [[shapeRange(ctx).length]],
  ConstantOfShape: (ctx) => [constantOfShapeParams(ctx).dims],
  Expand: (ctx) => {
    const x = inShape(ctx, 0);
    const target = expandShape(ctx);
    return [broadcastShapes(x, target) ?? ctx.fail(`input [${x.join(', ')}] does not broadcast with shape [${target.join(', ')}]`)];
  },
  Range: (ctx) => [[rangeCount(ctx).n]],
  Equal: broadcast,
  Where: broadcast,
} satisfies Record<RegisteredOp, ShapeRule>;
