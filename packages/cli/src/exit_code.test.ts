import { Command } from 'commander';
import { exitCodeOf, setExitCode } from './exit_code';
import { run } from './program';

/** A program with one command that reports `code` (none when undefined) and returns normally. */
function programReporting(code: number | undefined): Command {
  const program = new Command().name('lip').exitOverride();
  program.command('probe').action((_flags: object, cmd: Command) => {
    if (code !== undefined) setExitCode(cmd, code);
  });
  return program;
}

describe('exit codes set by actions', () => {
  it('run returns the code an action set on its command', async () => {
    await expect(run(['node', 'lip', 'probe'], programReporting(3))).resolves.toBe(3);
  });

  it('run returns 0 when the action set none', async () => {
    await expect(run(['node', 'lip', 'probe'], programReporting(undefined))).resolves.toBe(0);
  });

  it('keeps codes per command object', () => {
    const a = new Command('a');
    const b = new Command('b');
    setExitCode(a, 130);
    expect(exitCodeOf(a)).toBe(130);
    expect(exitCodeOf(b)).toBeUndefined();
  });

  it.each([256, -1, 2.5, Number.NaN])('refuses %p, naming the parameter', (code) => {
    expect(() => setExitCode(new Command('a'), code)).toThrow(RangeError);
    expect(() => setExitCode(new Command('a'), code)).toThrow(/'code' must be an integer in \[0, 255\]/);
  });
});
