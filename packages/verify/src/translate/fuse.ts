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
    if (!r2 || !shape2 || shape2.length !== 4 || shape2[1] !== 2 * shape1[1] || shape2[2] * shape2[3] !== shape1[3]) continue;
    group.push(concat, r2);
    group.forEach((n) => removed.add(n));
    replacement.set(r2, {
      name: `${r1.name}+groupsort2`, opType: FUSED_GROUPSORT2, domain: '', inputs: [r1.inputs[0]], outputs: [r2.outputs[0]],
      attributes: { channels: shape2[1], height: shape2[2], width: shape2[3] },
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
