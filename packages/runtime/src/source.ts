/** Model sources: a file path (Node), a URL (fetched; file: URLs read from disk), or the bytes themselves. */
import { InvalidArgumentError, ModelError } from '@lip/core';
import { CAN_READ_FILES, readLocalFile } from './read_source_node';

/** A model: a path, a URL (string or URL object), or its bytes. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

const URL_SCHEME = /^(https?|blob|data):/i;

/** How `source` is named in messages. */
export function describeSource(source: ModelSource): string {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return '<bytes>';
  return String(source);
}

/** The model's bytes. Paths are files in Node and URLs relative to the page in a browser. */
export async function readSource(source: ModelSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const isUrlObject = typeof URL !== 'undefined' && source instanceof URL;
  if (typeof source !== 'string' && !isUrlObject) {
    throw new InvalidArgumentError(`'source' must be a path, a URL or the model's bytes (Uint8Array), got ${Object.prototype.toString.call(source)}`);
  }
  const text = String(source);
  if (text.length === 0) throw new InvalidArgumentError("'source' must be a path, a URL or the model's bytes, got ''");
  if (text.startsWith('file:')) return readLocalFile(isUrlObject ? (source as URL) : new URL(text));
  if (!URL_SCHEME.test(text) && CAN_READ_FILES) return readLocalFile(text);
  let response: Response;
  try {
    response = await fetch(text);
  } catch (err) {
    throw new ModelError(`cannot fetch model '${text}' (${(err as Error).message}); check the URL and that the server is running`);
  }
  if (!response.ok) throw new ModelError(`cannot fetch model '${text}': HTTP ${response.status} ${response.statusText}; check the URL`);
  return new Uint8Array(await response.arrayBuffer());
}
