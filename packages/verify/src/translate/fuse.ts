import { OnnxNode, OnnxTensor } from '../onnx/read';

/** Op type of the fused GroupSort2 node (internal to the translator). */
export const FUSED_GROUPSORT2 = 'lip.GroupSort2';

/** Per-image static shapes by value name (batch 1), from `inferShapes`. */
export type StaticShapes = ReadonlyMap<string, readonly number[]>;

const product = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

/** Users of every value; graph outputs count as a user. */
function usersOf(nodes: readonly OnnxNode[], graphOutputs: readonly string[]): Map<string, OnnxNode[]> {
  const uses = new Map<string, OnnxNode[]>();
  for (const n of nodes) for (const i of n.inputs) if (i) uses.set(i, [...(uses.get(i) ?? []), n]);
  for (const o of graphOutputs) uses.set(o, [...(uses.get(o) ?? []), { opType: '<output>' } as OnnxNode]);
  return uses;
}

/** `nodes` with each key of `replacement` replaced and the `removed` ones dropped. */
function rewrite(nodes: readonly OnnxNode[], removed: ReadonlySet<OnnxNode>, replacement: ReadonlyMap<OnnxNode, OnnxNode>): OnnxNode[] {
  const out: OnnxNode[] = [];
  for (const n of nodes) {
    const rep = replacement.get(n);
    if (rep) out.push(rep);
    else if (!removed.has(n)) out.push(n);
  }
  return out;
}

/**
 * Finds GroupSort2 on channel pairs and replaces it by one internal node:
 *
 *   Reshape(x, [-1, C/2, 2, S...]) -> pair op on axis 2 -> Reshape(., shape of x)
 *   lip:      Split(axis 2, [1, 1]) -> p, q, then
 *             default:  lo = Min(p, q), hi = Max(p, q)
 *             portable: r = Relu(Sub(p, q)), lo = Sub(p, r), hi = Add(q, r)
 *             -> Concat([lo, hi], axis 2)
 *   torchlip: Concat([ReduceMin(v, axes [2], keepdims), ReduceMax(v, axes [2], keepdims)], axis 2)
 *
 * where x is `[N, C, H, W]` or `[N, C]` (checked on the static shapes) and S
 * its spatial entries (one or more axes). Run op by op on wasm this costs
 * layout transposes and slices or reductions of a size-2 axis, which are very
 * slow there (PERF-NOTES); the fused node computes the same values on the
 * NHWC view. Intermediate values used elsewhere, or any deviation from the
 * pattern, leave the nodes as they are.
 */
export function fuseGroupSort2(
  nodes: readonly OnnxNode[],
  constants: ReadonlyMap<string, OnnxTensor>,
  graphOutputs: readonly string[],
  shapes: StaticShapes,
): OnnxNode[] {
  const uses = usersOf(nodes, graphOutputs);
  const only = (value: string): OnnxNode | null => {
    const u = uses.get(value) ?? [];
    return u.length === 1 ? u[0] : null;
  };
  const ints = (name: string | undefined): number[] | null => {
    const c = name ? constants.get(name) : undefined;
    return c ? Array.from(c.data as ArrayLike<number>, Number) : null;
  };
  const axisIs2 = (n: OnnxNode, rank: number): boolean => {
    const a = n.attributes.axis;
    return typeof a === 'number' && (a === 2 || a + rank === 2);
  };
  /** ReduceMin/ReduceMax over axis 2 only, keeping it (axes an attribute before opset 18, an input from 18). */
  const reducesAxis2 = (n: OnnxNode, rank: number): boolean => {
    const axes = n.inputs[1] ? ints(n.inputs[1]) : ((n.attributes.axes as number[] | undefined) ?? null);
    return (n.attributes.keepdims ?? 1) === 1 && axes !== null && axes.length === 1 && (axes[0] === 2 || axes[0] + rank === 2);
  };

  const removed = new Set<OnnxNode>();
  const replacement = new Map<OnnxNode, OnnxNode>();
  for (const r1 of nodes) {
    if (r1.opType !== 'Reshape' || removed.has(r1)) continue;
    const x = r1.inputs[0];
    const xShape = shapes.get(x);
    const grouped = shapes.get(r1.outputs[0]);
    // [1, C/2, 2, S...] from x = [1, C, H, W] or [1, C] with the same S entries per channel.
    if (!xShape || !grouped || grouped.length < 3 || grouped[2] !== 2 || !(xShape.length === 4 || xShape.length === 2)) continue;
    if (xShape[0] !== 1 || grouped[0] !== 1 || xShape[1] !== 2 * grouped[1] || product(xShape.slice(2)) !== product(grouped.slice(3))) continue;
    const rank = grouped.length;
    const group: OnnxNode[] = [r1];
    let lo: string | null = null;
    let hi: string | null = null;
    const vUses = uses.get(r1.outputs[0]) ?? [];
    const rMin = vUses.find((n) => n.opType === 'ReduceMin');
    const rMax = vUses.find((n) => n.opType === 'ReduceMax');
    if (vUses.length === 2 && rMin && rMax && reducesAxis2(rMin, rank) && reducesAxis2(rMax, rank)) {
      lo = rMin.outputs[0];
      hi = rMax.outputs[0];
      group.push(rMin, rMax);
    } else {
      const split = only(r1.outputs[0]);
      if (!split || split.opType !== 'Split' || split.outputs.length !== 2 || !axisIs2(split, rank)) continue;
      const sizes = split.inputs[1] ? ints(split.inputs[1]) : ((split.attributes.split as number[] | undefined) ?? [1, 1]);
      if (!sizes || sizes.length !== 2 || sizes[0] !== 1 || sizes[1] !== 1) continue;
      const [p, q] = split.outputs;
      group.push(split);
      const pUses = uses.get(p) ?? [];
      const qUses = uses.get(q) ?? [];
      const mn = pUses.find((n) => n.opType === 'Min');
      const mx = pUses.find((n) => n.opType === 'Max');
      if (mn && mx && pUses.length === 2 && qUses.length === 2 && mn.inputs.join() === `${p},${q}` && mx.inputs.join() === `${p},${q}`) {
        lo = mn.outputs[0];
        hi = mx.outputs[0];
        group.push(mn, mx);
      } else {
        const sub = pUses.find((n) => n.opType === 'Sub' && n.inputs.join() === `${p},${q}`);
        const relu = sub ? only(sub.outputs[0]) : null;
        if (!sub || !relu || relu.opType !== 'Relu') continue;
        const r = relu.outputs[0];
        const rUses = uses.get(r) ?? [];
        const sub2 = rUses.find((n) => n.opType === 'Sub' && n.inputs.join() === `${p},${r}`);
        const add = rUses.find((n) => n.opType === 'Add' && n.inputs.join() === `${q},${r}`);
        if (!sub2 || !add || rUses.length !== 2 || pUses.length !== 2 || qUses.length !== 2 || !qUses.includes(sub) || !qUses.includes(add)) continue;
        lo = sub2.outputs[0];
        hi = add.outputs[0];
        group.push(sub, relu, sub2, add);
      }
    }
    const concat = only(lo);
    if (!concat || concat.opType !== 'Concat' || only(hi) !== concat || concat.inputs.join() !== `${lo},${hi}` || !axisIs2(concat, rank)) continue;
    const r2 = only(concat.outputs[0]);
    // Back to the shape of x.
    if (!r2 || r2.opType !== 'Reshape' || shapes.get(r2.outputs[0])?.join() !== xShape.join()) continue;
    group.push(concat, r2);
    group.forEach((n) => removed.add(n));
    replacement.set(r2, {
      name: `${r1.name}+groupsort2`,
      opType: FUSED_GROUPSORT2,
      domain: '',
      inputs: [x],
      outputs: [r2.outputs[0]],
      attributes: { channels: xShape[1] },
    });
  }
  return rewrite(nodes, removed, replacement);
}

/** Op type of the fused L2 pooling node (internal to the translator). */
export const FUSED_L2POOL = 'lip.L2Pool';

/**
 * Finds the portable profile's L2 pooling, `Sqrt(AveragePool(Mul(x, x)))` with
 * an optional constant scalar Mul before the Sqrt, on windows that tile the
 * input (strides = kernel, no pads), and replaces it by one internal node
 * `scale * sqrt(sum_window x^2)`, `scale = sqrt(c / K)`.
 */
export function fuseL2Pool(nodes: readonly OnnxNode[], constants: ReadonlyMap<string, OnnxTensor>, graphOutputs: readonly string[]): OnnxNode[] {
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) if (i) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const o of graphOutputs) uses.set(o, (uses.get(o) ?? 0) + 1);
  const consumer = new Map<string, OnnxNode>();
  for (const n of nodes) for (const i of n.inputs) if (i) consumer.set(i, n);
  const single = (v: string): OnnxNode | null => (uses.get(v) === 1 ? (consumer.get(v) ?? null) : null);
  const scalar = (name: string): number | null => {
    const c = constants.get(name);
    return c && c.size === 1 && c.dataType.startsWith('float') ? Number(c.data[0]) : null;
  };
  const ints = (n: OnnxNode, key: string): number[] | undefined => n.attributes[key] as number[] | undefined;

  const removed = new Set<OnnxNode>();
  const replacement = new Map<OnnxNode, OnnxNode>();
  for (const sq of nodes) {
    if (sq.opType !== 'Mul' || sq.inputs.length !== 2 || sq.inputs[0] !== sq.inputs[1] || removed.has(sq)) continue;
    const pool = single(sq.outputs[0]);
    if (!pool || pool.opType !== 'AveragePool') continue;
    const k = ints(pool, 'kernel_shape');
    const st = ints(pool, 'strides') ?? [1, 1];
    const pads = ints(pool, 'pads') ?? [0, 0, 0, 0];
    const auto = pool.attributes.auto_pad;
    if (
      !k ||
      k.length !== 2 ||
      st[0] !== k[0] ||
      st[1] !== k[1] ||
      pads.some((v) => v !== 0) ||
      (auto !== undefined && auto !== 'NOTSET' && auto !== 'VALID') ||
      (pool.attributes.ceil_mode ?? 0) !== 0
    )
      continue;
    let next = single(pool.outputs[0]);
    let c = 1;
    const group = [sq, pool];
    if (next && next.opType === 'Mul') {
      const other = next.inputs[0] === pool.outputs[0] ? next.inputs[1] : next.inputs[0];
      const v = scalar(other);
      if (v === null || !(v > 0)) continue;
      c = v;
      group.push(next);
      next = single(next.outputs[0]);
    }
    if (!next || next.opType !== 'Sqrt') continue;
    group.push(next);
    group.forEach((n) => removed.add(n));
    replacement.set(next, {
      name: `${sq.name}+l2pool`,
      opType: FUSED_L2POOL,
      domain: '',
      inputs: [sq.inputs[0]],
      outputs: [next.outputs[0]],
      attributes: { kernel_shape: k, scale: Math.sqrt(c / (k[0] * k[1])) },
    });
  }
  fuseTorchLpPool2d(nodes, constants, removed, replacement, uses, scalar, ints);
  return rewrite(nodes, removed, replacement);
}

/**
 * torch's `F.lp_pool2d(x, 2, k)` as torch.onnx writes it (deel-torchlip's
 * ScaledL2NormPool2d): `Pow(Mul(Mul(Sign(m), Relu(Abs(m))), c), 0.5)` with
 * `m = AveragePool(Pad(Pow(x, 2)))`, the Pad all zeros and the windows tiling
 * the input. sign(m)·relu(|m|) = m for m a mean of squares, so this is
 * `sqrt(c/K · sum_window x^2)`: the same internal node as above. Computed from
 * x, the norm is exact, where the unfused square root of a near-zero window
 * sum amplified the backend's rounding (wasm differed from onnxruntime by 6e-4).
 */
function fuseTorchLpPool2d(
  nodes: readonly OnnxNode[],
  constants: ReadonlyMap<string, OnnxTensor>,
  removed: Set<OnnxNode>,
  replacement: Map<OnnxNode, OnnxNode>,
  uses: ReadonlyMap<string, number>,
  scalar: (name: string) => number | null,
  ints: (n: OnnxNode, key: string) => number[] | undefined,
): void {
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const only = (v: string): OnnxNode | null => (uses.get(v) === 1 ? (consumers.get(v)?.[0] ?? null) : null);
  const allZero = (name: string | undefined): boolean => {
    const c = name ? constants.get(name) : undefined;
    return c !== undefined && Array.from(c.data as ArrayLike<number | bigint>).every((v) => Number(v) === 0);
  };
  for (const sq of nodes) {
    if (sq.opType !== 'Pow' || removed.has(sq) || scalar(sq.inputs[1]) !== 2) continue;
    const group: OnnxNode[] = [sq];
    let pool = only(sq.outputs[0]);
    if (pool && pool.opType === 'Pad') {
      const mode = pool.attributes.mode ?? 'constant';
      const value = pool.inputs[2] ? scalar(pool.inputs[2]) : 0;
      if (mode !== 'constant' || value !== 0 || !allZero(pool.inputs[1])) continue;
      group.push(pool);
      pool = only(pool.outputs[0]);
    }
    if (!pool || pool.opType !== 'AveragePool') continue;
    const k = ints(pool, 'kernel_shape');
    const st = ints(pool, 'strides') ?? [1, 1];
    const pads = ints(pool, 'pads') ?? [0, 0, 0, 0];
    const auto = pool.attributes.auto_pad;
    if (
      !k ||
      k.length !== 2 ||
      st[0] !== k[0] ||
      st[1] !== k[1] ||
      pads.some((v) => v !== 0) ||
      (auto !== undefined && auto !== 'NOTSET' && auto !== 'VALID') ||
      (pool.attributes.ceil_mode ?? 0) !== 0 ||
      (ints(pool, 'dilations') ?? [1, 1]).some((d) => d !== 1)
    )
      continue;
    const m = pool.outputs[0];
    const users = consumers.get(m) ?? [];
    const sign = users.find((n) => n.opType === 'Sign');
    const abs = users.find((n) => n.opType === 'Abs');
    if (users.length !== 2 || uses.get(m) !== 2 || !sign || !abs) continue;
    const relu = only(abs.outputs[0]);
    if (!relu || relu.opType !== 'Relu') continue;
    const prod = only(relu.outputs[0]);
    if (!prod || prod.opType !== 'Mul' || only(sign.outputs[0]) !== prod || !prod.inputs.includes(sign.outputs[0])) continue;
    let next = only(prod.outputs[0]);
    let c = 1;
    const tail: OnnxNode[] = [sign, abs, relu, prod];
    if (next && next.opType === 'Mul') {
      const v = scalar(next.inputs[0] === prod.outputs[0] ? next.inputs[1] : next.inputs[0]);
      if (v === null || !(v > 0)) continue;
      c = v;
      tail.push(next);
      next = only(next.outputs[0]);
    }
    if (!next || next.opType !== 'Pow' || scalar(next.inputs[1]) !== 0.5) continue;
    [...group, pool, ...tail, next].forEach((n) => removed.add(n));
    replacement.set(next, {
      name: `${sq.name}+lp_pool2d`,
      opType: FUSED_L2POOL,
      domain: '',
      inputs: [sq.inputs[0]],
      outputs: [next.outputs[0]],
      attributes: { kernel_shape: k, scale: Math.sqrt(c / (k[0] * k[1])) },
    });
  }
}

/** Op type of a fused chain of layout ops (internal to the translator). */
export const FUSED_PERMUTE = 'lip.Permute';

/** Layout ops a chain may hold. */
const LAYOUT_OPS = new Set(['Reshape', 'Transpose', 'Flatten', 'SpaceToDepth', 'DepthToSpace']);

/** Row-major `src` of per-image `shape` with its axes permuted by `perm` (axis i of the result is axis perm[i]). */
function transposeEntries(src: Int32Array, shape: readonly number[], perm: readonly number[]): Int32Array {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  for (let a = rank - 1, s = 1; a >= 0; s *= shape[a], a--) strides[a] = s;
  const outShape = perm.map((a) => shape[a]);
  const outStrides = perm.map((a) => strides[a]);
  const out = new Int32Array(src.length);
  const index = new Array<number>(rank).fill(0);
  for (let q = 0; q < out.length; q++) {
    let from = 0;
    for (let a = 0; a < rank; a++) from += index[a] * outStrides[a];
    out[q] = src[from];
    for (let a = rank - 1; a >= 0; a--) {
      if (++index[a] < outShape[a]) break;
      index[a] = 0;
    }
  }
  return out;
}

/**
 * Where each entry of one image goes through a layout op that keeps the batch
 * axis first: `src` (for each entry of the input, row-major, the chain input
 * entry it holds) moved to the op's output; null when the op mixes images or
 * is not a pure layout op. SpaceToDepth and DepthToSpace are the
 * reshape-transpose-reshape of the ONNX specification.
 */
function layoutStep(
  node: OnnxNode,
  src: Int32Array,
  inShape: readonly number[],
  outShape: readonly number[] | undefined,
  constants: ReadonlyMap<string, OnnxTensor>,
): Int32Array | null {
  if (!outShape || outShape[0] !== 1 || inShape[0] !== 1) return null;
  const per = inShape.slice(1);
  switch (node.opType) {
    case 'Reshape': {
      const spec = node.inputs[1] ? constants.get(node.inputs[1]) : undefined;
      const allowZero = node.attributes.allowzero === 1;
      const first = spec && spec.size > 0 ? Number(spec.data[0]) : NaN;
      // -1 or a copied batch axis first, then fixed per-image axes: the batch axis stays apart at every batch size.
      const rest = spec ? Array.from(spec.data as ArrayLike<number | bigint>, Number).slice(1) : [];
      if (!(first === -1 || (first === 0 && !allowZero)) || rest.some((d) => d === -1)) return null;
      return src;
    }
    case 'Flatten':
      return node.attributes.axis === undefined || node.attributes.axis === 1 ? src : null;
    case 'Transpose': {
      const perm = node.attributes.perm as number[] | undefined;
      if (!perm || perm.length !== inShape.length || perm[0] !== 0) return null;
      return transposeEntries(
        src,
        per,
        perm.slice(1).map((a) => a - 1),
      );
    }
    case 'SpaceToDepth':
    case 'DepthToSpace': {
      const b = node.attributes.blocksize;
      if (typeof b !== 'number' || per.length !== 3) return null;
      const [c, h, w] = per;
      if (node.opType === 'SpaceToDepth') return transposeEntries(src, [c, h / b, b, w / b, b], [2, 4, 0, 1, 3]);
      const co = c / (b * b);
      return node.attributes.mode === 'CRD'
        ? transposeEntries(src, [co, b, b, h, w], [0, 3, 1, 4, 2])
        : transposeEntries(src, [b, b, co, h, w], [2, 3, 0, 4, 1]);
    }
    default:
      return null;
  }
}

/**
 * Replaces each chain of layout ops (Reshape, Transpose, Flatten,
 * SpaceToDepth, DepthToSpace) that keeps every image's entries apart and
 * moves some of them (the invertible downsampling, `Reshape -> Transpose ->
 * Reshape` twice, is one) by one internal node: a gather of each image's
 * entries, whose gradient is the gather by the inverse permutation. Its
 * attributes: `source` (for each output entry of one image, row-major, the
 * input entry it comes from), `in_shape` and `out_shape` (per image). On wasm
 * each 6-D transpose cost a slow generic kernel call forward and backward.
 * Values used outside a chain end it; chains of reshapes only are left alone
 * (reshapes are free); a chain that moves nothing in the end becomes a reshape.
 */
export function fuseLayoutChains(
  nodes: readonly OnnxNode[],
  constants: ReadonlyMap<string, OnnxTensor>,
  graphOutputs: readonly string[],
  shapes: StaticShapes,
): OnnxNode[] {
  const uses = usersOf(nodes, graphOutputs);
  const removed = new Set<OnnxNode>();
  const replacement = new Map<OnnxNode, OnnxNode>();
  const inChain = new Set<OnnxNode>();
  for (const head of nodes) {
    if (inChain.has(head) || !LAYOUT_OPS.has(head.opType)) continue;
    const inShape = shapes.get(head.inputs[0]);
    if (!inShape || inShape.length < 2) continue;
    let src: Int32Array = Int32Array.from({ length: product(inShape) }, (_, i) => i);
    const chain: OnnxNode[] = [];
    let node: OnnxNode | null = head;
    let shape: readonly number[] = inShape;
    let moves = false;
    while (node && LAYOUT_OPS.has(node.opType) && !inChain.has(node)) {
      const outShape = shapes.get(node.outputs[0]);
      const next = layoutStep(node, src, shape, outShape, constants);
      if (!next || !outShape) break;
      moves ||= node.opType !== 'Reshape' && node.opType !== 'Flatten';
      chain.push(node);
      src = next;
      shape = outShape;
      const u: OnnxNode[] = uses.get(node.outputs[0]) ?? [];
      node = u.length === 1 ? u[0] : null;
    }
    chain.forEach((n) => inChain.add(n));
    if (!moves) continue;
    const last = chain[chain.length - 1];
    chain.forEach((n) => removed.add(n));
    replacement.set(last, {
      name: `${head.name}+layout`,
      opType: FUSED_PERMUTE,
      domain: '',
      inputs: [head.inputs[0]],
      outputs: [last.outputs[0]],
      attributes: { source: Array.from(src), in_shape: inShape.slice(1), out_shape: shape.slice(1) },
    });
  }
  return rewrite(nodes, removed, replacement);
}
