/**
 * Value propagation: walks a graph in topological order through the bound
 * rules (./rules.ts), giving every value its shape, element type, constant
 * data when known and Lipschitz bound. It imports no reader and no folding
 * (`import type` only), so that the dependency graph stays a DAG: the
 * reader's folding (ops/fold_model.ts) calls `propagateValues`, and the bound
 * (./lipschitz.ts) reads and folds, then calls `propagate`.
 */
import { ModelError } from '@lip/core/errors';
import type { OnnxModel } from '../onnx/read';
import { Bounder, BoundOptions, Val } from './bounder';
import { tensorValues } from './fold';
import { BOUND_OPS, BOUND_RULES } from './rules';

/**
 * Runs every node through its rule. The input gets `fullInputShape` (batch
 * included), else [1, ...opts.inputShape], else [1, its declared fixed dims].
 */
export function propagate(m: OnnxModel, opts: BoundOptions, fullInputShape?: number[]): { b: Bounder; perSample: number[] } {
  const b = new Bounder(m, opts);
  if (m.inputs.length !== 1) throw new ModelError(`${b.file} has ${m.inputs.length} inputs; the bound needs a single-input model`);
  const input = m.inputs[0];
  if (!input.shape || input.shape.length < 1) throw new ModelError(`${b.file}: input '${input.name}' declares no shape`);
  let perSample: number[];
  if (fullInputShape) {
    perSample = fullInputShape.slice(1);
  } else if (opts.inputShape) {
    perSample = [...opts.inputShape];
  } else {
    const rest = input.shape.slice(1);
    if (!rest.every((d): d is number => typeof d === 'number' && d > 0)) {
      throw new ModelError(
        `${b.file}: input '${input.name}' has shape [${input.shape.join(', ')}]; ` + 'the bound needs fixed non-batch dimensions (pass inputShape)',
      );
    }
    perSample = rest;
  }
  const inputType = input.elemType === 'unknown' ? 'float32' : input.elemType;
  b.setVal(input.name, { shape: fullInputShape ? [...fullInputShape] : [1, ...perSample], dtype: inputType, lip: 1, isConst: false });
  for (const [name, t] of m.initializers) b.setConst(name, [...t.dims], t.dataType, tensorValues(t));

  // Remaining readers of each value: a value's symbolic view is dropped after its last reader.
  const readers = new Map<string, number>();
  for (const node of m.nodes) for (const x of node.inputs) if (x) readers.set(x, (readers.get(x) ?? 0) + 1);
  for (const o of m.outputs) readers.set(o.name, (readers.get(o.name) ?? 0) + 1);

  for (const node of m.nodes) {
    const rule = BOUND_RULES[node.opType];
    if (!rule) throw new ModelError(`${b.file}: node '${node.name}' (${node.opType}) cannot be bounded; supported: ${BOUND_OPS.join(', ')}`);
    rule(b, node);
    for (const x of node.inputs) {
      if (!x) continue;
      const left = readers.get(x)! - 1;
      readers.set(x, left);
      if (left === 0) b.release(x);
    }
    for (const o of node.outputs) if (o && !readers.has(o)) b.release(o);
  }
  return { b, perSample };
}

/**
 * Elements per sample of the largest input-dependent value of `model` on
 * inputs of `inputShape` (default: the declared fixed dims), from the
 * bound's shape propagation alone (no norms). Throws ModelTooLargeError when
 * a value exceeds MAX_VALUE_ELEMENTS, ModelError when shapes cannot be
 * followed (an operator use the bound does not analyse).
 */
export function largestValueElements(model: OnnxModel, inputShape?: number[]): number {
  return propagate(model, { inputShape, shapesOnly: true }).b.largest;
}

/**
 * Every value of `model` (shape, element type, constant data when known) for
 * an input of `fullInputShape` (batch included), by the shape and folding
 * rules alone; what `foldModel` folds.
 */
export function propagateValues(model: OnnxModel, fullInputShape: number[]): ReadonlyMap<string, Val> {
  return propagate(model, { shapesOnly: true }, fullInputShape).b.vals;
}

/**
 * Shapes of every value of `model` for an input of `inputShape` (batch
 * dimension included), by the shape rules; for checking them against a runtime.
 */
export function inferShapes(model: OnnxModel, inputShape: number[]): Map<string, number[]> {
  const { b } = propagate(model, { shapesOnly: true }, inputShape);
  return new Map([...b.vals].map(([name, v]) => [name, v.shape]));
}
