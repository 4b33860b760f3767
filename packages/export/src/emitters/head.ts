/**
 * The constants of the head-aware certificate, written to metadata so that a
 * runtime can certify without reading the weights:
 *
 *   r(x) = min_{j != y} (f_y - f_j) / (||w_y - w_j|| L_body)
 *
 * for logits f = W g(x) + b with g L_body-Lipschitz (see
 * packages/verify/src/certificates.ts). `head_row_distances` holds
 * ||w_i - w_j|| for every pair (@lip/core's `headRowDistances`, which verify
 * recomputes from the graph), `head_body_lipschitz` the L_body the model was
 * built for (the product of the k of every layer before the head).
 */
import { headRowDistances } from '@lip/core';
import type { onnx } from 'onnx-proto';

/** Above this many classes the distance matrix (classes^2 numbers) is not written. */
export const MAX_HEAD_CLASSES = 256;

/** The final linear layer of an exported graph: row j of `weights` is logit j's (`[classes, dim]`). */
export interface HeadWeights {
  classes: number;
  dim: number;
  weights: Float32Array;
}

/**
 * The head of a graph `emitDense` wrote: the node producing `output` is
 * `Gemm(x, B, C?)` with `B` a float32 initializer `[classes, dim]`,
 * `transB = 1`, no `transA` and no `alpha`. Null for any other graph end.
 */
export function findHead(model: onnx.IModelProto, output: string): HeadWeights | null {
  const graph = model.graph;
  const node = graph?.node?.find((n) => (n.output ?? [])[0] === output);
  if (!graph || !node || node.opType !== 'Gemm') return null;
  const attr = (name: string): number | undefined => {
    const a = (node.attribute ?? []).find((x) => x.name === name);
    if (!a) return undefined;
    // type 1 is FLOAT; anything else is read as INT (a number, or a Long once decoded).
    return a.type === 1 ? Number(a.f ?? 0) : Number(String(a.i ?? 0));
  };
  if ((attr('transA') ?? 0) !== 0 || attr('transB') !== 1 || (attr('alpha') ?? 1) !== 1) return null;
  const b = (graph.initializer ?? []).find((t) => t.name === (node.input ?? [])[1]);
  const dims = (b?.dims ?? []).map(Number);
  if (!b || b.dataType !== 1 || dims.length !== 2 || !b.rawData) return null;
  const [classes, dim] = dims;
  const raw = b.rawData;
  if (raw.length !== classes * dim * 4) return null;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const weights = new Float32Array(classes * dim);
  for (let i = 0; i < weights.length; i++) weights[i] = view.getFloat32(4 * i, true);
  return { classes, dim, weights };
}

/**
 * `head_body_lipschitz` and `head_row_distances` (JSON `[[d_00, d_01, ...], ...]`)
 * for a graph ending in a head, else nothing.
 */
export function headMetadata(model: onnx.IModelProto, output: string, bodyLipschitz: number): Record<string, string> {
  const head = findHead(model, output);
  if (!head || head.classes < 2 || head.classes > MAX_HEAD_CLASSES) return {};
  const dist = headRowDistances(head);
  const rows = Array.from({ length: head.classes }, (_, i) => Array.from(dist.subarray(i * head.classes, (i + 1) * head.classes)));
  return { head_body_lipschitz: String(bodyLipschitz), head_row_distances: JSON.stringify(rows) };
}
