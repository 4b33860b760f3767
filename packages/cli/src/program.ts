import { Command, CommanderError } from 'commander';
import { LipError } from '@lip/train';
import { registerTrain } from './commands/train';
import { registerExport } from './commands/export';
import { registerVerify } from './commands/verify';
import { registerBound } from './commands/bound';
import { registerAttack } from './commands/attack';
import { registerDemo } from './commands/demo';
import { nameFlags } from './option_flags';

/** Builds the `lip` program. Commands set `process.exitCode`-style results through the returned code. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('lip')
    .description('Train, export and verify certifiably robust 1-Lipschitz networks.')
    .version(require('../package.json').version)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  registerTrain(program);
  registerExport(program);
  registerVerify(program);
  registerBound(program);
  registerAttack(program);
  registerDemo(program);
  return program;
}

/**
 * Runs the CLI and returns the exit code: 0 on success, 2 for bad input,
 * 3 when `lip attack` finds a certificate violation, 1 for internal errors.
 * Commands return their exit code (or undefined for 0).
 */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  let code = 0;
  let command: string | undefined;
  program.hook('preAction', (_this, action) => {
    command = action.name();
  });
  program.hook('postAction', (_this, action) => {
    const c = (action as unknown as { _lipExitCode?: number })._lipExitCode;
    if (typeof c === 'number') code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    return reportError(err, command);
  }
}

/**
 * Prints one clear line for a user error (naming the flag of `command` where
 * the library named its option), a stack trace only for internal errors.
 */
export function reportError(err: unknown, command?: string): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (unknown option, missing argument, --help).
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof LipError) {
    process.stderr.write(`error: ${nameFlags(command, err.message)}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`internal error: ${e && e.stack ? e.stack : String(err)}\n`);
  return 1;
}

/** Lets an action report a non-zero exit code without calling process.exit. */
export function setExitCode(cmd: Command, code: number): void {
  (cmd as unknown as { _lipExitCode?: number })._lipExitCode = code;
}
