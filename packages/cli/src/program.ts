import { Command, CommanderError } from 'commander';
import { LipError } from '@lip/train';
import { registerTrain } from './commands/train';
import { registerExport } from './commands/export';
import { registerVerify } from './commands/verify';
import { registerBound } from './commands/bound';
import { registerAttack } from './commands/attack';
import { registerDemo } from './commands/demo';
import { exitCodeOf } from './exit_code';
import { nameFlags } from './option_flags';

/** Builds the `lip` program; `run` executes it. */
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
 * 3 when `lip attack` finds a certificate violation, 130 after Ctrl-C in
 * training, 1 for internal errors. An action reports a code other than 0
 * with `setExitCode` (exit_code.ts). `program` defaults to `buildProgram()`.
 */
export async function run(argv: string[], program: Command = buildProgram()): Promise<number> {
  let code = 0;
  let command: string | undefined;
  program.hook('preAction', (_this, action) => {
    command = action.name();
  });
  program.hook('postAction', (_this, action) => {
    code = exitCodeOf(action) ?? code;
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
