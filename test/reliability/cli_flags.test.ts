/**
 * Bad command lines for every command: unknown flags, and zero, negative or
 * malformed counts and radii. Each gives exit code 2, one `error:` line and
 * no stack trace, before anything is written.
 */
import * as path from 'path';
import { listFiles } from '@lip/test-support';
import { cliFixturesPerSuite, expectCleanFailure, outDir, outputFlags, QUICK_ATTACK, runLip } from '@lip/test-support/cli';

const fx = cliFixturesPerSuite('cli-flags');

/** [command, extra arguments, expected error]; the model / data / output arguments are added per command. */
type FlagCase = [string, string[], RegExp];

/** Each numeric flag with zero, a negative value and a malformed one. */
function numeric(command: string, flag: string, kind: 'int' | 'number', values: string[], prefix: string[] = []): FlagCase[] {
  const quoted = flag.replace(/[-]/g, '\\-');
  const what = kind === 'int' ? 'must be a positive integer' : 'must be a finite number > 0';
  return values.map((v) => [command, [...prefix, `${flag}=${v}`], new RegExp(`^error: '${quoted}' ${what}, got '${v.replace(/[.]/g, '\\.')}'$`)]);
}

const FLAG_CASES: FlagCase[] = [
  // Unknown flags and commands.
  ['', ['--frobnicate'], /^error: unknown option '--frobnicate'$/],
  ['', ['frobnicate'], /^error: unknown command 'frobnicate'$/],
  ['train', ['--frobnicate'], /^error: unknown option '--frobnicate'$/],
  ['export', ['--frobnicate'], /^error: unknown option '--frobnicate'$/],
  ['verify', ['--frobnicate'], /^error: unknown option '--frobnicate'$/],
  ['bound', ['--frobnicate'], /^error: unknown option '--frobnicate'$/],
  ['attack', ['--frobnicate'], /^error: unknown option '--frobnicate'$/],
  ['verify', ['--split', 'validation'], /^error: option '--split <split>' argument 'validation' is invalid/],
  ['attack', ['--attack', 'magic'], /^error: option '--attack <name>' argument 'magic' is invalid/],
  // lip train (flag validation only: nothing is trained or written).
  ...numeric('train', '--epochs', 'int', ['0', '-1', '2.5', 'ten']),
  ...numeric('train', '--batch-size', 'int', ['0', '-8', 'x']),
  ...numeric('train', '--limit', 'int', ['0', '-1']),
  ...numeric('train', '--lr', 'number', ['0', '-0.001', 'nan']),
  // lip export.
  ['export', ['--opset', '-1'], /^error: '--opset' must be an integer, got '-1'$/],
  ['export', ['--opset', '0'], /^error: '--opset' must be an integer from 13 to 21, got 0$/],
  ['export', ['--opset', '99'], /^error: '--opset' must be an integer from 13 to 21, got 99$/],
  // lip verify.
  ...numeric('verify', '--n', 'int', ['0', '-1', '1e3']),
  ...numeric('verify', '--batch-size', 'int', ['0', '-1']),
  ...numeric('verify', '--threads', 'int', ['0', '-2']),
  ...numeric('verify', '--lipschitz', 'number', ['0', '-1', 'inf']),
  ['verify', ['--eps', '0'], /^error: '--eps' entry '0' must be > 0/],
  ['verify', ['--eps', '36/255,0'], /^error: '--eps' entry '0' must be > 0/],
  ['verify', ['--eps=-0.1'], /^error: '--eps' entry '-0\.1' is not a number > 0 or a fraction like 36\/255$/],
  ['verify', ['--eps', '1/0'], /^error: '--eps' entry '1\/0' is not a number > 0/],
  ['verify', ['--eps', '0.1,,0.2'], /^error: '--eps' must be a comma-separated list/],
  // lip attack.
  ...numeric('attack', '--n', 'int', ['0', '-3']),
  ...numeric('attack', '--steps', 'int', ['0', '-10', '1.5']),
  ...numeric('attack', '--binary-search-steps', 'int', ['0', '-1']),
  ...numeric('attack', '--max-queries', 'int', ['0', '-1'], ['--attack', 'hsja']),
  ...numeric('attack', '--batch-size', 'int', ['0', '-1']),
  ...numeric('attack', '--eps', 'number', ['0', '-0.5', 'big'], ['--attack', 'pgd']),
  ...numeric('attack', '--lipschitz', 'number', ['0', '-1']),
  ['attack', ['--seed=-1'], /^error: '--seed' must be an integer >= 0, got '-1'$/],
  ['attack', ['--n', '3', '--one-per-class'], /^error: '--n' and '--one-per-class' cannot be used together$/],
];

/** Arguments that make each command otherwise valid. */
function baseArgs(command: string, out: string): string[] {
  switch (command) {
    case 'train':
      return ['train', '--data', fx.data, ...outputFlags('train', out)];
    case 'export':
      return ['export', path.join(fx.root, 'no-checkpoint-needed'), ...outputFlags('export', out)];
    case 'verify':
      return ['verify', fx.model, '--data', fx.data, ...outputFlags('verify', out)];
    case 'bound':
      return ['bound', fx.model, ...outputFlags('bound', out)];
    case 'attack':
      // QUICK_ATTACK without its --attack pgd --eps 0.5 (cw by default; cases add their own).
      return ['attack', fx.model, '--data', fx.data, ...QUICK_ATTACK.slice(4), ...outputFlags('attack', out)];
    default:
      return [];
  }
}

describe('bad command lines', () => {
  it.each(FLAG_CASES)('lip %s %j', async (command, extra, pattern) => {
    const out = outDir(fx.root);
    const r = await runLip([...baseArgs(command, out), ...extra]);
    expectCleanFailure(r, pattern);
    expect(listFiles(out)).toEqual([]);
  });

  it('missing required arguments', async () => {
    for (const [args, pattern] of [
      [['verify'], /^error: missing required argument 'model'$/],
      [['bound'], /^error: missing required argument 'model'$/],
      [['attack'], /^error: missing required argument 'model'$/],
      [['export', fx.root], /^error: required option '-o, --output <file>' not specified$/],
    ] as [string[], RegExp][]) {
      expectCleanFailure(await runLip(args), pattern);
    }
  });
});
