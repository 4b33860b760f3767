/** Data readers: IDX, .npy, .npz, CIFAR-10 binary and image folders, and `readLabeledData` over all of them. */
export {
  DEFAULT_MAX_ELEMENTS,
  DEFAULT_MAX_ARRAY_BYTES,
  DEFAULT_MAX_NPZ_TOTAL_BYTES,
  DEFAULT_MAX_NPZ_ENTRIES,
  NPY_MAX_HEADER_BYTES,
  DEFAULT_MAX_IMAGE_FILES,
  DEFAULT_MAX_IMAGE_PIXELS,
  DEFAULT_MAX_IMAGE_FILE_BYTES,
  MAX_IMAGE_FOLDER_DEPTH,
  MAX_ARRAY_RANK,
} from './limits';
export { DTYPE_BYTES, elementCount, isFloatDType } from './ndarray';
export type { DType, NdArray, NdData } from './ndarray';
export { IDX_UBYTE, IDX_DTYPES, DEFAULT_MAX_IDX_BYTES, MAX_IDX_RANK, DEFAULT_IDX_FIX, encodeIdx, readIdx, readIdxArray, writeIdx } from './idx';
export type { IdxArray, IdxData, ReadIdxOptions, WriteIdxOptions } from './idx';
export { DEFAULT_ARRAY_FIX, decodeNpy, parseNpyHeader, readNpy } from './npy';
export type { NpyHeader, ReadArrayOptions } from './npy';
export { readNpz } from './npz';
export type { NpzContents, ReadNpzOptions } from './npz';
export { decodeImage, imageKind } from './image_decode';
export type { DecodedImage } from './image_decode';
export { listImageFolder, readImageFolder } from './image_folder';
export type { ImageFolderSample, ReadImageFolderOptions } from './image_folder';
export { CIFAR10_BIN_FOLDER, CIFAR10_META_FILE, CIFAR10_NUM_CLASSES, CIFAR10_RECORD_BYTES, CIFAR10_TEST_FILE, findCifar10, readCifar10 } from './cifar';
export type { ReadCifar10Options } from './cifar';
export { MAX_CLASSES, arraysToLabeledImages, defaultScale } from './labeled';
export type { ArrayLayout, ArrayPairContext, DataFormat, DataSplit, ImageArrays, LabeledImages, LabeledReadOptions } from './labeled';
export { ARRAY_PAIR_NAMES, readLabeledData } from './read_labeled';
export type { ReadLabeledDataOptions } from './read_labeled';
