/**
 * Helpers for the reliability suite: run the built `lip` binary, make small
 * fixtures (IDX folders, ONNX models) in temp folders, and check that a
 * failure is clean (exit code 2, one `error:` line, no stack trace, nothing
 * written).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { GraphBuilder } from '@lip/export';
import { encodeIdx } from '@lip/train/node';

export const ROOT = path.resolve(__dirname, '../..');
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
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
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

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lip-rel-${prefix}-`));
}

/** Every file under `dir`, relative, sorted. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Deterministic bytes. */
export function seededBytes(n: number, seed: number): Uint8Array {
  let s = seed >>> 0 || 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** Writes a valid MNIST-style test split (`n` images of h x w, labels 0..9) into `dir`, raw or gzip. */
export function writeIdxSplit(dir: string, opts: { n?: number; h?: number; w?: number; gzip?: boolean; split?: 'test' | 'train' } = {}): { images: string; labels: string } {
  const n = opts.n ?? 12;
  const h = opts.h ?? 28;
  const w = opts.w ?? 28;
  const prefix = (opts.split ?? 'test') === 'test' ? 't10k' : 'train';
  fs.mkdirSync(dir, { recursive: true });
  const images = encodeIdx([n, h, w], seededBytes(n * h * w, 11));
  const labels = encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => i % 10));
  const ext = opts.gzip ? '.gz' : '';
  const enc = (b: Uint8Array): Uint8Array => (opts.gzip ? zlib.gzipSync(b) : b);
  const files = { images: path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), labels: path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`) };
  fs.writeFileSync(files.images, enc(images));
  fs.writeFileSync(files.labels, enc(labels));
  return files;
}

export interface TinyModelOptions {
  /** Per-sample input shape. Default [1, 28, 28]. */
  chw?: number[];
  classes?: number;
  /** Extra or replaced metadata_props. */
  metadata?: Record<string, string>;
  /** Op of the classifier node (an unsupported one for tests). Default Gemm. */
  op?: string;
}

/**
 * Flatten -> Gemm with weights of spectral norm about 1/2 (a 1-Lipschitz
 * claim that holds), metadata lipschitz_constant 1 and input_range [0, 1].
 */
export function tinyModel(opts: TinyModelOptions = {}): Uint8Array {
  const chw = opts.chw ?? [1, 28, 28];
  const classes = opts.classes ?? 10;
  const d = chw.reduce((a, b) => a * b, 1);
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('input', 'float32', ['N', ...chw]);
  const [flat] = b.node('Flatten', [x], { axis: 1 });
  const raw = seededBytes(d * classes, 5);
  // Entries of size <= 1/(2 sqrt(d * classes)) keep the Frobenius (hence spectral) norm <= 1/2.
  const amp = 1 / (2 * Math.sqrt(d * classes));
  const w = Float32Array.from(raw, (v) => ((v / 255) * 2 - 1) * amp);
  const W = b.initializer('W', w, [d, classes]);
  const B = b.initializer('B', Float32Array.from({ length: classes }, (_, i) => 0.01 * i), [classes]);
  b.node(opts.op ?? 'Gemm', [flat, W, B], {}, { outputs: ['logits'] });
  b.output('logits', ['N', classes]);
  b.setMetadata('lipschitz_constant', '1');
  b.setMetadata('input_range', '[0, 1]');
  for (const [k, v] of Object.entries(opts.metadata ?? {})) b.setMetadata(k, v);
  return b.toBytes();
}

/** The fixtures every CLI case reads (never writes): valid data folders and models. */
export interface CliFixtures {
  root: string;
  /** A valid MNIST-style test split (28 x 28). */
  data: string;
  /** The same files under a folder named fashion-mnist (the loader then uses Fashion-MNIST class names). */
  fashion: string;
  /** A valid 28 x 28 model (Flatten -> Gemm) claiming L = 1. */
  model: string;
}

export function makeCliFixtures(prefix: string): CliFixtures {
  const root = tmpDir(prefix);
  const data = path.join(root, 'data');
  writeIdxSplit(data, { n: 12 });
  const fashion = path.join(root, 'fashion-mnist');
  writeIdxSplit(fashion, { n: 12 });
  const model = path.join(root, 'model.onnx');
  fs.writeFileSync(model, tinyModel());
  return { root, data, fashion, model };
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
  return ['train', '--data', data, '--out', out, '--epochs', String(epochs), '--limit', n, '--batch-size', n, '--seed', '7', '--workers', '1', '--backend', 'wasm'];
}
