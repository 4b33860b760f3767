/**
 * Start-up: `lip verify` and `lip bound` load only what they need (no
 * training code, no exporter, no tfjs, no image or zip decoder), and the
 * program built for one command prints what the full program prints. The
 * spawned cases run the built binary: run `npx tsc -b` first.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { cliFixturesPerSuite, LIP_BIN } from '@lip/test-support/cli';
import { buildProgram, programFor, run } from './program';

/** Modules that a verify or bound run must not load: what they need is @lip/core, @lip/verify and onnxruntime. */
const NOT_NEEDED = /[\\/](@tensorflow|pngjs|jpeg-js|yauzl|cli-progress)[\\/]|[\\/]packages[\\/](train|export)[\\/]|[\\/]verify[\\/]dist[\\/]attacks[\\/]/;

describe('lip start-up', () => {
  const fx = cliFixturesPerSuite('cli-startup');
  // Preloaded by `node -r`: writes the path of every module loaded to $LIP_TEST_LOADED when the process exits.
  const hook = (): string => path.join(fx.root, 'record_loaded.js');
  beforeAll(() => {
    fs.writeFileSync(hook(), "process.on('exit', () => require('fs').writeFileSync(process.env.LIP_TEST_LOADED, Object.keys(require.cache).join('\\n')));\n");
  });

  /** Runs the built `lip ...args`; returns the paths of the modules it loaded. */
  function loadedBy(...args: string[]): string[] {
    const list = path.join(fx.root, `loaded-${args[0]}-${args.length}.txt`);
    const r = spawnSync(process.execPath, ['-r', hook(), LIP_BIN, ...args], {
      env: { ...process.env, LIP_TEST_LOADED: list, LIP_DATA_DIR: '', LIP_CACHE_DIR: path.join(fx.root, 'cache') },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    return fs.readFileSync(list, 'utf8').split('\n');
  }

  it.each([
    ['verify --help', (): string[] => ['verify', '--help']],
    ['bound --help', (): string[] => ['bound', '--help']],
    ['help verify', (): string[] => ['help', 'verify']],
    // The fixtures exist only once beforeAll has run: their paths are read in the case.
    ['a verify run', (): string[] => ['verify', fx.model, '--data', fx.data, '--n', '10']],
    ['a bound run', (): string[] => ['bound', fx.model]],
  ])('%s loads neither tfjs nor the training code', (_name, args) => {
    const loaded = loadedBy(...args());
    // The recorder sees the CLI itself, so an empty list cannot pass.
    expect(loaded.some((p) => /[\\/]cli[\\/]dist[\\/]commands[\\/]/.test(p))).toBe(true);
    expect(loaded.filter((p) => NOT_NEEDED.test(p))).toEqual([]);
  });

  it('lip --help still lists every command', () => {
    const r = spawnSync(process.execPath, [LIP_BIN, '--help'], { encoding: 'utf8', timeout: 120_000 });
    const listed = [...r.stdout.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]);
    expect(listed).toEqual(['train', 'export', 'verify', 'bound', 'attack', 'demo', 'help']);
  });

  it.each(['verify --help', 'bound --help', 'train --help', 'attack --help', 'help demo', 'export --help', 'verify --bogus', 'verify', '--help', 'nonsense'])(
    'lip %s prints what the program with every command prints',
    async (line) => {
      const argv = ['node', 'lip', ...line.split(' ')];
      const full = await output(argv, buildProgram());
      expect(full.out + full.err).toMatch(/Usage: lip|error: /);
      expect(await output(argv, programFor(argv))).toEqual(full);
    },
  );

  it('programFor builds only the command argv names first', () => {
    const names = (argv: string[]): string[] => programFor(['node', 'lip', ...argv]).commands.map((c) => c.name());
    expect(names(['verify', 'm.onnx'])).toEqual(['verify']);
    expect(names(['help', 'bound'])).toEqual(['bound']);
    expect(names(['--help', 'verify'])).toEqual(['train', 'export', 'verify', 'bound', 'attack', 'demo']);
    expect(names(['verfiy'])).toEqual(['train', 'export', 'verify', 'bound', 'attack', 'demo']);
  });
});

/** The exit code of `run(argv, program)` and what commander printed (help, usage errors). */
async function output(argv: string[], program: Command): Promise<{ code: number; out: string; err: string }> {
  const printed = { out: '', err: '' };
  const capture = (c: Command): void => {
    c.configureOutput({
      writeOut: (s) => {
        printed.out += s;
      },
      writeErr: (s) => {
        printed.err += s;
      },
    });
    c.commands.forEach(capture);
  };
  capture(program);
  const code = await run(argv, program);
  return { code, ...printed };
}
