import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's CommonJS build registers no gradients; tfjs-layers' build does.
import '@tensorflow/tfjs-layers';
import { ModelError } from '@lip/train';
import { OnnxModel, OnnxNode, OnnxTensor, constantNodeValue, tensorToFloat64 } from '../onnx/read';
import type { LipSession } from '../session';
import type { LogitsFn, LogitsVjp } from '../attacks/common';
import { FUSED_TABLE, OP_TABLE, OpContext, OpKernel, OpVjpResult, TRANSLATABLE_OPS, Val, onnxLayoutVjp, onnxShape, toOnnxLayout } from './ops';
import { hasJsKernels } from './js_kernels';
import { fuseGroupSort2, fuseL2Pool, fuseLayoutChains } from './fuse';
import { foldModel } from '../ops/fold_model';
import type { AttributeContext } from '../ops/attributes';
import { inferShapes } from '../bound/propagate';

/** Default largest difference allowed between the translation and onnxruntime. */
export const TRANSLATION_TOLERANCE = 1e-5;

/**
 * The ONNX graph as a differentiable tfjs function: NCHW images `[N, C, H, W]`
 * in, logits `[N, classes]` out. Call it inside `tf.tidy` (or a gradient);
 * `dispose()` frees the weights.
 */
export type TranslatedModel = LogitsFn & {
  /** Op types run, in order (after fusing GroupSort2, L2 pooling and layout chains: `lip.*` ops). */
  readonly opTypes: readonly string[];
  /**
   * The logits and their backward pass written out, with no tfjs gradient
   * tape, when every op has one (`OpVjp`), on the wasm and cpu backends;
   * null otherwise (then differentiate the function itself). The same values
   * and gradients as `tf.grad` of the function, bit for bit, without the
   * tape's bookkeeping: a CW step of 5 images on the shipped model went from
   * 1.7 to 1.2 ms.
   */
  readonly vjp: (x: tf.Tensor4D) => LogitsVjp | null;
  /** Frees the kept weight tensors. */
  dispose(): void;
};

const TABLE = new Map(OP_TABLE);
const KERNELS = new Map([...OP_TABLE, ...FUSED_TABLE]);

/**
 * Translates a decoded ONNX model into tfjs-core ops (see `OP_TABLE`). Image
 * tensors run NHWC between convolutions and poolings, so the wasm backend's
 * native conv is used; every op sees ONNX semantics. GroupSort2 and L2-pooling
 * subgraphs and chains of layout ops run as fused ops (fuse.ts) unless `fuse`
 * is false.
 * Refuses an operator
 * outside the table with a ModelError that lists the supported ones.
 */
export function translateOnnx(unfolded: OnnxModel, opts: { fuse?: boolean } = {}): TranslatedModel {
  // The translator reads the folded graph (shape arithmetic as constants, no trailing Softmax), like the bound.
  const model = unfolded.folding ? unfolded : foldModel(unfolded);
  const unknown = [...new Set(model.nodes.filter((n) => n.domain !== '' || !TABLE.has(n.opType)).map((n) => n.opType))];
  if (unknown.length > 0) {
    throw new ModelError(
      `'${model.source}' uses operator${unknown.length > 1 ? 's' : ''} ${unknown.map((o) => `'${o}'`).join(', ')} ` +
        `that the tfjs translation does not support; supported operators: ${TRANSLATABLE_OPS.join(', ')}.`,
    );
  }
  if (model.inputs.length !== 1) {
    throw new ModelError(`'${model.source}' has ${model.inputs.length} inputs; only single-input classifiers can be translated.`);
  }
  const inputInfo = model.inputs[0];
  const outputName = model.outputs[0].name;

  const constants = new Map<string, OnnxTensor>(model.initializers);
  for (const n of model.nodes) if (n.opType === 'Constant') constants.set(n.outputs[0], constantNodeValue(n, model.source));

  const kept = new Map<string, tf.Tensor>();
  const cleanups: (() => void)[] = [];
  const floatTensor = (name: string): tf.Tensor => {
    let t = kept.get(name);
    if (!t) {
      const c = constants.get(name)!;
      const data = Float32Array.from(tensorToFloat64(c));
      // Kept: the first call may happen inside a tidy or a gradient.
      t = tf.keep(tf.tensor(data, [...c.dims], 'float32'));
      kept.set(name, t);
    }
    return t;
  };

  // Shapes of a one-image batch, for the op parsers at translation time.
  const perSample =
    model.folding?.inputShape ?? (inputInfo.shape?.slice(1).every((d): d is number => typeof d === 'number') ? (inputInfo.shape.slice(1) as number[]) : null);
  if (!perSample) {
    throw new ModelError(
      `'${model.source}': input '${inputInfo.name}' has no fixed per-image shape ` +
        `([${(inputInfo.shape ?? []).join(', ')}]); pass the input shape to translate it.`,
    );
  }
  const staticShapes = inferShapes(model, [1, ...perSample]);

  const outs = model.outputs.map((o) => o.name);
  const nodes =
    opts.fuse === false
      ? model.nodes
      : fuseLayoutChains(fuseL2Pool(fuseGroupSort2(model.nodes, constants, outs, staticShapes), constants, outs), constants, outs, staticShapes);
  const kernels: { node: OnnxNode; kernel: OpKernel }[] = [];
  for (const node of nodes) {
    const fail = (why: string): ModelError => new ModelError(`'${model.source}': node '${node.name}' (${node.opType}) cannot be translated: ${why}.`);
    const attributeContext = (shape: (i: number) => readonly number[] | undefined): AttributeContext => ({
      node,
      opset: model.opset,
      shape,
      ints: (i, what) => (node.inputs[i] ? ctx.ints(i, what) : undefined),
      floats: (i, what) => {
        if (!node.inputs[i]) return undefined;
        const c = constants.get(node.inputs[i]);
        if (!c) throw fail(`${what} (input ${i}) must be a constant`);
        return Array.from(tensorToFloat64(c));
      },
      fail: (msg) => {
        throw fail(msg);
      },
    });
    const memo = new Map<unknown, Map<string, unknown>>();
    const ctx: OpContext = {
      node,
      opset: model.opset,
      params: (parse) => parse(attributeContext((i) => (node.inputs[i] ? staticShapes.get(node.inputs[i]) : undefined))),
      paramsAt: <P>(parse: (c: AttributeContext) => P, inputs: readonly (Val | undefined)[]): P => {
        const shapes = inputs.map((v) => v && onnxShape(v));
        const key = shapes.map((s) => (s ? s.join('x') : '-')).join('|');
        let byShape = memo.get(parse);
        if (!byShape) memo.set(parse, (byShape = new Map()));
        if (!byShape.has(key)) byShape.set(key, parse(attributeContext((i) => shapes[i])));
        return byShape.get(key) as P;
      },
      constant: (i) => (node.inputs[i] ? constants.get(node.inputs[i]) : undefined),
      ints: (i, what) => {
        const c = node.inputs[i] ? constants.get(node.inputs[i]) : undefined;
        if (!c) throw fail(`${what} (input ${i}) must be a constant`);
        return Array.from(c.data as ArrayLike<number>, (v) => Number(v));
      },
      floatConst: (i) => floatTensor(i < 0 ? node.outputs[0] : node.inputs[i]),
      onDispose: (f) => cleanups.push(f),
      fail,
    };
    kernels.push({ node, kernel: KERNELS.get(node.opType)!(ctx) });
  }

  const declared = (inputInfo.shape ?? []).slice(1);
  const fixed = declared.every((d) => typeof d === 'number') ? (declared as number[]) : null;
  // A graph folded as batch 'fixed' (its shapes or ops tie samples together at N = 1) runs one image at a time,
  // as the onnxruntime session runs it; the images' logits are stacked (gradients flow through the split).
  const oneAtATime = model.folding?.batch === 'fixed';
  /** The input as the graph declares it ([N, ...declared] when that differs from x's shape only by a reshape). */
  const feedOf = (x: tf.Tensor4D): tf.Tensor => {
    const n = x.shape[0];
    if (!fixed || fixed.join() === x.shape.slice(1).join()) return x;
    const size = fixed.reduce((a, b) => a * b, 1);
    if (size !== x.size / Math.max(n, 1)) {
      throw new ModelError(`'${model.source}' expects inputs of shape [N, ${fixed.join(', ')}], got [${x.shape.join(', ')}].`);
    }
    return tf.reshape(x, [n, ...fixed]);
  };
  /** The value of `name` in `env`, or a constant. */
  const lookup = (env: ReadonlyMap<string, Val>, name: string): Val | undefined => {
    if (name === '') return undefined;
    const v = env.get(name);
    if (v) return v;
    if (constants.has(name)) return { t: floatTensor(name), nhwc: false };
    throw new ModelError(`'${model.source}': value '${name}' is used before it is produced.`);
  };
  const forward = (x: tf.Tensor4D): tf.Tensor2D => {
    if (oneAtATime && x.shape[0] !== 1) {
      return tf.concat(
        tf.split(x, x.shape[0], 0).map((xi) => forwardBatch(xi as tf.Tensor4D)),
        0,
      ) as tf.Tensor2D;
    }
    return forwardBatch(x);
  };
  const forwardBatch = (x: tf.Tensor4D): tf.Tensor2D => {
    const n = x.shape[0];
    const env = new Map<string, Val>([[inputInfo.name, { t: feedOf(x), nhwc: false }]]);
    for (const { node, kernel } of kernels) {
      const outs = kernel(node.inputs.map((name) => lookup(env, name)));
      node.outputs.forEach((name, i) => {
        if (name !== '' && outs[i]) env.set(name, outs[i]);
      });
    }
    const y = toOnnxLayout(lookup(env, outputName)!);
    return (y.rank === 2 ? y : tf.reshape(y, [n, -1])) as tf.Tensor2D;
  };

  const everyOpHasVjp = kernels.every(({ kernel }) => kernel.vjp !== undefined);
  /** Reverse mode over the node list: each node's backward once the cotangents of all its outputs are summed. */
  const vjp = (x: tf.Tensor4D): LogitsVjp | null => {
    if (!everyOpHasVjp || oneAtATime || !hasJsKernels()) return null;
    const n = x.shape[0];
    const feed = feedOf(x);
    const env = new Map<string, Val>([[inputInfo.name, { t: feed, nhwc: false }]]);
    const steps: { node: OnnxNode; run: OpVjpResult }[] = [];
    for (const { node, kernel } of kernels) {
      const run = kernel.vjp!(node.inputs.map((name) => lookup(env, name)));
      if (!run) return null;
      node.outputs.forEach((name, i) => {
        if (name !== '' && run.outputs[i]) env.set(name, run.outputs[i]);
      });
      steps.push({ node, run });
    }
    const out = env.get(outputName);
    if (!out) return null;
    const { t: y, back } = onnxLayoutVjp(out);
    const logits = (y.rank === 2 ? y : tf.reshape(y, [n, -1])) as tf.Tensor2D;
    return {
      logits,
      backward: (dy) => {
        const grads = new Map<string, tf.Tensor>([[outputName, back(tf.reshape(dy, y.shape))]]);
        for (let s = steps.length - 1; s >= 0; s--) {
          const { node, run } = steps[s];
          const dOut = node.outputs.map((name) => grads.get(name));
          if (dOut.every((d) => d === undefined)) continue;
          run.backward(dOut).forEach((d, i) => {
            const name = node.inputs[i];
            // Weights and other constants are not differentiated.
            if (!d || !name || (constants.has(name) && name !== inputInfo.name)) return;
            const earlier = grads.get(name);
            grads.set(name, earlier ? tf.add(earlier, d) : d);
          });
        }
        const dFeed = grads.get(inputInfo.name) ?? tf.zerosLike(feed);
        return tf.reshape(dFeed, x.shape) as tf.Tensor4D;
      },
    };
  };
  return Object.assign(forward, {
    opTypes: nodes.map((n) => n.opType),
    vjp,
    dispose: () => {
      cleanups.forEach((f) => f());
      kept.forEach((t) => t.dispose());
      kept.clear();
    },
  });
}

/** Inputs for `assertTranslationMatches`: `n` images of `chw`, row-major. */
export interface SampleInputs {
  readonly images: Float32Array;
  readonly n: number;
  readonly chw: readonly [number, number, number];
}

/**
 * Runs the sample through the translation and through onnxruntime and
 * returns the largest difference of the logits. Throws (exit code 1) when an
 * entry differs by more than `tol * max(1, max_j |onnxruntime logit j|)` of
 * its image: attacks on the translation would then attack another function
 * than the deployed one. The scale is the image's largest logit, not the
 * entry's own value, because float32 rounding follows the magnitude of the
 * whole computation: a small logit of a model whose logits reach 600 carries
 * the rounding of 600 (the graph with weights x4 of the e2e test).
 */
export async function assertTranslationMatches(
  model: OnnxModel,
  session: LipSession,
  sampleInputs: SampleInputs,
  tol = TRANSLATION_TOLERANCE,
  translated?: LogitsFn,
): Promise<number> {
  const { images, n, chw } = sampleInputs;
  const reference = await session.runBatched(images, n, chw);
  const fn = translated ?? translateOnnx(model);
  let ours: Float32Array;
  try {
    ours = tf.tidy(() => fn(tf.tensor4d(images, [n, chw[0], chw[1], chw[2]]))).dataSync() as Float32Array;
  } finally {
    if (!translated) (fn as TranslatedModel).dispose();
  }
  if (ours.length !== reference.length) {
    throw new ModelError(
      `the tfjs translation of '${model.source}' gives ${ours.length / n} logits per image, ` +
        `onnxruntime ${reference.length / n}; this is a bug in the translator, please report it.`,
      1,
    );
  }
  const k = ours.length / Math.max(n, 1);
  let worst = 0;
  let where = -1;
  let worstExcess = 0;
  for (let row = 0; row < n; row++) {
    let scale = 1;
    for (let j = 0; j < k; j++) scale = Math.max(scale, Math.abs(reference[row * k + j]));
    for (let j = 0; j < k; j++) {
      const i = row * k + j;
      const diff = Math.abs(ours[i] - reference[i]);
      const excess = Number.isNaN(diff) ? Infinity : diff / scale;
      if (!(excess <= tol) && (where < 0 || excess > worstExcess)) {
        where = i;
        worstExcess = excess;
      }
      worst = Math.max(worst, Number.isNaN(diff) ? Infinity : diff);
    }
  }
  if (where >= 0) {
    throw new ModelError(
      `the tfjs translation of '${model.source}' differs from onnxruntime by ${worst.toExponential(3)} ` +
        `(tolerance ${tol} x max(1, largest |logit| of the image)) at image ${Math.floor(where / k)}, logit ${where % k} ` +
        `(${ours[where]} vs ${reference[where]}); ` +
        'gradient attacks would run on another function than the deployed graph, so none was run. This is a bug in the translator, please report it.',
      1,
    );
  }
  return worst;
}
