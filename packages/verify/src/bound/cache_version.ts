/**
 * What makes a cached bound stale (./cache.ts): both are part of every
 * cache key, so changing either one retires every entry.
 *
 * BOUND_SOURCES_SHA256 is the sha256 of the sources that shape the bound:
 * packages/verify/src/{bound,ops,onnx}/*.ts and packages/core/src/linalg/*.ts
 * (not tests, not the cache). `cache_version.test.ts` recomputes it and
 * fails, printing the new value, when they change: record it here (and bump
 * BOUND_CACHE_VERSION with it, so the history stays readable). Bump the
 * version alone for a change elsewhere that alters bounds.
 */

/** The bound's version for the cache. */
export const BOUND_CACHE_VERSION = 8;

/** sha256 of the bound's sources at BOUND_CACHE_VERSION (see the module doc). */
export const BOUND_SOURCES_SHA256 = '17166f8743849776476bb89bbe0b0fcb3ed3c7a633925b289710abb308785a29';
