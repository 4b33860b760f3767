/** The IDX reader lives in @lip/core (tfjs-free); re-exported for train's own modules. */
export { IDX_UBYTE, DEFAULT_MAX_IDX_BYTES, MAX_IDX_RANK, DEFAULT_IDX_FIX, encodeIdx, readIdx, readIdxArray, writeIdx } from '@lip/core';
export type { IdxArray, IdxData, ReadIdxOptions, WriteIdxOptions } from '@lip/core';
