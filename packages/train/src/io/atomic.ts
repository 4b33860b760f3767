/** Atomic writes live in @lip/core (tfjs-free); re-exported for train's own modules. */
export { writeFileAtomic, outputTarget, atomicTempOwner, processAlive, removeDeadProcessTemps, fsyncDir } from '@lip/core';
export type { OutputTarget } from '@lip/core';
