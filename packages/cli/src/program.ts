import { Command, CommanderError } from 'commander';
import { LipError } from '@lip/core';
import { exitCodeOf } from './exit_code';
import { nameFlags } from './option_flags';

type Register = (program: Command) => void;

/**
 * The commands in `lip --help` order. Each module is loaded only when the
 * command line needs it, since loading is most of a short run's time: `lip
 * verify` and `lip bound` never load the training code, the exporter or tfjs.
 */
const COMMANDS: readonly { name: string; register: () => Register }[] = [
  { name: 'train', register: () => (require('./commands/train') as typeof import('./commands/train')).registerTrain },
  { name: 'export', register: () => (require('./commands/export') as typeof import('./commands/export')).registerExport },
  { name: 'verify', register: () => (require('./commands/verify') as typeof import('./commands/verify')).registerVerify },
  { name: 'bound', register: () => (require('./commands/bound') as typeof import('./commands/bound')).registerBound },
  { name: 'attack', register: () => (require('./commands/attack') as typeof import('./commands/attack')).registerAttack },
  { name: 'demo', register: () => (require('./commands/demo') as typeof import('./commands/demo')).registerDemo },
];

/** Builds the `lip` program with every command; `run` executes it. */
export function buildProgram(): Command {
  return programWith(COMMANDS);
}

function programWith(commands: readonly { register: () => Register }[]): Command {
  const program = new Command();
  program
    .name('lip')
    .description('Train, export and verify certifiably robust 1-Lipschitz networks.')
    .version(require('../package.json').version)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  for (const command of commands) command.register()(program);
  return program;
}

/**
 * The program `argv` needs: only its command when argv names one first
 * (`lip verify ...`, `lip help verify`), whose output is then the same as
 * with every command; else (`lip`, `lip --help`, an unknown or misspelt
 * command) every command.
 */
export function programFor(argv: readonly string[]): Command {
  const name = argv[2] === 'help' ? argv[3] : argv[2];
  const named = COMMANDS.find((c) => c.name === name);
  return named ? programWith([named]) : buildProgram();
}

/**
 * Runs the CLI and returns the exit code: 0 on success, 2 for bad input,
 * 3 when `lip attack` finds a certificate violation, 130 after Ctrl-C in
 * training, 1 for internal errors. An action reports a code other than 0
 * with `setExitCode` (exit_code.ts). `program` defaults to `programFor(argv)`.
 */
export async function run(argv: string[], program: Command = programFor(argv)): Promise<number> {
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
