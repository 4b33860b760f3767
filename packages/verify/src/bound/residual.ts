/**
 * SLL residual blocks (Araujo et al. 2023, "A Unified Algebraic Perspective
 * on Lipschitz Neural Networks"), the form @lip/export writes for SLLDense
 * and SLLConv2D:
 *
 *     y = Sub(x, Lin2(Mul(Relu(Lin1(x)), g)))
 *
 * Lin1 is a Gemm (x A^T + C, A `[k, n]` constant) or a Conv (kernel K,
 * stride 1, no dilation, one group) with a constant bias, Lin2 exactly its
 * transpose (a Gemm reading the same values as A, or the Conv with K flipped
 * in space, its channel axes swapped and the complementary pads), and g a
 * constant >= 0 per hidden unit (or absent: 1). That is
 * y = x - A^T diag(g) relu(A x + b), whose Lipschitz factor is
 * max(1, c - 1) with c >= ||diag(g)^(1/2) A||^2: exactly 1 when c <= 2
 * (@lip/core `sll_bound.ts` gives the proof and the certified c; the
 * exporter checks the same c on the same float32 values).
 *
 * The generic rules bound the same block by L_x (1 + ||A|| max g ||A||).
 * The smaller of the two is used. The generic bound alone stays when the
 * pattern differs in any way, or when the certificate's work (estimated
 * from the shapes) is over the bound's dense or circular-conv work limit.
 */
import { sllConvNormSquaredUpperBound, sllDenseNormSquaredUpperBound, sllLipschitzFactor } from '@lip/core/linalg';
import type { OnnxNode } from '../onnx/read';
import { convSpec, gemmParams } from '../ops/attributes';
import type { Bounder, Val } from './bounder';
import { asFloats } from './fold';
import { mulUp, nextUp } from './rounding';
import { sizeOf } from './tensor_ops';

/** What `sllResidualBound` found: the block's bound from the graph input, and how. */
export interface SllResidualBound {
  lip: number;
  /** Bound of the block's input x. */
  inLip: number;
  method: string;
  /** Nodes of the block, from the first linear map to the Sub. */
  nodes: string[];
}

/** The certificate's inputs, read from a matched block. */
type Matched =
  | { kind: 'dense'; a: Float64Array; k: number; n: number; g: Float64Array; nodes: OnnxNode[] }
  | { kind: 'conv'; kernel: Float64Array; shape: [number, number, number, number]; inputHW: [number, number]; g: Float64Array; nodes: OnnxNode[] };

/** The node producing a variable value, when it is `opType`. */
function producerOf(b: Bounder, name: string, opType: string): OnnxNode | null {
  const v = b.vals.get(name);
  if (!v || v.isConst || !v.producer || v.producer.opType !== opType) return null;
  return v.producer;
}

/** A float32 or float64 constant input's values (exact in float64), else null. */
function floatConst(b: Bounder, name: string | undefined): Float64Array | null {
  if (!name) return null;
  const v = b.vals.get(name);
  if (!v || !v.isConst || !v.data || (v.dtype !== 'float32' && v.dtype !== 'float64')) return null;
  return Float64Array.from(asFloats(v.data));
}

/** An optional constant input (a bias): true when absent or constant. */
function constantOrAbsent(b: Bounder, name: string | undefined): boolean {
  return !name || b.get(name).isConst;
}

/** The per-unit scales g of `Mul(r, g)` over k units on `axis` of r, or null when g is not one value per unit. */
function perUnitScales(b: Bounder, mul: OnnxNode, r: string, k: number, axis: number): Float64Array | null {
  const gName = mul.inputs[0] === r ? mul.inputs[1] : mul.inputs[1] === r ? mul.inputs[0] : null;
  if (!gName || mul.inputs.length !== 2) return null;
  const g = b.get(gName);
  const data = floatConst(b, gName);
  if (!data) return null;
  const rShape = b.get(r).shape;
  // Broadcasting g to r must not grow r: g is a scalar, or k values along `axis` (trailing-aligned).
  if (sizeOf(b.get(mul.outputs[0]).shape) !== sizeOf(rShape)) return null;
  if (data.length === 1) return new Float64Array(k).fill(data[0]);
  const offset = rShape.length - g.shape.length;
  const along = g.shape.every((d, i) => (i + offset === axis ? d === k : d === 1));
  return data.length === k && offset >= 0 && along ? Float64Array.from(data) : null;
}

/** g between the Relu and the second linear map: `Mul(Relu, g)`, or 1 when the Relu feeds it directly. */
function scalesBefore(b: Bounder, u: string, k: number, axis: number): { r: string; g: Float64Array; mul: OnnxNode | null } | null {
  const mul = producerOf(b, u, 'Mul');
  if (!mul) return producerOf(b, u, 'Relu') ? { r: u, g: new Float64Array(k).fill(1), mul: null } : null;
  for (const r of mul.inputs) {
    if (!producerOf(b, r, 'Relu')) continue;
    const g = perUnitScales(b, mul, r, k, axis);
    if (g) return { r, g, mul };
  }
  return null;
}

/** Dense form: Gemm(x, A^T) -> Relu -> Mul(g) -> Gemm(., A) -> Sub. */
function matchDense(b: Bounder, x: string, second: OnnxNode): Matched | null {
  const p2 = gemmParams(b.shapeContext(second));
  if (p2.transA || p2.alpha !== 1 || !constantOrAbsent(b, second.inputs[2])) return null;
  const k = p2.k;
  const scaled = scalesBefore(b, second.inputs[0], k, 1);
  if (!scaled) return null;
  const relu = producerOf(b, scaled.r, 'Relu')!;
  const first = producerOf(b, relu.inputs[0], 'Gemm');
  if (!first || first.inputs[0] !== x) return null;
  const p1 = gemmParams(b.shapeContext(first));
  if (p1.transA || p1.alpha !== 1 || p1.n !== k || !constantOrAbsent(b, first.inputs[2])) return null;
  const n = p1.k;
  if (p2.n !== n) return null;
  const w1 = floatConst(b, first.inputs[1]);
  const w2 = floatConst(b, second.inputs[1]);
  if (!w1 || !w2) return null;
  // A [k, n]: the first Gemm computes x A^T, the second u A.
  const a = new Float64Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const v1 = p1.transB ? w1[i * n + j] : w1[j * k + i];
      const v2 = p2.transB ? w2[j * k + i] : w2[i * n + j];
      if (v1 !== v2) return null;
      a[i * n + j] = v1;
    }
  }
  return { kind: 'dense', a, k, n, g: scaled.g, nodes: [first, relu, ...(scaled.mul ? [scaled.mul] : []), second] };
}

/** Conv form: Conv(x, K) -> Relu -> Mul(g) -> Conv(., K^T) -> Sub. */
function matchConv(b: Bounder, x: string, second: OnnxNode): Matched | null {
  if (b.get(x).shape.length !== 4) return null;
  const s2 = convSpec(b.shapeContext(second));
  const k = s2.cinPerGroup;
  const scaled = scalesBefore(b, second.inputs[0], k, 1);
  if (!scaled) return null;
  const relu = producerOf(b, scaled.r, 'Relu')!;
  const first = producerOf(b, relu.inputs[0], 'Conv');
  if (!first || first.inputs[0] !== x) return null;
  const s1 = convSpec(b.shapeContext(first));
  const plain = (s: typeof s1): boolean => s.group === 1 && s.axes.every((ax) => ax.stride === 1 && ax.dilation === 1);
  if (!plain(s1) || !plain(s2) || s1.cout !== k || s2.cout !== s1.cinPerGroup || s1.kernel.join() !== s2.kernel.join()) return null;
  if (!constantOrAbsent(b, first.inputs[2]) || !constantOrAbsent(b, second.inputs[2])) return null;
  const [kh, kw] = s1.kernel;
  // The adjoint of a zero-padded conv pads by the kernel size minus one minus the forward pad, on each side.
  const complementary = s1.axes.every((ax, i) => s2.axes[i].padBegin === s1.kernel[i] - 1 - ax.padBegin && s2.axes[i].padEnd === s1.kernel[i] - 1 - ax.padEnd);
  if (!complementary || s1.axes.some((ax) => ax.padBegin < 0 || ax.padEnd < 0)) return null;
  const c = s1.cinPerGroup;
  const k1 = floatConst(b, first.inputs[1]);
  const k2 = floatConst(b, second.inputs[1]);
  if (!k1 || !k2) return null;
  for (let o = 0; o < k; o++) {
    for (let ci = 0; ci < c; ci++) {
      for (let y = 0; y < kh; y++) {
        for (let xx = 0; xx < kw; xx++) {
          if (k1[((o * c + ci) * kh + y) * kw + xx] !== k2[((ci * k + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - xx)]) return null;
        }
      }
    }
  }
  const inputHW: [number, number] = [s1.axes[0].n, s1.axes[1].n];
  return { kind: 'conv', kernel: k1, shape: [k, c, kh, kw], inputHW, g: scaled.g, nodes: [first, relu, ...(scaled.mul ? [scaled.mul] : []), second] };
}

/** Multiply-adds of the certificate, from the shapes (a generous estimate of the Gram, Lanczos and Cholesky work). */
function certificateWork(m: Matched): number {
  if (m.kind === 'dense') {
    const d = Math.min(m.k, m.n);
    return (Math.max(m.k, m.n) * d * (d + 1)) / 2 + d * d * d + 400 * d * d;
  }
  const [k, c, kh, kw] = m.shape;
  const frequencies = ((m.inputHW[0] + kh - 1) * (m.inputHW[1] + kw - 1)) / 2 + 1;
  const small = 2 * Math.min(k, c);
  return frequencies * (4 * kh * kw * k * c + 4 * small * small * Math.max(k, c) + small * small * small + 400 * small * small);
}

/**
 * The bound of `Sub(x, z)` (output `outShape`) when it is an SLL block
 * (module comment), else null (the caller's generic rule applies).
 */
export function sllResidualBound(b: Bounder, node: OnnxNode, outShape: readonly number[]): SllResidualBound | null {
  if (b.opts.shapesOnly || node.opType !== 'Sub' || node.inputs.length !== 2) return null;
  const [x, z] = node.inputs;
  const xv = b.get(x);
  const zv = b.get(z);
  if (xv.isConst || zv.isConst || xv.shape.join() !== zv.shape.join() || outShape.join() !== xv.shape.join()) return null;
  const second = producerOf(b, z, 'Gemm') ?? producerOf(b, z, 'Conv');
  if (!second) return null;
  const m = second.opType === 'Gemm' ? matchDense(b, x, second) : matchConv(b, x, second);
  if (!m) return null;
  const limit = m.kind === 'dense' ? b.limits.denseWork : b.limits.convCircularWork;
  const inLip = b.lipOf(x);
  const generic = nextUp(nextUp(inLip) + b.lipOf(z));
  const names = [...m.nodes.map((n) => n.name), node.name];
  const what = m.kind === 'dense' ? `${m.k}x${m.n} dense` : `${m.shape.join('x')} conv on ${m.inputHW.join('x')}`;
  if (certificateWork(m) > limit) {
    return {
      lip: generic,
      inLip,
      nodes: names,
      method: `SLL block (${what}) bounded as x plus its branch: its certificate is over the work limit of ${limit.toExponential(0)}`,
    };
  }
  const c = m.kind === 'dense' ? sllDenseNormSquaredUpperBound(m.a, m.k, m.n, m.g) : sllConvNormSquaredUpperBound(m.kernel, m.shape, m.inputHW, m.g);
  const factor = sllLipschitzFactor(c);
  const lip = mulUp(inLip, factor);
  const proof = `||diag(g)^1/2 A||^2 <= ${c.toPrecision(8)}`;
  if (!(lip < generic))
    return { lip: generic, inLip, nodes: names, method: `SLL block (${what}) bounded as x plus its branch (${proof}: factor ${factor.toPrecision(8)})` };
  const why = factor === 1 ? `${proof} <= 2: 1-Lipschitz` : `${proof} > 2: factor c - 1 = ${factor.toPrecision(8)}`;
  return { lip, inLip, nodes: names, method: `SLL residual block x - A^T diag(g) relu(A x + b) (${what}, Araujo et al. 2023): certified ${why}` };
}

/**
 * Sets the output of `Sub(x, z)` by `sllResidualBound` and records the block
 * ('SLL' in the layer table); false when it is no SLL block.
 */
export function applySllResidual(b: Bounder, node: OnnxNode, shape: number[], dtype: Val['dtype'], why: string | undefined): boolean {
  const r = sllResidualBound(b, node, shape);
  if (!r) return false;
  const v: Val = { shape, dtype, lip: r.lip, why, isConst: false, producer: node };
  b.setVal(node.outputs[0], v);
  const factor = r.inLip > 0 ? r.lip / r.inLip : r.lip;
  b.layers.push({ node: r.nodes[0], value: node.outputs[0], op: 'SLL', nodes: r.nodes, factor, cumulative: r.lip, method: r.method, outputShape: shape });
  return true;
}
