import { Householder, matrixSpectralNormUpperBound } from '@lip/train';
import { EmitContext, Emitter, onnxDims, refuse, splitEqual } from './context';
import { shrinkToBound } from './linear';
import { minMax } from './sort';

/**
 * Householder (deel-lip `Householder`) as a GroupSort2 between two rotations.
 * On the pair (z1, z2) = (channel i, channel i + C/2) with angle theta, the
 * layer is the fold h_v(z) = z - 2 v relu(<z, v>), v = (sin(theta/2),
 * -cos(theta/2)). For a rotation R, h_{Rv}(z) = R h_v(R^T z), and GroupSort2
 * (min, max) is h_{v0} with v0 = (1, -1)/sqrt(2). So with R the rotation by
 * phi = theta/2 - pi/4 (R v0 = v):
 *
 *   u = R^T z,  m = (min(u1, u2), max(u1, u2)),  h(z) = R m
 *
 * Emitted as a Gemm (features; on an image, a MatMul on the channels-last
 * view between two Transposes) for R^T, Split of the halves, Min/Max
 * (portable: Relu arithmetic), Concat, and a second Gemm / MatMul for R.
 * `lip bound` then needs no rule of its own: the rotations' certified norms
 * (each brought under 1 after float32 rounding, with the same dense bound
 * `lip bound` computes, as for a Dense) times the recognized GroupSort2
 * block (1).
 */
export const emitHouseholder: Emitter = (ctx) => {
  if (!(ctx.layer instanceof Householder)) refuse(ctx, 'it is not a Lip>Householder layer');
  if (ctx.inShape.length !== 1 && ctx.inShape.length !== 3) {
    refuse(ctx, `its input is [${ctx.inShape.join(', ')}] per sample; only [F] and [H, W, C] are supported`);
  }
  const channels = onnxDims(ctx.inShape)[0];
  if (channels % 2 !== 0) refuse(ctx, `its channel count ${channels} is odd`);
  const t = ctx.layer.theta();
  const theta = Float64Array.from(t.dataSync());
  t.dispose();
  const half = channels / 2;
  // tfjs layout [in, out] (u = z K): the rotation R^T per pair, and R.
  const forward = new Float32Array(channels * channels);
  const back = new Float32Array(channels * channels);
  for (let p = 0; p < half; p++) {
    const phi = theta[p] / 2 - Math.PI / 4;
    const [c, s] = [Math.cos(phi), Math.sin(phi)];
    const q = p + half;
    // u_p = c z_p + s z_q, u_q = -s z_p + c z_q;  out_p = c m_p - s m_q, out_q = s m_p + c m_q.
    forward[p * channels + p] = c;
    forward[q * channels + p] = s;
    forward[p * channels + q] = -s;
    forward[q * channels + q] = c;
    back[p * channels + p] = c;
    back[q * channels + p] = -s;
    back[p * channels + q] = s;
    back[q * channels + q] = c;
  }
  const { b } = ctx;
  const image = ctx.inShape.length === 3;
  // Images are rotated channels-last: [N, H, W, C] MatMul [C, C] (the dense bound's exact norm, not a conv's).
  const z = image ? b.node('Transpose', [ctx.x], { perm: [0, 2, 3, 1] })[0] : ctx.x;
  const axis = image ? 3 : 1;
  const u = rotate(ctx, z, forward, 'rotate');
  const [u1, u2] = splitEqual(b, u, axis, 2, half);
  const [lo, hi] = minMax(b, ctx.profile === 'portable', u1, u2);
  const [m] = b.node('Concat', [lo, hi], { axis });
  const out = rotate(ctx, m, back, 'unrotate');
  return image ? b.node('Transpose', [out], { perm: [0, 3, 1, 2] })[0] : out;
};

/**
 * `x K` on the last axis (K `[C, C]`, tfjs layout `[in, out]`), scaled so that its certified norm is at most 1:
 * `Gemm` with `B = K^T` on features, `MatMul` on a channels-last image.
 */
function rotate(ctx: EmitContext, x: string, kernel: Float32Array, label: string): string {
  const { b } = ctx;
  const c = Math.sqrt(kernel.length);
  const k = shrinkToBound(kernel, (v) => matrixSpectralNormUpperBound(v, c, c), 1);
  const name = b.fresh(`${ctx.layer.name}_${label}`);
  if (ctx.inShape.length === 3) return b.node('MatMul', [x, b.initializer(b.fresh(`${ctx.layer.name}_${label}_W`), k, [c, c])], {}, { name })[0];
  // Gemm's B is [out, in] with transB = 1, as the Dense emitter writes it.
  const w = new Float32Array(c * c);
  for (let i = 0; i < c; i++) for (let o = 0; o < c; o++) w[o * c + i] = k[i * c + o];
  return b.node('Gemm', [x, b.initializer(b.fresh(`${ctx.layer.name}_${label}_W`), w, [c, c])], { transA: 0, transB: 1 }, { name })[0];
}
