/** Callbacks as `model.fit` takes them, made into tfjs-layers callback objects. */
import { CustomCallback, CustomCallbackArgs } from '@tensorflow/tfjs-layers';
import type { BaseCallback, YieldEveryOptions } from '@tensorflow/tfjs-layers/dist/base_callbacks';

/**
 * `fit`'s `callbacks` argument (callback objects, or `{ onEpochEnd, ... }`
 * literals, alone or in a list) as a list of callback objects; the literals
 * become `CustomCallback`s. Unlike tfjs-layers' own conversion, a list may
 * mix the two.
 */
export function standardizeCallbacks(
  callbacks: BaseCallback | BaseCallback[] | CustomCallbackArgs | CustomCallbackArgs[] | undefined,
  yieldEvery: YieldEveryOptions = 'auto',
): BaseCallback[] {
  const given: Array<BaseCallback | CustomCallbackArgs> = callbacks == null ? [] : Array.isArray(callbacks) ? callbacks : [callbacks];
  // A callback object has setParams; a literal has only its hooks.
  const isCallback = (c: BaseCallback | CustomCallbackArgs): c is BaseCallback => typeof (c as BaseCallback).setParams === 'function';
  return given.map((c) => (isCallback(c) ? c : new CustomCallback(c, yieldEvery)));
}
