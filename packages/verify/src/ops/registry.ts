/**
 * The operator registry: every ONNX operator @lip/verify accepts, one row
 * each, grouped by category (as onnxruntime-web's `op-resolve-rules.ts`):
 * `[opType, inputs [min, max], role]`.
 *
 * The reader accepts exactly these ops (onnx/read.ts). Each row's rules live
 * beside the code that runs them, keyed by the same op type, and the
 * completeness test (registry.test.ts) checks that every row has them:
 *  - 'full': a shape rule (`SHAPE_RULES`, bound/shapes.ts, whose parameter
 *    parsers are the op's one attribute parser), a bound rule (`BOUND_OPS`,
 *    bound/lipschitz.ts) and a tfjs translation (`TRANSLATABLE_OPS`,
 *    translate/ops.ts, which reuses the same parsers for Pad and Slice);
 *  - 'folded': shape arithmetic that `foldModel` (./fold_model.ts) turns into
 *    constants on import. It has a shape rule and a folding rule in the bound,
 *    and no translation: a graph where one survives folding is refused with a
 *    ModelError naming it.
 * This file imports nothing, so the tfjs-free reader can use it.
 */

export type OpRole = 'full' | 'folded';

/** A registry row: op type, required and largest input counts (opsets 7 to 21), role. */
export type OpRow = readonly [opType: string, inputs: readonly [number, number], role: OpRole];

export const OP_REGISTRY: Readonly<Record<string, readonly OpRow[]>> = {
  /** Elementwise activations: 1-input, shape-preserving. */
  activation: [
    ['Abs', [1, 1], 'full'], ['Neg', [1, 1], 'full'], ['Relu', [1, 1], 'full'], ['LeakyRelu', [1, 1], 'full'],
    ['Elu', [1, 1], 'full'], ['Sigmoid', [1, 1], 'full'], ['Tanh', [1, 1], 'full'], ['Clip', [1, 3], 'full'],
    ['Sqrt', [1, 1], 'full'], ['Sign', [1, 1], 'full'], ['Softmax', [1, 1], 'full'],
  ],
  /** Elementwise arithmetic with broadcasting. */
  arithmetic: [
    ['Add', [2, 2], 'full'], ['Sub', [2, 2], 'full'], ['Mul', [2, 2], 'full'], ['Div', [2, 2], 'full'], ['Pow', [2, 2], 'full'],
    ['Max', [1, Infinity], 'full'], ['Min', [1, Infinity], 'full'], ['Sum', [1, Infinity], 'full'],
  ],
  /** Linear layers. */
  linear: [
    ['Conv', [2, 3], 'full'], ['Gemm', [2, 3], 'full'], ['MatMul', [2, 2], 'full'], ['BatchNormalization', [5, 5], 'full'],
  ],
  pooling: [
    ['AveragePool', [1, 1], 'full'], ['MaxPool', [1, 1], 'full'], ['LpPool', [1, 1], 'full'],
    ['GlobalAveragePool', [1, 1], 'full'], ['GlobalLpPool', [1, 1], 'full'], ['GlobalMaxPool', [1, 1], 'full'],
  ],
  reduction: [
    ['ReduceL2', [1, 2], 'full'], ['ReduceMax', [1, 2], 'full'], ['ReduceMin', [1, 2], 'full'], ['TopK', [1, 2], 'full'],
  ],
  /** Ops that move elements without arithmetic. */
  structural: [
    ['Identity', [1, 1], 'full'], ['Dropout', [1, 3], 'full'], ['Cast', [1, 1], 'full'], ['Reshape', [1, 2], 'full'],
    ['Flatten', [1, 1], 'full'], ['Squeeze', [1, 2], 'full'], ['Unsqueeze', [1, 2], 'full'], ['Transpose', [1, 1], 'full'],
    ['DepthToSpace', [1, 1], 'full'], ['SpaceToDepth', [1, 1], 'full'], ['Slice', [1, 5], 'full'], ['Split', [1, 2], 'full'],
    ['Gather', [2, 2], 'full'], ['Concat', [1, Infinity], 'full'], ['Pad', [1, 4], 'full'],
  ],
  /** Shape arithmetic, folded into constants on import. */
  shape: [
    ['Constant', [0, 0], 'full'], ['Shape', [1, 1], 'folded'], ['ConstantOfShape', [1, 1], 'folded'], ['Range', [3, 3], 'folded'],
    ['Expand', [2, 2], 'folded'], ['Equal', [2, 2], 'folded'], ['Where', [3, 3], 'folded'],
  ],
};

const ROWS: readonly OpRow[] = Object.values(OP_REGISTRY).flat();

/** Input counts of each registered op. */
export const OP_INPUTS: Readonly<Record<string, readonly [number, number]>> =
  Object.fromEntries(ROWS.map(([op, inputs]) => [op, inputs]));

/** Every op the reader accepts, sorted. */
export const REGISTERED_OPS: readonly string[] = ROWS.map(([op]) => op).sort();

/** Ops that only exist as shape arithmetic and must be folded away before bounding or translating. */
export const FOLDED_ONLY_OPS: ReadonlySet<string> = new Set(ROWS.filter(([, , role]) => role === 'folded').map(([op]) => op));
