/**
 * Exit codes that actions report without calling process.exit: an action sets
 * one on its command, `run` reads it after the action. Its own module so that
 * the commands need not import program.ts, which imports them.
 */
import type { Command } from 'commander';

const exitCodes = new WeakMap<Command, number>();

/** Lets an action report a non-zero exit code (0-255) without calling process.exit. */
export function setExitCode(command: Command, code: number): void {
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new RangeError(`'code' must be an integer in [0, 255], got ${code}`);
  exitCodes.set(command, code);
}

/** The code an action set on `command`, or undefined when it set none. */
export function exitCodeOf(command: Command): number | undefined {
  return exitCodes.get(command);
}
