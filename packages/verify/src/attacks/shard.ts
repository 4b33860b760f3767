import { AttackOutput, AttackProgress, InputBounds, LogitsFn, Nchw } from './common';
import { cwL2 } from './cw';
import { deepFoolL2 } from './deepfool';
import { fmnL2 } from './fmn';
import { pgdL2 } from './pgd';

/** The attacks that run on the tfjs translation (hsja runs on onnxruntime). */
export type GradientAttackName = 'cw' | 'pgd' | 'deepfool' | 'fmn';

/** What to run on a batch (or a worker's rows of it); plain data, posted to workers as is. */
export interface ShardSpec {
  attack: GradientAttackName;
  /** Attack default when omitted. */
  steps?: number;
  /** cw: binary-search steps over c. */
  binarySearchSteps?: number;
  /** pgd: L2 radius. */
  eps?: number;
  /** pgd: seed of the random start. */
  seed?: number;
  bounds: InputBounds;
}

/** What ties a worker's rows to the rest of its batch. */
export interface ShardHooks {
  onProgress?: (p: AttackProgress) => void;
  /** cw: the whole batch's loss for abort early (see `CwOptions.batchLoss`). */
  batchLoss?: (imageLosses: Float64Array) => number;
  /** pgd: these rows' starting point, drawn for the whole batch (see `PgdOptions.start`). */
  start?: Float32Array;
}

/**
 * Runs a gradient attack on `shape[0]` images: the whole batch in one thread,
 * or one worker's rows of it (attack_worker.ts). Both paths call this function,
 * so a split batch runs exactly the same code per image.
 */
export function attackShard(f: LogitsFn, spec: ShardSpec, x: Float32Array, shape: Nchw, labels: number[], hooks: ShardHooks = {}): AttackOutput {
  const common = { bounds: spec.bounds, onProgress: hooks.onProgress };
  switch (spec.attack) {
    case 'cw':
      return cwL2(f, x, shape, labels, { ...common, steps: spec.steps, binarySearchSteps: spec.binarySearchSteps, batchLoss: hooks.batchLoss });
    case 'pgd':
      return pgdL2(f, x, shape, labels, { ...common, eps: spec.eps!, steps: spec.steps, seed: spec.seed, start: hooks.start });
    case 'deepfool':
      return deepFoolL2(f, x, shape, labels, { ...common, steps: spec.steps });
    case 'fmn':
      return fmnL2(f, x, shape, labels, { ...common, steps: spec.steps });
  }
}
