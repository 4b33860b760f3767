/**
 * deel-lip's `MonitorCallback`: after each epoch (and/or batch), the singular
 * values of each dense/conv Lipschitz layer's kernel, and the layer's bound.
 *
 * - `target: 'wbar'` (default here; deel-lip's default is `'kernel'`): the
 *   kernel `call()` uses, times kCoefLip, so the constraint itself is
 *   watched. `bound` is a certified upper bound on the layer's Lipschitz
 *   constant: the spectral norm of a dense kernel, and for a convolution the
 *   circular-convolution bound on its input size (Sedghi et al. 2019; the
 *   singular values of the reshaped conv kernel are not those of the
 *   convolution).
 * - `target: 'kernel'`: the raw, unconstrained weights (their scale drifts
 *   unless `CondenseCallback` runs); no bound.
 *
 * Singular values are those of the kernel as a matrix `[rows, out]` (deel-lip
 * reshapes to `[-1, out]`). Each record goes to `history` and, as one line,
 * to `log` (console.log by default).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Callback } from '@tensorflow/tfjs-layers';
import { assertArg } from '../errors';
import { convSpectralNormUpperBound, matrixSpectralNormUpperBound } from '../normalizers/conv_norm_bound';
import { lipschitzLinearLayersOf } from './lipschitz_layers';
import { singularValues } from './singular_values';

export interface MonitorCallbackArgs {
  /** Names of the layers to watch. Default: every dense/conv Lipschitz layer. */
  layers?: string[];
  /** `'wbar'`: the constrained kernel (with its bound); `'kernel'`: the raw one. Default `'wbar'`. */
  target?: 'wbar' | 'kernel';
  /** `'max'`: the largest singular value; `'all'`: all of them. Default `'max'`. */
  what?: 'max' | 'all';
  /** Record after each epoch. Default true. */
  onEpoch?: boolean;
  /** Record after each batch. Default false. */
  onBatch?: boolean;
  /** Receives one line per record. Default `console.log`; null for none. */
  log?: ((line: string) => void) | null;
}

/** One layer in a record. */
export interface LayerSpectrum {
  name: string;
  /** Singular values, descending (one, the largest, with `what: 'max'`). */
  sigmas: number[];
  /** Certified bound on the layer's Lipschitz constant (`target: 'wbar'`), else null. */
  bound: number | null;
}

export interface MonitorRecord {
  /** 0-based epoch, as tfjs callbacks count. */
  epoch: number;
  /** 0-based batch for a per-batch record; null after an epoch. */
  batch: number | null;
  layers: LayerSpectrum[];
}

const f4 = (x: number): string => x.toFixed(4);

export class MonitorCallback extends Callback {
  readonly history: MonitorRecord[] = [];
  readonly target: 'wbar' | 'kernel';
  readonly what: 'max' | 'all';
  private readonly names: string[] | undefined;
  private readonly onEpoch: boolean;
  private readonly onBatch: boolean;
  private readonly log: ((line: string) => void) | null;
  private epoch = 0;

  constructor(args: MonitorCallbackArgs = {}) {
    super();
    this.target = args.target ?? 'wbar';
    this.what = args.what ?? 'max';
    assertArg(
      this.target === 'wbar' || this.target === 'kernel',
      () => `MonitorCallback: 'target' must be 'wbar' or 'kernel', got ${JSON.stringify(args.target)}`,
    );
    assertArg(this.what === 'max' || this.what === 'all', () => `MonitorCallback: 'what' must be 'max' or 'all', got ${JSON.stringify(args.what)}`);
    assertArg(
      args.layers === undefined || (Array.isArray(args.layers) && args.layers.every((n) => typeof n === 'string')),
      () => `MonitorCallback: 'layers' must be layer names, got ${JSON.stringify(args.layers)}`,
    );
    this.names = args.layers;
    this.onEpoch = args.onEpoch ?? true;
    this.onBatch = args.onBatch ?? false;
    // The documented default sink, as keras callbacks print.
    // eslint-disable-next-line no-console
    this.log = args.log === undefined ? (line) => console.log(line) : args.log;
  }

  /** The watched layers' spectra now. */
  measure(): LayerSpectrum[] {
    const all = lipschitzLinearLayersOf(this.model);
    if (this.names !== undefined) {
      const missing = this.names.filter((n) => !all.some((l) => l.name === n));
      assertArg(
        missing.length === 0,
        () =>
          `MonitorCallback: no dense/conv Lipschitz layer named ${missing.map((n) => `'${n}'`).join(', ')} ` +
          `(the model has ${all.map((l) => `'${l.name}'`).join(', ') || 'none'})`,
      );
    }
    const watched = this.names === undefined ? all : all.filter((l) => this.names!.includes(l.name));
    return watched.map((layer) => {
      const kernel = this.target === 'wbar' ? layer.effectiveKernel() : tf.clone((layer as unknown as { rawKernel: tf.Tensor }).rawKernel);
      const data = kernel.dataSync() as Float32Array;
      const shape = kernel.shape;
      kernel.dispose();
      const cols = shape[shape.length - 1]!;
      const rows = data.length / cols;
      let bound: number | null = null;
      if (this.target === 'wbar') {
        if (shape.length === 4) {
          const conv = layer as unknown as { strides: [number, number]; padding: 'same' | 'valid'; builtInputShape: number[] };
          const [, h, w] = conv.builtInputShape;
          bound = convSpectralNormUpperBound(data, shape as [number, number, number, number], [h!, w!], conv.strides, conv.padding);
        } else {
          bound = matrixSpectralNormUpperBound(data, rows, cols);
        }
      }
      const sigmas = singularValues(data, rows, cols);
      return { name: layer.name, sigmas: this.what === 'max' ? sigmas.slice(0, 1) : sigmas, bound };
    });
  }

  private record(batch: number | null): void {
    const layers = this.measure();
    const record: MonitorRecord = { epoch: this.epoch, batch, layers };
    this.history.push(record);
    if (this.log === null) return;
    const where = batch === null ? `epoch ${this.epoch + 1}` : `epoch ${this.epoch + 1} batch ${batch + 1}`;
    const parts = layers.map((l) => {
      const sigma = l.sigmas.length === 1 ? `σmax ${f4(l.sigmas[0]!)}` : `σ ${f4(l.sigmas[l.sigmas.length - 1]!)}..${f4(l.sigmas[0]!)}`;
      return `${l.name} ${sigma}${l.bound !== null ? ` bound ${f4(l.bound)}` : ''}`;
    });
    this.log(`${where} (${this.target}): ${parts.join(' | ')}`);
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number): Promise<void> {
    if (this.onBatch) this.record(batch);
  }

  override async onEpochEnd(epoch: number): Promise<void> {
    this.epoch = epoch;
    if (this.onEpoch) this.record(null);
  }
}
