import { fakeTerminal } from '@lip/test-support';
import { InvalidArgumentError } from './errors';
import { byteCounts, createProgress, DEFAULT_PROGRESS_THROTTLE_MS, ProgressMode, progressMode } from './progress';

/**
 * What a terminal shows after `raw`: lines of text, with the cursor moves
 * readline and cli-progress write (column, up, erase line, erase below).
 */
function screen(raw: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  const put = (ch: string): void => {
    const line = lines[row].padEnd(col, ' ');
    lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  };
  // eslint-disable-next-line no-control-regex
  const tokens = raw.match(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]|[\s\S]/g) ?? [];
  for (const t of tokens) {
    // eslint-disable-next-line no-control-regex -- parses the terminal's escape sequences
    const csi = /^\x1b\[([0-9;?]*)([A-Za-z])$/.exec(t);
    if (t === '\n') {
      row++;
      col = 0;
      lines[row] ??= '';
    } else if (t === '\r') {
      col = 0;
    } else if (csi) {
      const n = Number(csi[1] || (csi[2] === 'G' ? 1 : 0));
      if (csi[2] === 'G') col = Math.max(n - 1, 0);
      else if (csi[2] === 'A') row = Math.max(row - Math.max(n, 1), 0);
      else if (csi[2] === 'K') lines[row] = csi[1] === '2' ? '' : lines[row].slice(0, col);
      else if (csi[2] === 'J') {
        lines.length = row + 1;
        lines[row] = lines[row].slice(0, col);
      }
    } else if (!t.startsWith('\x1b')) {
      put(t);
    }
  }
  return lines;
}

describe('progressMode', () => {
  it.each<[string, boolean, Record<string, unknown>, Record<string, string>, ProgressMode]>([
    ['a terminal', true, {}, {}, 'bar'],
    ['a pipe or file', false, {}, {}, 'lines'],
    ['a terminal under CI', true, {}, { CI: 'true' }, 'lines'],
    ['a terminal with CI=false', true, {}, { CI: 'false' }, 'bar'],
    ['a terminal in --json mode', true, { json: true }, {}, 'lines'],
    ['quiet', true, { quiet: true }, {}, 'off'],
  ])('%s', (_what, isTTY, opts, env, mode) => {
    expect(progressMode(fakeTerminal(isTTY), { ...opts, env })).toBe(mode);
  });
});

describe('createProgress: lines (not a terminal)', () => {
  it('prints one line per completed unit by default, with the title and the label', () => {
    const s = fakeTerminal(false);
    const p = createProgress({ stream: s, title: 'attack' });
    for (let i = 1; i <= 3; i++) p.update(i, 3, { label: 'step' });
    p.update(1, 2, { label: 'run 2/2 step' });
    p.update(2, 2, { label: 'run 2/2 step' });
    p.stop();
    expect(s.text()).toBe('attack step: 3/3\nattack run 2/2 step: 2/2\n');
  });

  it('tenths: a line at the first update, at each new tenth and at the end (the verify log)', () => {
    const s = fakeTerminal(false);
    const counts = (done: number, total: number): string => `batch ${Math.ceil(done / 50)}/${Math.ceil(total / 50)} (${done}/${total} images)`;
    const p = createProgress({ stream: s, title: 'verify', lines: 'tenths', counts });
    for (let done = 50; done <= 1000; done += 50) p.update(done, 1000);
    const lines = s.text().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[0]).toBe('verify: batch 1/20 (50/1000 images)');
    expect(lines[1]).toBe('verify: batch 2/20 (100/1000 images)');
    expect(lines[10]).toBe('verify: batch 20/20 (1000/1000 images)');
  });

  it('detail ticks never print; milestones always do; none prints nothing', () => {
    const s = fakeTerminal(false);
    const p = createProgress({ stream: s });
    p.update(10, 200, { label: 'binary search step 1/2', detail: true });
    p.update(200, 200, { label: 'binary search step 1/2', detail: true });
    p.update(1, 2, { label: 'binary search step', milestone: true });
    p.update(2, 2, { label: 'binary search step', milestone: true });
    expect(s.text()).toBe('binary search step: 1/2\nbinary search step: 2/2\n');
    const quietLog = fakeTerminal(false);
    const none = createProgress({ stream: quietLog, lines: 'none' });
    none.update(4, 4);
    expect(quietLog.text()).toBe('');
  });

  it('log prints its line in every mode, off included; off prints no progress', () => {
    const s = fakeTerminal(true);
    const p = createProgress({ stream: s, mode: 'off' });
    p.update(1, 1);
    p.log('warning: something');
    p.stop();
    expect(s.text()).toBe('warning: something\n');
  });

  it('byteCounts reads bytes in decimal units', () => {
    expect(byteCounts(512, 900)).toBe('512/900 B');
    expect(byteCounts(1_234_567, 26_421_880)).toBe('1.2/26.4 MB');
    const s = fakeTerminal(false);
    createProgress({ stream: s, title: 'train-images-idx3-ubyte.gz', counts: byteCounts }).update(26_421_880, 26_421_880);
    expect(s.text()).toBe('train-images-idx3-ubyte.gz: 26.4/26.4 MB\n');
  });
});

describe('createProgress: bar (a terminal)', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('draws one line in place, and its last state when it stops', () => {
    const s = fakeTerminal(true);
    const p = createProgress({ stream: s, title: 'verify' });
    expect(p.mode).toBe('bar');
    p.update(256, 1000);
    jest.advanceTimersByTime(DEFAULT_PROGRESS_THROTTLE_MS);
    expect(screen(s.text())[0]).toMatch(/^verify \[#{8}\.{22}\] 256\/1000 {2}/);
    p.update(1000, 1000);
    p.stop();
    const lines = screen(s.text());
    expect(lines).toHaveLength(2); // the bar's line, then the newline stop() ends it with
    expect(lines[0]).toMatch(/^verify \[#{30}\] 1000\/1000 {2}/);
    expect(lines[1]).toBe('');
    p.stop();
    expect(screen(s.text())).toHaveLength(2);
  });

  it('redraws at most once per throttleMs, with the latest counts', () => {
    const s = fakeTerminal(true);
    const p = createProgress({ stream: s, throttleMs: 100 });
    p.update(0, 10_000);
    jest.advanceTimersByTime(100);
    const before = s.writes();
    for (let i = 1; i <= 5000; i++) p.update(i, 10_000);
    expect(s.writes()).toBe(before); // nothing between two ticks
    jest.advanceTimersByTime(100);
    expect(screen(s.text())[0]).toMatch(/ 5000\/10000 /);
    const perRedraw = s.writes() - before;
    jest.advanceTimersByTime(1000);
    // Ten ticks in a second; a redraw writes only when the line changed (the elapsed time does).
    expect(s.writes() - before).toBeLessThanOrEqual(11 * perRedraw);
    p.stop();
  });

  it('after detail ticks, coarse updates no longer move the bar; clearOnStop removes it', () => {
    const s = fakeTerminal(true);
    const p = createProgress({ stream: s, clearOnStop: true });
    p.update(100, 200, { label: 'binary search step 1/2', detail: true });
    p.update(1, 2, { label: 'binary search step' });
    jest.advanceTimersByTime(100);
    expect(screen(s.text())[0]).toMatch(/\] 100\/200 /);
    expect(s.text()).not.toMatch(/\] 1\/2 /);
    p.stop();
    expect(screen(s.text()).join('')).toBe('');
  });

  it('log writes its line above the bar, which goes on below', () => {
    const s = fakeTerminal(true);
    const p = createProgress({ stream: s, title: 'epoch 1/2' });
    p.update(3, 10, { suffix: 'loss 0.5000' });
    jest.advanceTimersByTime(100);
    p.log('warning: slow');
    p.update(10, 10, { suffix: 'loss 0.2500' });
    p.stop();
    const lines = screen(s.text());
    expect(lines[0]).toBe('warning: slow');
    expect(lines[1]).toMatch(/^epoch 1\/2 \[#{30}\] 10\/10 {2}loss 0\.2500 {2}/);
  });
});

describe('createProgress: never stdout', () => {
  it('refuses stdout, and by default writes to stderr only', () => {
    expect(() => createProgress({ stream: process.stdout })).toThrow(InvalidArgumentError);
    expect(() => createProgress({ stream: process.stdout })).toThrow(/'stream' must not be stdout/);
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const p = createProgress({ mode: 'lines' });
      p.update(1, 1, { label: 'step' });
      p.log('warning: w');
      p.stop();
      expect(out).not.toHaveBeenCalled();
      expect(err.mock.calls.map((c) => c[0])).toEqual(['step: 1/1\n', 'warning: w\n']);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
