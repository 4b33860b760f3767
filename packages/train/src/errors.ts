/** The typed errors live in @lip/core (tfjs-free); re-exported for train's own modules. */
export { LipError, InvalidArgumentError, DataError, ModelError, ModelTooLargeError, assertArg } from '@lip/core';
