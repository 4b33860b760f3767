/** Argument checks shared by the normalizers (not exported from the package). */
import * as tf from '@tensorflow/tfjs-core';
import { assertArg } from '../errors';
import { CONVERGE_MAX_ITER, CONVERGE_TOL } from '../constants';

/** Options of the normalize-to-convergence helpers. */
export interface ConvergeOptions {
  /** Stop when the relative change of one iteration is below this. Default `CONVERGE_TOL`. */
  tol?: number;
  /** Iteration cap. Default `CONVERGE_MAX_ITER`. */
  maxIter?: number;
}

export function assertRank2(w: tf.Tensor, where: string): void {
  assertArg(w.rank === 2, () => `${where}: 'w' must be a 2-D tensor [in, out], got shape [${w.shape.join(', ')}]`);
}

export function assertNiter(niter: unknown, where: string): asserts niter is number {
  assertArg(typeof niter === 'number' && Number.isInteger(niter) && niter >= 0, () => `${where}: 'niter' must be an integer >= 0, got ${String(niter)}`);
}

export function resolveConvergeOptions(opts: ConvergeOptions | undefined, where: string): { tol: number; maxIter: number } {
  const tol = opts?.tol ?? CONVERGE_TOL;
  const maxIter = opts?.maxIter ?? CONVERGE_MAX_ITER;
  assertArg(Number.isFinite(tol) && tol > 0, () => `${where}: 'tol' must be a finite number > 0, got ${String(tol)}`);
  assertArg(Number.isInteger(maxIter) && maxIter >= 1, () => `${where}: 'maxIter' must be an integer >= 1, got ${String(maxIter)}`);
  return { tol, maxIter };
}
