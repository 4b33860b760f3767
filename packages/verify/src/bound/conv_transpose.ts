/**
 * ConvTranspose's bound: it is the adjoint `A^T` of a Conv `A` with the same
 * weights, strides, dilations and begin pads, on the transposed op's output
 * grid, so `||A^T|| = ||A||` and the Conv bound (./conv.ts) applies as is.
 *
 * The Conv: weights `[C_in, C_out / group, kh, kw]` read as `[cout, cin/group,
 * kh, kw]`, input grid the ConvTranspose output, output grid its input. Per
 * axis `(in - 1) s + (k - 1) d + 1 = out + pad_begin + pad_end'` fixes the end
 * pad `pad_end' = pad_end - output_padding`; when that is negative, the last
 * `-pad_end'` rows of the grid are read by no window (the transposed op writes
 * only its bias there): the columns of `A` for them are zero, so they are
 * dropped from the grid, which leaves the norm unchanged, and `pad_end' = 0`.
 */
import type { OnnxNode } from '../onnx/read';
import { convTransposeSpec } from '../ops/attributes';
import type { Bounder, Val } from './bounder';
import { convNormUpperBound, ConvBoundGeometry } from './conv';
import { mulUp } from './rounding';

/** The Conv whose adjoint the ConvTranspose is (same norm). */
export function adjointConvGeometry(spec: ReturnType<typeof convTransposeSpec>): ConvBoundGeometry {
  const endPad = [0, 1].map((a) => spec.pads[2 + a] - spec.outputPadding[a]);
  return {
    cout: spec.cin,
    cinPerGroup: spec.coutPerGroup,
    group: spec.group,
    kernel: spec.kernel,
    strides: spec.strides,
    dilations: spec.dilations,
    pads: [spec.pads[0], spec.pads[1], Math.max(0, endPad[0]), Math.max(0, endPad[1])],
    inHW: [spec.outHW[0] + Math.min(0, endPad[0]), spec.outHW[1] + Math.min(0, endPad[1])],
    outHW: spec.inHW,
  };
}

export function handleConvTranspose(b: Bounder, node: OnnxNode): void {
  const [xn, wn, bn] = node.inputs;
  const x = b.get(xn);
  const W = b.get(wn);
  const out = node.outputs[0];
  if (!W.isConst || !W.data) b.fail(node, 'its weights must be a constant tensor');
  if (bn && !b.get(bn).isConst) b.fail(node, 'its bias must be a constant tensor');
  if (x.dtype !== W.dtype) b.fail(node, `its inputs have different element types (${x.dtype}, ${W.dtype})`);
  const [outShape] = b.outShapes(node);
  const spec = convTransposeSpec(b.shapeContext(node));
  const [kh, kw] = spec.kernel;
  const [dh, dw] = spec.dilations;
  b.checkShape(node, [spec.cin, spec.coutPerGroup, (kh - 1) * dh + 1, (kw - 1) * dw + 1], 'the dilated kernel');
  if (x.isConst) return b.setConst(out, outShape, x.dtype, undefined, node);
  const inLip = b.lipOf(xn);
  if (b.opts.shapesOnly) {
    b.setVal(out, { shape: outShape, dtype: x.dtype, lip: inLip, why: x.why, isConst: false, producer: node });
    return;
  }
  const geo = adjointConvGeometry(spec);
  const cb = convNormUpperBound(b.floatConst(node, wn, 'weights'), geo, b.opts.exactConv !== false, {
    exact: b.limits.convExactWork,
    circular: b.limits.convCircularWork,
  });
  const v: Val = { shape: outShape, dtype: x.dtype, lip: mulUp(inLip, cb.bound), why: x.why, isConst: false, producer: node };
  b.setVal(out, v);
  b.record(node, v, inLip, `adjoint of a Conv on ${geo.inHW.join('x')} inputs: ||A^T|| = ||A|| (${cb.method} bound${cb.note ? `, ${cb.note}` : ''})`);
}
