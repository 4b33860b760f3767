/**
 * When the Lipschitz layers update their constraint state by themselves.
 *
 * As in deel-lip, a dense/conv layer called with `training: true` runs its
 * `updateConstraints()` (power iteration on its persistent vectors) before it
 * normalizes its kernel, so `model.fit`, `fitDataset` and any custom loop
 * that applies the model with `{ training: true }` keep the spectral
 * estimates current with no callback to remember. Without it, a kernel that
 * grows faster than the stale vectors follow is divided by an underestimate
 * of its norm, Björck diverges and the loss becomes NaN.
 *
 * A caller that updates the constraints itself, once per optimizer step,
 * runs its forward passes inside `withConstraintsHeld`: `train()` does, so a
 * batch split into chunks, or over data-parallel workers whose replicas
 * receive the main thread's vectors, normalizes every chunk with the same
 * vectors (one update per step, whatever the split).
 */

let heldDepth = 0;

/**
 * Runs `fn` (synchronous) with the in-call constraint updates switched off:
 * layers called with `training: true` use their stored vectors as they are.
 */
export function withConstraintsHeld<T>(fn: () => T): T {
  heldDepth++;
  try {
    return fn();
  } finally {
    heldDepth--;
  }
}

/** True inside `withConstraintsHeld`. */
export function constraintsHeld(): boolean {
  return heldDepth > 0;
}
