/** The dense/conv Lipschitz layers of a model, nested models included, in order. */
import type { layers } from '@tensorflow/tfjs-layers';
import { isLipschitzLinear, LipschitzLinear } from '../layers/lipschitz';

/** Every `LipschitzLinear` layer of `model` (depth first, so in call order for sequential models). */
export function lipschitzLinearLayersOf(model: { layers: layers.Layer[] }): (layers.Layer & LipschitzLinear)[] {
  const found: (layers.Layer & LipschitzLinear)[] = [];
  for (const layer of model.layers) {
    if (isLipschitzLinear(layer)) found.push(layer);
    else if (Array.isArray((layer as unknown as { layers?: unknown }).layers)) {
      found.push(...lipschitzLinearLayersOf(layer as unknown as { layers: layers.Layer[] }));
    }
  }
  return found;
}
