/**
 * `lipschitzBound(model)`: a sound upper bound on the L2 Lipschitz constant of
 * an ONNX graph (per sample, from the input to the first output), computed
 * from the weights alone.
 *
 * Every value carries a bound L_v on the Lipschitz constant of input -> v,
 * composed node by node with rules that are sound for any graph (one per
 * operator, ./rules.ts, walked in order by ./propagate.ts):
 *   linear maps: their certified spectral norm (Gemm/MatMul exact, Conv exact
 *   or circular, poolings from their window geometry, Mul/Div by constants);
 *   1-Lipschitz maps (Relu, Neg, Tanh, reshapes, slices, sorts): L;
 *   Concat and Min/Max of several values: sqrt(sum L_i^2 m_i) (m_i the
 *   broadcast or duplication multiplicity), Add/Sub: sum sqrt(m_i) L_i.
 * Output shapes come from one shape rule per op (./shapes.ts), constants are
 * folded with ONNX semantics (./fold.ts), and every product of bounds is
 * rounded up (./rounding.ts).
 * Those rules bound a GroupSort written with Min/Max or Relu arithmetic by 2
 * or 3 instead of 1, so the activation blocks are also tracked symbolically
 * (./symbolic.ts, budgets in ./bounder.ts) and bounded by 1 when their
 * structure is proved to be a network of 1-Lipschitz gates. Anything
 * unrecognized keeps its (looser) composed bound with a warning; ops that are
 * not Lipschitz (x*x without the L2-pooling Sqrt, TopK indices, ...) make the
 * bound refuse with a ModelError. Expensive norms stay within work limits and
 * fall back to cheaper sound bounds (./dense.ts, ./conv.ts), named in the
 * layer table's method.
 */
import { ModelError } from '@lip/core/errors';
import type { OnnxModel } from '../onnx/read';
import type { Bounder, BoundOptions, LayerBound } from './bounder';
import { FOLDED_ONLY_OPS } from '../ops/registry';
import { gemmParams } from '../ops/attributes';
import { asFloats } from './fold';
import { propagate } from './propagate';

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

/**
 * Finds a final Gemm/MatMul (followed only by Identity / constant bias) for
 * head-aware certificates. A Gemm whose C depends on the input is no head:
 * its logits are not W g(x) + constant.
 */
function findHead(b: Bounder, outName: string): LinearHead | null {
  let name = outName;
  for (let hops = 0; hops < 8; hops++) {
    const v = b.vals.get(name);
    const node = v?.producer;
    if (!node) return null;
    if (node.opType === 'Identity') {
      name = node.inputs[0];
      continue;
    }
    if (node.opType === 'Add' || node.opType === 'Sub') {
      const [p, q] = node.inputs.map((n) => b.get(n));
      if ((!p.isConst && q.isConst && q.shape.length <= 1) || (node.opType === 'Add' && p.isConst && !q.isConst && p.shape.length <= 1)) {
        name = p.isConst ? node.inputs[1] : node.inputs[0];
        continue;
      }
      return null;
    }
    if (node.opType !== 'Gemm' && node.opType !== 'MatMul') return null;
    const A = b.get(node.inputs[0]);
    const B = b.get(node.inputs[1]);
    if (A.isConst || !B.isConst || !B.data || B.shape.length !== 2 || A.shape.length !== 2) return null;
    const gemm = node.opType === 'Gemm' ? gemmParams(b.shapeContext(node)) : { transA: false, transB: false, alpha: 1 };
    if (gemm.transA) return null;
    if (node.opType === 'Gemm' && node.inputs[2] && !b.get(node.inputs[2]).isConst) return null;
    const { transB, alpha } = gemm;
    const data = asFloats(B.data);
    const [r, c] = B.shape;
    const dim = transB ? c : r;
    const classes = transB ? r : c;
    const weights = new Float64Array(classes * dim);
    for (let j = 0; j < classes; j++) {
      for (let i = 0; i < dim; i++) weights[j * dim + i] = alpha * (transB ? data[j * c + i] : data[i * c + j]);
    }
    return { node: node.name, classes, dim, weights, bodyLipschitz: b.lipOf(node.inputs[0]) };
  }
  return null;
}

/**
 * Sound upper bound on the L2 Lipschitz constant of `model` (input -> first
 * output, per sample), with per-layer bounds. Throws ModelError when the graph
 * is not Lipschitz or cannot be analysed, ModelTooLargeError when a value
 * would exceed MAX_VALUE_ELEMENTS.
 */
export function lipschitzBound(model: OnnxModel | string | Uint8Array, opts: BoundOptions = {}): LipschitzBound {
  // The reader and the folding (protobuf) are loaded only when needed: `lip verify`'s bound thread gets a folded model.
  const m =
    typeof model === 'string' || model instanceof Uint8Array
      ? (require('../onnx/read') as typeof import('../onnx/read')).readOnnxModel(model, { inputShape: opts.inputShape })
      : model.folding
        ? model
        : (require('../ops/fold_model') as typeof import('../ops/fold_model')).foldModel(model, { inputShape: opts.inputShape });
  const { b, perSample } = propagate(m, { ...opts, shapesOnly: false });
  const survivor = m.nodes.find((n) => FOLDED_ONLY_OPS.has(n.opType));
  if (survivor) b.fail(survivor, 'computes a shape from the input at run time; it cannot be folded into a constant');
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
