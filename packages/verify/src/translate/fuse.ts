import { OnnxNode, OnnxTensor } from '../onnx/read';

/** Op type of the fused GroupSort2 node (internal to the translator). */
export const FUSED_GROUPSORT2 = 'lip.GroupSort2';

/**
 * Finds the exporter's GroupSort2 on channel pairs and replaces it by one
 * internal node:
 *
 *   Reshape(x, [-1, C/2, 2, S]) -> Split(axis 2, [1, 1]) -> p, q
 *   default:  lo = Min(p, q), hi = Max(p, q)
 *   portable: r = Relu(Sub(p, q)), lo = Sub(p, r), hi = Add(q, r)
 *   -> Concat([lo, hi], axis 2) -> Reshape(., [-1, C, H, W])
 *
 * Run op by op on wasm this costs layout transposes and slices of a size-2
 * axis, which are very slow there (PERF-NOTES); the fused node computes the
 * same values on the NHWC view. Intermediate values used elsewhere, or any
 * deviation from the pattern, leave the nodes as they are.
 */
export function fuseGroupSort2(nodes: readonly OnnxNode[], constants: ReadonlyMap<string, OnnxTensor>, graphOutputs: readonly string[]): OnnxNode[] {
  const uses = new Map<string, OnnxNode[]>();
  for (const n of nodes) for (const i of n.inputs) if (i) uses.set(i, [...(uses.get(i) ?? []), n]);
  for (const o of graphOutputs) uses.set(o, [...(uses.get(o) ?? []), { opType: '<output>' } as OnnxNode]);
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

  const removed = new Set<OnnxNode>();
  const replacement = new Map<OnnxNode, OnnxNode>();
  for (const r1 of nodes) {
    if (r1.opType !== 'Reshape' || removed.has(r1)) continue;
    const shape1 = ints(r1.inputs[1]);
    if (!shape1 || shape1.length !== 4 || shape1[2] !== 2) continue;
    const split = only(r1.outputs[0]);
    if (!split || split.opType !== 'Split' || split.outputs.length !== 2 || !axisIs2(split, 4)) continue;
    const sizes = split.inputs[1] ? ints(split.inputs[1]) : (split.attributes.split as number[] | undefined) ?? [1, 1];
    if (!sizes || sizes.length !== 2 || sizes[0] !== 1 || sizes[1] !== 1) continue;
    const [p, q] = split.outputs;
    const group: OnnxNode[] = [r1, split];
    let lo: string | null = null;
    let hi: string | null = null;
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
    const concat = only(lo);
    if (!concat || concat.opType !== 'Concat' || only(hi) !== concat || concat.inputs.join() !== `${lo},${hi}` || !axisIs2(concat, 4)) continue;
    const r2 = only(concat.outputs[0]);
    const shape2 = r2 && r2.opType === 'Reshape' ? ints(r2.inputs[1]) : null;
    // Back to [N, C, H, W], or to [N, F] for a dense layer (S = 1).
    const image = shape2 && shape2.length === 4 && shape2[1] === 2 * shape1[1] && shape2[2] * shape2[3] === shape1[3];
    const dense = shape2 && shape2.length === 2 && shape2[1] === 2 * shape1[1] && shape1[3] === 1;
    if (!r2 || !(image || dense)) continue;
    group.push(concat, r2);
    group.forEach((n) => removed.add(n));
    replacement.set(r2, {
      name: `${r1.name}+groupsort2`, opType: FUSED_GROUPSORT2, domain: '', inputs: [r1.inputs[0]], outputs: [r2.outputs[0]],
      attributes: { channels: shape2![1] },
    });
  }
  const out: OnnxNode[] = [];
  for (const n of nodes) {
    const rep = replacement.get(n);
    if (rep) out.push(rep);
    else if (!removed.has(n)) out.push(n);
  }
  return out;
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
  const single = (v: string): OnnxNode | null => (uses.get(v) === 1 ? consumer.get(v) ?? null : null);
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
    if (!k || k.length !== 2 || st[0] !== k[0] || st[1] !== k[1] || pads.some((v) => v !== 0) || (auto !== undefined && auto !== 'NOTSET' && auto !== 'VALID')
      || (pool.attributes.ceil_mode ?? 0) !== 0) continue;
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
      name: `${sq.name}+l2pool`, opType: FUSED_L2POOL, domain: '', inputs: [sq.inputs[0]], outputs: [next.outputs[0]],
      attributes: { kernel_shape: k, scale: Math.sqrt(c / (k[0] * k[1])) },
    });
  }
  fuseTorchLpPool2d(nodes, constants, removed, replacement, uses, scalar, ints);
  const out: OnnxNode[] = [];
  for (const n of nodes) {
    const rep = replacement.get(n);
    if (rep) out.push(rep);
    else if (!removed.has(n)) out.push(n);
  }
  return out;
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
  nodes: readonly OnnxNode[], constants: ReadonlyMap<string, OnnxTensor>, removed: Set<OnnxNode>, replacement: Map<OnnxNode, OnnxNode>,
  uses: ReadonlyMap<string, number>, scalar: (name: string) => number | null, ints: (n: OnnxNode, key: string) => number[] | undefined,
): void {
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const only = (v: string): OnnxNode | null => (uses.get(v) === 1 ? consumers.get(v)?.[0] ?? null : null);
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
    if (!k || k.length !== 2 || st[0] !== k[0] || st[1] !== k[1] || pads.some((v) => v !== 0) || (auto !== undefined && auto !== 'NOTSET' && auto !== 'VALID')
      || (pool.attributes.ceil_mode ?? 0) !== 0 || (ints(pool, 'dilations') ?? [1, 1]).some((d) => d !== 1)) continue;
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
      name: `${sq.name}+lp_pool2d`, opType: FUSED_L2POOL, domain: '', inputs: [sq.inputs[0]], outputs: [next.outputs[0]],
      attributes: { kernel_shape: k, scale: Math.sqrt(c / (k[0] * k[1])) },
    });
  }
}

