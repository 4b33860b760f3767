/**
 * The operator registry: every ONNX operator @lip/verify accepts, one row
 * each, grouped by category (as onnxruntime-web's `op-resolve-rules.ts`):
 * `[opType, inputs [min, max], role, parser]`.
 *
 * The reader accepts exactly these ops (onnx/read.ts). `parser` is the op's
 * one attribute parser (./attributes.ts): typed, validated, normalized
 * parameters, read by every rule of the op. The rules live beside the code
 * that runs them, in tables keyed by `RegisteredOp` / `FullOp` (so the
 * compiler checks that none is missing), and registry.test.ts checks every row:
 *  - 'full': a shape rule (`SHAPE_RULES`, bound/shapes.ts), a bound rule
 *    (`BOUND_RULES`, bound/lipschitz.ts) and a tfjs translation (`OP_TABLE`,
 *    translate/ops.ts, behind the tfjs-only `@lip/verify/attacks` subpath);
 *  - 'folded': shape arithmetic that `foldModel` (./fold_model.ts) turns into
 *    constants on import. It has a shape rule and a folding rule in the bound,
 *    and no translation: a graph where one survives folding is refused with a
 *    ModelError naming it.
 * This file and the parsers import no tfjs and nothing from the reader at run
 * time, so the tfjs-free reader can use them.
 */
import * as P from './attributes';

export type OpRole = 'full' | 'folded';

/** A registry row: op type, required and largest input counts (opsets 7 to 21), role, attribute parser. */
export type OpRow = readonly [opType: string, inputs: readonly [number, number], role: OpRole, parser: P.OpParser];

const none = P.noAttributes;

export const OP_REGISTRY = {
  /** Elementwise activations: 1-input, shape-preserving. */
  activation: [
    ['Abs', [1, 1], 'full', none],
    ['Neg', [1, 1], 'full', none],
    ['Relu', [1, 1], 'full', none],
    ['LeakyRelu', [1, 1], 'full', P.alphaParams],
    ['Elu', [1, 1], 'full', P.alphaParams],
    ['Sigmoid', [1, 1], 'full', none],
    ['Tanh', [1, 1], 'full', none],
    ['Clip', [1, 3], 'full', P.clipRange],
    ['Sqrt', [1, 1], 'full', none],
    ['Sign', [1, 1], 'full', none],
    ['Softmax', [1, 1], 'full', P.softmaxAxis],
  ],
  /** Elementwise arithmetic with broadcasting. */
  arithmetic: [
    ['Add', [2, 2], 'full', none],
    ['Sub', [2, 2], 'full', none],
    ['Mul', [2, 2], 'full', none],
    ['Div', [2, 2], 'full', none],
    ['Pow', [2, 2], 'full', none],
    ['Max', [1, Infinity], 'full', none],
    ['Min', [1, Infinity], 'full', none],
    ['Sum', [1, Infinity], 'full', none],
  ],
  /** Linear layers. */
  linear: [
    ['Conv', [2, 3], 'full', P.convSpec],
    ['ConvTranspose', [2, 3], 'full', P.convTransposeSpec],
    ['Gemm', [2, 3], 'full', P.gemmParams],
    ['MatMul', [2, 2], 'full', none],
    ['BatchNormalization', [5, 5], 'full', P.batchNormParams],
  ],
  pooling: [
    ['AveragePool', [1, 1], 'full', P.poolParams],
    ['MaxPool', [1, 1], 'full', P.poolParams],
    ['LpPool', [1, 1], 'full', P.poolParams],
    ['GlobalAveragePool', [1, 1], 'full', P.globalPoolParams],
    ['GlobalLpPool', [1, 1], 'full', P.globalPoolParams],
    ['GlobalMaxPool', [1, 1], 'full', P.globalPoolParams],
  ],
  reduction: [
    ['ReduceL2', [1, 2], 'full', P.reduceAxes],
    ['ReduceMax', [1, 2], 'full', P.reduceAxes],
    ['ReduceMin', [1, 2], 'full', P.reduceAxes],
    ['TopK', [1, 2], 'full', P.topK],
  ],
  /** Ops that move elements without arithmetic. */
  structural: [
    ['Identity', [1, 1], 'full', none],
    ['Dropout', [1, 3], 'full', none],
    ['Cast', [1, 1], 'full', P.castParams],
    ['Reshape', [1, 2], 'full', P.reshapeTarget],
    ['Flatten', [1, 1], 'full', P.flattenAxis],
    ['Squeeze', [1, 2], 'full', P.squeezeAxes],
    ['Unsqueeze', [1, 2], 'full', P.unsqueezeAxes],
    ['Transpose', [1, 1], 'full', P.transposePerm],
    ['DepthToSpace', [1, 1], 'full', P.depthToSpaceParams],
    ['SpaceToDepth', [1, 1], 'full', P.spaceToDepthParams],
    ['Slice', [1, 5], 'full', P.sliceSelection],
    ['Split', [1, 2], 'full', P.splitParams],
    ['Gather', [2, 2], 'full', P.gatherIndices],
    ['Concat', [1, Infinity], 'full', P.concatAxis],
    ['Pad', [1, 4], 'full', P.padParams],
  ],
  /** Shape arithmetic, folded into constants on import. */
  shape: [
    ['Constant', [0, 0], 'full', P.constantValue],
    ['Shape', [1, 1], 'folded', P.shapeRange],
    ['ConstantOfShape', [1, 1], 'folded', P.constantOfShapeParams],
    ['Range', [3, 3], 'folded', P.rangeCount],
    ['Expand', [2, 2], 'folded', P.expandShape],
    ['Equal', [2, 2], 'folded', none],
    ['Where', [3, 3], 'folded', none],
  ],
} as const satisfies Readonly<Record<string, readonly OpRow[]>>;

type Row = (typeof OP_REGISTRY)[keyof typeof OP_REGISTRY][number];

/** Every op type the reader accepts. */
export type RegisteredOp = Row[0];

/** Op types with a bound rule and a tfjs translation (not only folded away). */
export type FullOp = Extract<Row, readonly [string, unknown, 'full', unknown]>[0];

const ROWS: readonly OpRow[] = Object.values(OP_REGISTRY).flat();

/** Input counts of each registered op. */
export const OP_INPUTS: Readonly<Record<string, readonly [number, number]>> = Object.fromEntries(ROWS.map(([op, inputs]) => [op, inputs]));

/** The attribute parser of each registered op. */
export const OP_PARSERS: Readonly<Record<string, P.OpParser>> = Object.fromEntries(ROWS.map(([op, , , parse]) => [op, parse]));

/** Every op the reader accepts, sorted. */
export const REGISTERED_OPS: readonly string[] = ROWS.map(([op]) => op).sort();

/** Ops that only exist as shape arithmetic and must be folded away before bounding or translating. */
export const FOLDED_ONLY_OPS: ReadonlySet<string> = new Set(ROWS.filter(([, , role]) => role === 'folded').map(([op]) => op));
