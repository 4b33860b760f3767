/**
 * deel-lip's `CondenseCallback`: condenses the Lipschitz layers between
 * epochs (and/or batches), writing each normalized kernel into its raw one
 * (`LipschitzLinear.condense()`). The function does not change, and the raw
 * weights cannot drift in scale. As deel-lip warns, overwriting the kernel
 * may disturb an optimizer with momentum (Adam) a little.
 */
import { Callback } from '@tensorflow/tfjs-layers';
import { assertArg } from '../errors';
import { lipschitzLinearLayersOf } from './lipschitz_layers';

export interface CondenseCallbackArgs {
  /** Condense after each epoch. Default true. */
  onEpoch?: boolean;
  /** Condense after each batch. Default false. */
  onBatch?: boolean;
}

export class CondenseCallback extends Callback {
  readonly onEpoch: boolean;
  readonly onBatch: boolean;

  constructor(args: CondenseCallbackArgs = {}) {
    super();
    this.onEpoch = args.onEpoch ?? true;
    this.onBatch = args.onBatch ?? false;
    assertArg(
      typeof this.onEpoch === 'boolean' && typeof this.onBatch === 'boolean',
      () => `CondenseCallback: 'onEpoch' and 'onBatch' must be booleans, got ${JSON.stringify(args)}`,
    );
  }

  /** Condenses every dense/conv Lipschitz layer of the model now. */
  condenseModel(): void {
    for (const layer of lipschitzLinearLayersOf(this.model)) layer.condense();
  }

  override async onBatchEnd(): Promise<void> {
    if (this.onBatch) this.condenseModel();
  }

  override async onEpochEnd(): Promise<void> {
    if (this.onEpoch) this.condenseModel();
  }
}
