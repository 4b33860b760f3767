import { GraphBuilder } from '../onnx/builder';
import { EmitContext, Emitter, onnxDims, refuse, reshape, splitEqual } from './context';

/*
 * GroupSort sorts consecutive channels in groups of n, ascending (Anil, Lucas
 * and Grosse 2019). In the graph the channel axis is 1 ([N, C, H, W] or
 * [N, F]); both ranks are viewed as [N, C/n, n, S] (S = H*W, or 1), sorted
 * along axis 2, and reshaped back.
 */

/** min and max of two values: Min/Max, or `max = b + relu(a - b)`, `min = a - relu(a - b)` (portable). */
export function minMax(b: GraphBuilder, portable: boolean, x: string, y: string): [string, string] {
  if (!portable) return [b.node('Min', [x, y])[0], b.node('Max', [x, y])[0]];
  const [d] = b.node('Sub', [x, y]);
  const [r] = b.node('Relu', [d]);
  return [b.node('Sub', [x, r])[0], b.node('Add', [y, r])[0]];
}

/**
 * Batcher's merge-exchange network (Knuth, TAOCP vol. 3, 5.2.2 Algorithm M):
 * the comparator pairs (i, j), i < j, that sort any n inputs ascending.
 */
export function sortingNetwork(n: number): [number, number][] {
  const pairs: [number, number][] = [];
  if (n < 2) return pairs;
  const t = Math.ceil(Math.log2(n));
  for (let p = 2 ** (t - 1); p > 0; p = Math.floor(p / 2)) {
    let q = 2 ** (t - 1);
    let r = 0;
    let d = p;
    for (;;) {
      for (let i = 0; i + d < n; i++) {
        if ((i & p) === r) pairs.push([i, i + d]);
      }
      if (q === p) break;
      d = q - p;
      q /= 2;
      r = p;
    }
  }
  return pairs;
}

/** Sorts x (viewed as [N, groups, n, S]) along axis 2, ascending. */
function sortGroups(ctx: EmitContext, n: number): string {
  const { b } = ctx;
  const dims = onnxDims(ctx.inShape);
  const channels = dims[0];
  if (channels % n !== 0) refuse(ctx, `${channels} channels do not split into groups of ${n}`);
  const spatial = dims.slice(1).reduce((a, d) => a * d, 1);
  const grouped = reshape(b, ctx.x, [channels / n, n, spatial]);
  const portable = ctx.profile === 'portable';
  let sorted: string;
  if (n === 1) {
    sorted = grouped;
  } else if (n === 2 || portable) {
    const lanes = splitEqual(b, grouped, 2, n);
    for (const [i, j] of n === 2 ? [[0, 1]] : sortingNetwork(n)) {
      [lanes[i], lanes[j]] = minMax(b, portable, lanes[i], lanes[j]);
    }
    sorted = b.node('Concat', lanes, { axis: 2 })[0];
  } else {
    const k = b.initializer(b.fresh('k'), [n], [1]);
    sorted = b.node('TopK', [grouped, k], { axis: 2, largest: 0, sorted: 1 }, { outputs: 2 })[0];
  }
  return reshape(b, sorted, dims);
}

/** GroupSort2: Min/Max of channel pairs (default) or Relu arithmetic (portable). */
export const emitGroupSort2: Emitter = (ctx) => sortGroups(ctx, 2);

/** GroupSort(n): TopK within groups (default) or a sorting network of compare-exchanges (portable). */
export const emitGroupSort: Emitter = (ctx) => {
  const n = ctx.config.n ?? ctx.config.groupSize;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) refuse(ctx, `group size 'n' must be a positive integer, got ${String(n)}`);
  return sortGroups(ctx, n);
};

/** FullSort: GroupSort with one group holding all channels. */
export const emitFullSort: Emitter = (ctx) => sortGroups(ctx, onnxDims(ctx.inShape)[0]);

/** MaxMin: `concat(relu(x), relu(-x))` on the channel axis. */
export const emitMaxMin: Emitter = (ctx) => {
  const { b } = ctx;
  const [pos] = b.node('Relu', [ctx.x]);
  const [neg] = b.node('Relu', [b.node('Neg', [ctx.x])[0]]);
  return b.node('Concat', [pos, neg], { axis: 1 })[0];
};
