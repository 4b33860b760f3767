/**
 * Running the `lip` program in tests: in this process (`lip(...)`, output
 * captured) or as the built binary (`runLip`, `spawnLip`: run `npx tsc -b`
 * first); checking that a failure is clean (exit code 2, one `error:` line,
 * no stack trace); and the small fixtures the CLI tests read.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { hasCheckpoint, readTrainState } from '@lip/train/node';
import { writeIdxSplit } from './data';
import { ROOT } from './files';
import { gemmModel } from './onnx';
import { tmpDirPerSuite } from './tmp';

/** What `lip(...)` returns: the exit code, everything written to stdout and stderr, and the wall time. */
export interface LipResult {
  code: number;
  out: string;
  err: string;
  seconds: number;
}

/** Runs `lip ...args` in this process (the CLI's `run`), capturing stdout and stderr. */
export async function lip(...args: string[]): Promise<LipResult> {
  // Loaded on first use: tests that only spawn the binary never load the CLI.
  const { run } = await import('@lip/cli');
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  const started = Date.now();
  try {
    const code = await run(['node', 'lip', ...args]);
    return { code, out, err, seconds: (Date.now() - started) / 1000 };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** The argument of a failed expectation about a CLI run: its output, so a failure shows what the command said. */
export function transcript(r: LipResult): string {
  return `exit ${r.code}\n--- stdout\n${r.out}\n--- stderr\n${r.err}`;
}

/** Fails with the run's transcript unless it exited 0 without an internal error. */
export function expectLipOk(r: LipResult): void {
  if (r.code !== 0 || /internal error/.test(r.err)) throw new Error(transcript(r));
}

export const LIP_BIN = path.join(ROOT, 'packages/cli/dist/bin/lip.js');
/** A CLI run that takes longer than this counts as a hang. */
export const CLI_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A running `lip` process. */
export interface LipProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited and its output is read. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node lip.js ...args` (no cached or system data set, no download). */
export function spawnLip(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): LipProcess {
  const child = spawn(process.execPath, [LIP_BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    // No cached or system data set may answer in place of the fixture; no download either.
    env: { ...process.env, LIP_DATA_DIR: '', HOME: opts.cwd ?? os.tmpdir(), NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, closed };
}

/** Runs `node lip.js ...args`, killing it after CLI_TIMEOUT_MS. */
export async function runLip(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const started = Date.now();
  const p = spawnLip(args, opts);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  try {
    const { code, signal } = await p.closed;
    return { code, signal, stdout: p.stdout(), stderr: p.stderr(), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `lip args` and SIGKILLs it after `ms` (unless it exits first); resolves with how it ended. */
export async function runAndKill(args: readonly string[], ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const p = spawnLip(args);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), ms);
  try {
    return await p.closed;
  } finally {
    clearTimeout(timer);
  }
}

/** Lines of stderr that start with `error:`. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error:'));
}

/**
 * A clean user error: exit code 2, exactly one `error:` line, nothing else
 * alarming on stderr (no stack frame, no `internal error`, no runtime log
 * lines), and the line matches `pattern` when given.
 */
export function expectCleanFailure(r: CliResult, pattern?: RegExp): void {
  const context = `exit ${r.code} (signal ${r.signal}) after ${r.ms} ms\nstderr:\n${r.stderr}`;
  expect({ code: r.code, context }).toEqual({ code: 2, context });
  const lines = errorLines(r.stderr);
  expect({ lines, context }).toEqual({ lines: [expect.any(String)], context });
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error|TypeError|RangeError|ReferenceError|onnxruntime_src|\[E:onnxruntime/);
  // Anything else on stderr is commander's usage hint, a progress line or a warning.
  for (const line of r.stderr.split('\n')) {
    if (line === '' || line.startsWith('error:') || line.startsWith('warning:') || line === '(run with --help for usage)') continue;
    expect({ line, context }).toEqual({ line: expect.stringMatching(/^(verify: batch|report:)/), context });
  }
  if (pattern) expect(lines[0]).toMatch(pattern);
}

/** The fixtures every CLI case reads (never writes): valid data folders and models. */
export interface CliFixtures {
  root: string;
  /** A valid MNIST-style test split (28 x 28). */
  data: string;
  /** The same files under a folder named fashion-mnist (the loader then uses Fashion-MNIST class names). */
  fashion: string;
  /** A valid 28 x 28 model (Flatten -> Gemm, `gemmModel()`) claiming L = 1. */
  model: string;
}

/**
 * The CLI fixtures of the calling file or describe block, with `images` images
 * in each data folder: written before its first test, removed after its last.
 */
export function cliFixturesPerSuite(prefix: string, { images = 12 }: { images?: number } = {}): CliFixtures {
  const tmp = tmpDirPerSuite(`rel-${prefix}`);
  const fx = {} as CliFixtures;
  beforeAll(() => {
    const root = tmp.dir;
    const data = path.join(root, 'data');
    writeIdxSplit(data, { n: images });
    const fashion = path.join(root, 'fashion-mnist');
    writeIdxSplit(fashion, { n: images });
    const model = path.join(root, 'model.onnx');
    fs.writeFileSync(model, gemmModel());
    Object.assign(fx, { root, data, fashion, model });
  });
  return fx;
}

/** A fresh, empty folder for one case's outputs. */
export function outDir(root: string): string {
  fs.mkdirSync(path.join(root, 'out'), { recursive: true });
  return fs.mkdtempSync(path.join(root, 'out', 'case-'));
}

/** Output flags that must stay unwritten when a command fails. */
export function outputFlags(command: string, out: string): string[] {
  switch (command) {
    case 'verify':
    case 'attack':
      return ['--json', path.join(out, 'result.json'), '--report', path.join(out, 'report')];
    case 'bound':
      return ['--json', path.join(out, 'bound.json')];
    case 'export':
      return ['-o', path.join(out, 'model.onnx')];
    case 'train':
      return ['--out', path.join(out, 'run')];
    default:
      return [];
  }
}

/** Cheapest valid arguments of `lip attack` (pgd, two images, two steps). */
export const QUICK_ATTACK = ['--attack', 'pgd', '--eps', '0.5', '--steps', '2', '--n', '2', '--backend', 'cpu'];

const TINY_TRAIN_IMAGES = 32;

/** Writes the train and test splits `lip train` reads (TINY_TRAIN_IMAGES each, 28 x 28) into `dir`. */
export function writeTrainData(dir: string): void {
  writeIdxSplit(dir, { n: TINY_TRAIN_IMAGES, split: 'train' });
  writeIdxSplit(dir, { n: TINY_TRAIN_IMAGES, split: 'test' });
}

/**
 * A tiny `lip train` of the reference network on `writeTrainData(data)`: one
 * step per epoch, 1 worker, wasm: about 0.25 s per epoch, of which writing
 * the 1.3 MB checkpoint takes 10 to 60 ms. Add `--resume` to continue it: the
 * run settings match those stored.
 */
export function tinyTrainArgs(data: string, out: string, epochs: number): string[] {
  const n = String(TINY_TRAIN_IMAGES);
  return [
    'train',
    '--data',
    data,
    '--out',
    out,
    '--epochs',
    String(epochs),
    '--limit',
    n,
    '--batch-size',
    n,
    '--seed',
    '7',
    '--workers',
    '1',
    '--backend',
    'wasm',
  ];
}

/** Epochs of the committed history in a `lip train` folder (what a reader or `--resume` sees), [] without a checkpoint. */
export function committedEpochs(out: string): number[] {
  return hasCheckpoint(out) ? readTrainState(out).epochs.map((e) => e.epoch) : [];
}
