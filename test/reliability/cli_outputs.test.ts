/**
 * Where the CLI's output files go (`--json FILE`, `lip export -o FILE`):
 * through symbolic links to their targets (dangling ones too), in place into
 * character devices and FIFOs, to stdout for `-` (with the human output on
 * stderr), never over a folder or a socket, and never half-written when the
 * disk is full or read-only (faults injected in fs: we run as root, so chmod
 * does not stop a write). The system's /dev/null and /dev/stdout are never
 * used: a twin device node and a link to /proc/self/fd/1 stand in for them, so
 * that code replacing them cannot break the machine.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { atomicTemps, childrenPerTest, listFiles } from '@lip/test-support';
import {
  CLI_TIMEOUT_MS,
  cliFixturesPerSuite,
  CliResult,
  errorLines,
  expectCleanFailure,
  LIP_BIN,
  outDir,
  QUICK_ATTACK,
  runLip,
  tinyTrainArgs,
  writeTrainData,
} from '@lip/test-support/cli';

const FAULTS = path.join(__dirname, 'fs_faults.js');

const fx = cliFixturesPerSuite('cli-outputs');
/** Processes a test started (a FIFO's reader), killed after the test whatever happened. */
const children = childrenPerTest();
let work: string;
beforeEach(() => {
  work = outDir(fx.root);
});

/** `lip` with stdout kept as bytes (an ONNX file on stdout is binary). */
async function runLipBytes(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult & { bytes: Buffer }> {
  const started = Date.now();
  const child = spawn(process.execPath, [LIP_BIN, ...args], {
    cwd: opts.cwd ?? work,
    env: { ...process.env, LIP_DATA_DIR: '', HOME: os.tmpdir(), NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    });
    const bytes = Buffer.concat(out);
    return { code, signal, stdout: bytes.toString('utf8'), stderr, ms: Date.now() - started, bytes };
  } finally {
    clearTimeout(timer);
  }
}

/** A bound JSON as `lip bound --json` writes it. */
function expectBoundJson(text: string): void {
  const j = JSON.parse(text) as { model: string; total: number; layers: unknown[] };
  expect(j.model).toBe(fx.model);
  expect(j.total).toBeGreaterThan(0);
  expect(j.layers.length).toBeGreaterThan(0);
}

function expectOk(r: CliResult): void {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/error/) });
}

describe('--json FILE through links, devices, FIFOs', () => {
  it('a link: the JSON goes to its target; the link stays a link', async () => {
    fs.mkdirSync(path.join(work, 'results'));
    const target = path.join(work, 'results', 'bound.json');
    fs.writeFileSync(target, 'old');
    const link = path.join(work, 'latest.json');
    fs.symlinkSync('results/bound.json', link);
    expectOk(await runLip(['bound', fx.model, '--json', link]));
    expect([fs.lstatSync(link).isSymbolicLink(), fs.readlinkSync(link)]).toEqual([true, 'results/bound.json']);
    expectBoundJson(fs.readFileSync(target, 'utf8'));
    expect(atomicTemps(work)).toEqual([]);
  });

  it('a dangling link: its target (and its folder) is created', async () => {
    const target = path.join(work, 'new', 'bound.json');
    const link = path.join(work, 'latest.json');
    fs.symlinkSync(target, link);
    expectOk(await runLip(['bound', fx.model, '--json', link]));
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expectBoundJson(fs.readFileSync(target, 'utf8'));
  });

  it('a character device (a twin of /dev/null) is written in place and stays a device', async () => {
    const device = path.join(work, 'null');
    const made = spawnSync('mknod', [device, 'c', '1', '3']);
    expect({ status: made.status, stderr: String(made.stderr) }).toEqual({ status: 0, stderr: '' });
    expectOk(await runLip(['bound', fx.model, '--json', device]));
    expect(fs.statSync(device).isCharacterDevice()).toBe(true);
    expect(fs.readdirSync(work)).toEqual(['null']);
  });

  it('a FIFO is written in place: its reader gets the JSON', async () => {
    const fifo = path.join(work, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = children.track(spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] }));
    let read = '';
    reader.stdout.on('data', (d: Buffer) => {
      read += d.toString();
    });
    const readerDone = new Promise<number | null>((resolve) => reader.on('close', resolve));
    expectOk(await runLip(['bound', fx.model, '--json', fifo]));
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(await readerDone).toBe(0);
    expectBoundJson(read);
  });

  it("a link to this process's stdout (as /dev/stdout) in a shell pipe: the JSON goes down the pipe, the link stays", () => {
    const stdoutLink = path.join(work, 'stdout');
    fs.symlinkSync('/proc/self/fd/1', stdoutLink);
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${LIP_BIN}" bound "${fx.model}" --json "${stdoutLink}" | cat`], {
      cwd: work,
      env: { ...process.env, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: CLI_TIMEOUT_MS,
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.not.stringMatching(/error/) });
    expect(fs.lstatSync(stdoutLink).isSymbolicLink()).toBe(true);
    // The table, then the JSON.
    expectBoundJson(r.stdout.slice(r.stdout.indexOf('\n{') + 1));
  });

  it("a link to this process's stdout redirected to a file (> out.txt): the table, then the JSON, in the file", () => {
    const stdoutLink = path.join(work, 'stdout');
    fs.symlinkSync('/proc/self/fd/1', stdoutLink);
    const out = path.join(work, 'out.txt');
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${LIP_BIN}" bound "${fx.model}" --json "${stdoutLink}" > "${out}"`], {
      cwd: work,
      env: { ...process.env, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: CLI_TIMEOUT_MS,
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.not.stringMatching(/error/) });
    const text = fs.readFileSync(out, 'utf8');
    expect(text).toMatch(/^# +layer/);
    expectBoundJson(text.slice(text.indexOf('\n{') + 1));
    expect(fs.readdirSync(work).sort()).toEqual(['out.txt', 'stdout']);
  });

  it('a socket (stdout of a child node spawned with pipes): refused before any work, the link stays', async () => {
    const stdoutLink = path.join(work, 'stdout');
    fs.symlinkSync('/proc/self/fd/1', stdoutLink);
    const r = await runLip(['bound', fx.model, '--json', stdoutLink]);
    expectCleanFailure(r, new RegExp(`^error: cannot write '${stdoutLink}': it is a socket, .*'-'`));
    expect(r.stdout).toBe('');
    expect(fs.lstatSync(stdoutLink).isSymbolicLink()).toBe(true);
  });

  it('a folder: refused with one error before the work starts, the folder untouched', async () => {
    const folder = path.join(work, 'results');
    fs.mkdirSync(folder);
    const r = await runLip(['verify', fx.model, '--data', fx.data, '--json', folder]);
    expectCleanFailure(r, new RegExp(`^error: cannot write '${folder}': it is a folder; give the path of a file`));
    expect(r.stderr).not.toMatch(/verify: batch/);
    expect(fs.readdirSync(folder)).toEqual([]);
  });
});

describe('a full or read-only disk (faults injected in fs)', () => {
  it.each([
    ['ENOSPC', /no space left on the device \(ENOSPC\); free some space or choose another folder; nothing was written$/],
    ['EROFS', /the file system is read-only \(EROFS\); choose a folder on a writable one; nothing was written$/],
  ])('%s: exit 2, one error naming the file, the old file intact, no temp left', async (fault, why) => {
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    const file = path.join(out, 'bound.json');
    fs.writeFileSync(file, '{"old": "complete"}\n');
    const r = await runLip(['bound', fx.model, '--json', file], {
      env: { NODE_OPTIONS: `--require ${FAULTS}`, LIP_FAULT_DIR: out, LIP_FAULT: fault },
    });
    expectCleanFailure(r, new RegExp(`^error: cannot write '${file}': `));
    expect(errorLines(r.stderr)[0]).toMatch(why);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"old": "complete"}\n');
    expect(fs.readdirSync(out)).toEqual(['bound.json']);
  });
});

describe("'-' is stdout, which then carries the data alone", () => {
  it.each([
    ['bound', (): string[] => ['bound', fx.model, '--json', '-'], /^total /m],
    ['verify', (): string[] => ['verify', fx.model, '--data', fx.data, '--json', '-'], /^accuracy /m],
    ['attack', (): string[] => ['attack', fx.model, '--data', fx.data, ...QUICK_ATTACK, '--json', '-'], /^Image # +Certificate/m],
  ])('lip %s --json -: stdout is the JSON, the table is on stderr, no file named -', async (_command, args, table) => {
    const r = await runLipBytes(args());
    expectOk(r);
    expect(() => JSON.parse(r.stdout)).not.toThrow();
    expect(r.stderr).toMatch(table);
    expect(fs.readdirSync(work)).toEqual([]);
  });
});

describe('with a checkpoint', () => {
  let ckpt: string;
  let trainStderr: string;
  beforeAll(async () => {
    const data = path.join(fx.root, 'train-data');
    writeTrainData(data);
    ckpt = path.join(fx.root, 'ckpt');
    const r = await runLip(tinyTrainArgs(data, ckpt, 1));
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    trainStderr = r.stderr;
  });

  it('lip export -o -: the ONNX bytes on stdout, the same as -o FILE; the summary on stderr', async () => {
    const file = path.join(work, 'model.onnx');
    expectOk(await runLipBytes(['export', ckpt, '-o', file]));
    const r = await runLipBytes(['export', ckpt, '-o', '-']);
    expectOk(r);
    expect(r.bytes.equals(fs.readFileSync(file))).toBe(true);
    expect(r.stderr).toMatch(/^wrote standard output \(\d+ bytes/m);
    expect(fs.readdirSync(work)).toEqual(['model.onnx']);
  });

  it('lip train warns about no layer of the reference network (its Flatten is an isometry)', () => {
    expect(trainStderr).not.toMatch(/not a Lipschitz layer/);
  });

  it("a second train into the same --out names '--out', not the library's option", async () => {
    const data = path.join(fx.root, 'train-data');
    const r = await runLip(tinyTrainArgs(data, ckpt, 2));
    expectCleanFailure(r, new RegExp(`^error: '--out' ${ckpt} already holds a checkpoint \\(1 epochs\\): pass --resume`));
    const resumed = await runLip([...tinyTrainArgs(data, ckpt, 2), '--resume', '--batch-size', '16']);
    expectCleanFailure(resumed, /^error: '--batch-size' is 16 but the checkpoint in .* was trained with 32/);
  });
});

describe('messages name the flag, not the library option', () => {
  it.each<[string, () => string[], RegExp]>([
    ['train --resume on an empty folder', () => ['train', '--data', fx.data, '--out', path.join(work, 'run'), '--resume'], /^error: '--resume': /],
    ['train --arch', () => ['train', '--data', fx.data, '--out', path.join(work, 'run'), '--arch', 'nope'], /^error: '--arch' must be one of/],
    ['train --loss', () => ['train', '--data', fx.data, '--out', path.join(work, 'run'), '--loss', 'nope'], /^error: '--loss' must be one of/],
    [
      'train --workers',
      () => ['train', '--data', fx.data, '--out', path.join(work, 'run'), '--workers', '65'],
      /^error: '--workers' must be an integer in \[1, 64\]/,
    ],
    [
      'export --opset',
      () => ['export', path.join(work, 'none'), '-o', path.join(work, 'm.onnx'), '--opset', '99'],
      /^error: '--opset' must be an integer from 13 to \d+, got 99$/,
    ],
    ['export -o empty', () => ['export', path.join(work, 'none'), '-o', ''], /^error: '--output' must be a file path/],
    ['verify --json empty', () => ['verify', fx.model, '--data', fx.data, '--json', ''], /^error: '--json' must be a file path, or '-'/],
    [
      'attack --workers',
      () => ['attack', fx.model, '--data', fx.data, ...QUICK_ATTACK, '--workers', '65'],
      /^error: '--workers' must be an integer in \[1, 64\]/,
    ],
  ])('%s', async (_name, args, pattern) => {
    const r = await runLip(args());
    expectCleanFailure(r, pattern);
    expect(listFiles(work)).toEqual([]);
  });
});

describe('lip attack', () => {
  it('pgd without --eps uses 36/255, the first radius lip verify certifies, and says so in --help', async () => {
    const help = await runLip(['attack', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--eps <E> pgd: L2 radius [^-]*\(default 36\/255 = 0\.1412, the first radius lip verify certifies\)/);
    const r = await runLipBytes(['attack', fx.model, '--data', fx.data, '--attack', 'pgd', '--steps', '2', '--n', '2', '--backend', 'cpu', '--json', '-']);
    expectOk(r);
    expect(JSON.parse(r.stdout).params.eps).toBe(36 / 255);
  });

  it('separates images already misclassified from adversarials found and none found (console, JSON, report)', async () => {
    // The fixture model is random: most of the 12 images are misclassified, and a large ball flips nearly every prediction.
    const report = path.join(work, 'report');
    const json = path.join(work, 'attack.json');
    const r = await runLip([
      'attack',
      fx.model,
      '--data',
      fx.data,
      '--attack',
      'pgd',
      '--eps',
      '20',
      '--steps',
      '20',
      '--n',
      '12',
      '--backend',
      'cpu',
      '--workers',
      '1',
      '--json',
      json,
      '--report',
      report,
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(fs.readFileSync(json, 'utf8')) as {
      results: { label: number; pred: number; found: boolean; outcome: string }[];
      misclassified: number;
      found: number;
      notFound: number;
    };
    const wrong = j.results.filter((x) => x.pred !== x.label);
    const right = j.results.filter((x) => x.pred === x.label);
    // The case of the issue: the model was already wrong, and the attack still changed its prediction.
    expect(wrong.filter((x) => x.found).length).toBeGreaterThan(0);
    expect(wrong.every((x) => x.outcome === 'misclassified')).toBe(true);
    expect(right.map((x) => x.outcome)).toEqual(right.map((x) => (x.found ? 'adversarial' : 'none')));
    expect([j.misclassified, j.found, j.notFound]).toEqual([wrong.length, right.filter((x) => x.found).length, right.filter((x) => !x.found).length]);
    const counts = `${j.misclassified} already misclassified, ${j.found} adversarial${j.found === 1 ? '' : 's'} found, ${j.notFound} with no adversarial found`;
    expect(r.stdout).toContain(`pgd: 12 images: ${counts}; `);
    expect(r.stdout.split('\n').filter((l) => /^\d+ .*already misclassified/.test(l))).toHaveLength(wrong.length);
    const html = fs.readFileSync(path.join(report, 'index.html'), 'utf8');
    expect(html).toContain(`12 images: ${j.misclassified} already misclassified, ${j.found} adversarial found, ${j.notFound} no adversarial found;`);
    expect(html).not.toMatch(/images fooled/);
  });
});
