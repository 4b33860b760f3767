/** The model of a run: your own, checked against the data, and checked for divergence before each checkpoint. */
import { LayersModel, Sequential } from '@tensorflow/tfjs-layers';
import { InvalidArgumentError } from '../errors';
import { isLipschitzLayer, LipschitzSequential } from '../layers';

/**
 * `model` as the `LipschitzSequential` `train()` runs: itself, or a
 * `tf.Sequential` of Lipschitz layers re-assembled as one (the same layer
 * objects and weights), so its checkpoint loads and resumes as any other.
 * Anything else (a functional model with branches, whose Lipschitz constant
 * composition does not give) is refused.
 */
export function asLipschitzSequential(model: LayersModel): LipschitzSequential {
  if (model instanceof LipschitzSequential) return model;
  if (!(model instanceof Sequential)) {
    throw new InvalidArgumentError(
      `'model' must be a LipschitzSequential or a tf.Sequential of Lipschitz layers, got a ${model?.getClassName?.() ?? typeof model}`,
    );
  }
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  const bad = layers.find((l) => !isLipschitzLayer(l) && !['Flatten', 'Reshape', 'Permute'].includes(l.getClassName()));
  if (bad !== undefined) {
    throw new InvalidArgumentError(
      `'model' holds layer '${bad.name}' (${bad.getClassName()}), which is not a Lipschitz layer: ` +
        'build it from @lip/train layers (lipLayers.*) so the network stays 1-Lipschitz',
    );
  }
  return new LipschitzSequential({ name: model.name, layers, warnNonLipschitz: false });
}

/** Throws an `InvalidArgumentError` when `model` does not take `[H, W, C]` images or does not output `numClasses` logits. */
export function assertModelFitsData(model: LayersModel, inputShape: [number, number, number], numClasses: number, what: string): void {
  const input = model.inputs[0]?.shape.slice(1) ?? [];
  const output = model.outputs[0]?.shape.slice(1) ?? [];
  if (input.length !== 3 || input.some((d, i) => d !== null && d !== inputShape[i])) {
    throw new InvalidArgumentError(
      `${what} takes inputs of shape [${input.join(', ')}] but the data holds images of shape ` +
        `[${inputShape.join(', ')}]; build the model for the data's shape (or pass data of the model's)`,
    );
  }
  if (output.length !== 1 || output[0] !== numClasses) {
    throw new InvalidArgumentError(
      `${what} outputs [${output.join(', ')}] per image but the data has ${numClasses} classes; ` + `give the last layer ${numClasses} units`,
    );
  }
}

/** The first weight (in `model.weights` order) holding NaN or an infinity, or null. */
export function firstNonFiniteWeight(model: LayersModel): { name: string; value: number } | null {
  for (const w of model.weights) {
    const values = w.read().dataSync();
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) return { name: w.name, value: values[i]! };
    }
  }
  return null;
}
