/**
 * Default limits of the data readers, in one place. A reader checks a file's
 * declared sizes against these (and against the file's own size) before it
 * allocates anything, so a hostile header, a decompression bomb or a huge
 * folder costs at most about this much memory and time, then one DataError.
 */

/** Largest number of elements in one array, and in the images of a data set (2^28: 1 GiB as float32). */
export const DEFAULT_MAX_ELEMENTS = 2 ** 28;
/** Largest payload of one array file or archive entry, in bytes (1 GiB, as for IDX files). */
export const DEFAULT_MAX_ARRAY_BYTES = 2 ** 30;
/** Largest total decompressed size of the entries read from one `.npz` (2 GiB). */
export const DEFAULT_MAX_NPZ_TOTAL_BYTES = 2 ** 31;
/** Largest number of entries in an `.npz` central directory (NumPy writes one per array). */
export const DEFAULT_MAX_NPZ_ENTRIES = 10_000;
/** Largest `.npy` header, in bytes: NumPy's own default `max_header_size`. */
export const NPY_MAX_HEADER_BYTES = 10_000;
/** Largest rank of an array. */
export const MAX_ARRAY_RANK = 32;
/** Largest number of image files in an image folder (ImageNet's training set has 1.28 million). */
export const DEFAULT_MAX_IMAGE_FILES = 2 ** 21;
/** Largest image, in pixels (2^26, e.g. 8192 × 8192): checked from the file's header before decoding. */
export const DEFAULT_MAX_IMAGE_PIXELS = 2 ** 26;
/** Largest image file, in bytes. */
export const DEFAULT_MAX_IMAGE_FILE_BYTES = 2 ** 28;
/** Deepest folder nesting walked below an image folder's root. */
export const MAX_IMAGE_FOLDER_DEPTH = 32;
