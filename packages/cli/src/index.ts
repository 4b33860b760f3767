/**
 * @lip/cli: the `lip` command. `run(argv)` runs it from a script and resolves
 * to the exit code (it never calls `process.exit`); `buildProgram()` is its
 * commander program.
 *
 * @packageDocumentation
 * @module @lip/cli
 */
export { buildProgram, run } from './program';
