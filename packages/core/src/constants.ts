/** Defaults shared by training, verification and the CLI (named constants in one place). */

/** Radii (L2, on inputs in [0, 1]) at which certified robust accuracy is reported: 36/255, 72/255, 108/255, 0.25, 0.5, 1. */
export const DEFAULT_EPSILONS: readonly number[] = [36 / 255, 72 / 255, 108 / 255, 0.25, 0.5, 1.0];
