/**
 * Output files named by flags (`--json FILE`, `lip export -o FILE`): `-` is
 * standard output, and then the human-readable results go to stderr so that
 * stdout carries the data alone. Anything else is written by
 * `writeFileAtomic` (links followed, devices and FIFOs written in place,
 * folders and sockets refused).
 */
import { InvalidArgumentError, outputTarget, writeFileAtomic } from '@lip/core';

/** The output path that means standard output. */
export const STDOUT_PATH = '-';

/**
 * Parses an output-file flag: undefined when absent. A path that can never
 * be written (a folder, a socket) is refused now, before any long work.
 */
export function outputFlag(flag: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw === '') throw new InvalidArgumentError(`'${flag}' must be a file path, or '-' for standard output, got ''`);
  if (raw !== STDOUT_PATH) outputTarget(raw);
  return raw;
}

/** Writes `data` to an output given by a flag: standard output for '-', else the file (atomically). */
export function writeOutput(file: string, data: string | Uint8Array): void {
  if (file === STDOUT_PATH) process.stdout.write(data);
  else writeFileAtomic(file, data);
}

/** Where tables and summaries go: stdout, unless one of `outputs` is '-' (stdout then carries that data alone). */
export function humanOutput(...outputs: (string | undefined)[]): NodeJS.WritableStream {
  return outputs.includes(STDOUT_PATH) ? process.stderr : process.stdout;
}
