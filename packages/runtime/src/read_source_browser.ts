/** read_source_node.ts for bundles: there is no file system in a browser, models come by URL or as bytes. */
import { ModelError } from '@lip/core';

export const CAN_READ_FILES = false;

export function readLocalFile(file: string | URL): Uint8Array {
  throw new ModelError(`cannot read '${String(file)}' from a file system here; pass a URL or the model's bytes`);
}
