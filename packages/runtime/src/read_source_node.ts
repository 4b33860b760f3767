/**
 * Reading a model from the local file system (Node). The package.json
 * `browser` field swaps this module for read_source_browser.ts in bundles.
 */
import * as fs from 'fs';
import { fileURLToPath } from 'url';
import { ModelError } from '@lip/core';

/** True where `readLocalFile` can read paths. */
export const CAN_READ_FILES = true;

/** The bytes of the file at `file` (a path or a file: URL); a ModelError naming it when it cannot be read. */
export function readLocalFile(file: string | URL): Uint8Array {
  const p = typeof file === 'string' ? file : fileURLToPath(file);
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) throw new ModelError(`'${p}' is not a file; pass the .onnx file lip export wrote`);
    return fs.readFileSync(p);
  } catch (err) {
    if (err instanceof ModelError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelError(
      code === 'ENOENT'
        ? `model file '${p}' does not exist; check the path`
        : `cannot read model file '${p}' (${code ?? (err as Error).message}); check its permissions`,
    );
  }
}
