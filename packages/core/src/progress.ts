/**
 * The one progress display of lip's commands: counted work (images, steps,
 * epochs, bytes) shown on stderr, never on stdout (which carries results,
 * e.g. `--json -`). Three modes, `progressMode` picks one:
 * - 'bar': a terminal (a TTY stderr, $CI unset, not --json): one line redrawn
 *   in place by cli-progress every `throttleMs` (its MultiBar, whose `log`
 *   prints lines above the bar); its last state is drawn when it stops;
 * - 'lines': a log (not a terminal, under CI, or --json): plain lines
 *   `<title> <label>: <counts>`, only at milestones (`lines`), so a log stays
 *   short;
 * - 'off': nothing (quiet).
 * Node only (process.stderr, cli-progress): not part of portable.ts.
 */
import type { GenericBar, MultiBar } from 'cli-progress';
import { assertArg } from './errors';

// Loaded at the first bar: runs without a terminal draw none, and loading it costs start-up time.
const cliProgress = (): typeof import('cli-progress') => require('cli-progress');

export type ProgressMode = 'bar' | 'lines' | 'off';

/** Which updates a log gets as lines: none, the completions (done = total), or also each new tenth of the work. */
export type ProgressLines = 'none' | 'completion' | 'tenths';

/** Where progress goes: stderr, or anything with its `write` (and `isTTY`, `columns` when a terminal). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Where to draw. Default process.stderr; process.stdout is refused. */
  stream?: ProgressStream;
  /** Default `progressMode(stream)`. */
  mode?: ProgressMode;
  /** Text before every line and bar, e.g. 'verify' or 'epoch 2/10'. Default none. */
  title?: string;
  /** How `done` of `total` reads. Default `${done}/${total}`; `byteCounts` for downloads. */
  counts?: (done: number, total: number) => string;
  /** Which updates print a line in 'lines' mode. Default 'completion'. */
  lines?: ProgressLines;
  /** Least time between two redraws of the bar, ms. Default DEFAULT_PROGRESS_THROTTLE_MS. */
  throttleMs?: number;
  /** Remove the bar when it stops (the caller prints its own summary line). Default false: the last state stays. */
  clearOnStop?: boolean;
}

/** What one update says besides the counts. */
export interface ProgressInfo {
  /** The unit being counted now, after the title (e.g. 'binary search step 1/6'). */
  label?: string;
  /** Text after the counts on the bar (live metrics); never in lines. */
  suffix?: string;
  /**
   * A fine tick within a unit (cw's Adam steps): it moves the bar, never prints
   * a line; once detail ticks come, the coarser updates no longer move the bar,
   * which would jump back.
   */
  detail?: boolean;
  /** Print this update as a line in 'lines' mode even between milestones. */
  milestone?: boolean;
}

export interface Progress {
  readonly mode: ProgressMode;
  /** `done` of `total` units. */
  update(done: number, total: number, info?: ProgressInfo): void;
  /** Writes `line` (a warning, an epoch summary) in every mode, without tearing the bar: the line takes its place, the bar comes back below. */
  log(line: string): void;
  /** Ends the bar (its last state stays, unless `clearOnStop`). Safe to call twice. */
  stop(): void;
}

/** Default least time between two redraws of a bar (10 per second). */
export const DEFAULT_PROGRESS_THROTTLE_MS = 100;
const BAR_WIDTH = 30;

/** True when $CI says a CI system runs us (any value but '', '0', 'false'). */
function underCi(env: Readonly<Record<string, string | undefined>>): boolean {
  const ci = env.CI;
  return ci !== undefined && !['', '0', 'false'].includes(ci.toLowerCase());
}

/** 'off' when quiet; 'bar' on a terminal (TTY, not under CI, not --json); else 'lines'. */
export function progressMode(
  stream: ProgressStream = process.stderr,
  opts: { quiet?: boolean; json?: boolean; env?: Readonly<Record<string, string | undefined>> } = {},
): ProgressMode {
  if (opts.quiet) return 'off';
  return stream.isTTY && !opts.json && !underCi(opts.env ?? process.env) ? 'bar' : 'lines';
}

/** `12.3/30.1 MB`: byte counts in decimal units. */
export function byteCounts(done: number, total: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let k = 0;
  while (k < units.length - 1 && Math.max(done, total) >= 1000 ** (k + 1)) k++;
  const fmt = (n: number): string => (k === 0 ? String(n) : (n / 1000 ** k).toFixed(1));
  return `${fmt(done)}/${fmt(total)} ${units[k]}`;
}

/** A progress display of counted work (see the module doc for its modes). */
export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  assertArg(stream !== process.stdout, () => "'stream' must not be stdout: progress goes to stderr, stdout carries the results");
  const mode = opts.mode ?? progressMode(stream);
  assertArg(['bar', 'lines', 'off'].includes(mode), () => `'mode' must be 'bar', 'lines' or 'off', got '${String(mode)}'`);
  const throttleMs = opts.throttleMs ?? DEFAULT_PROGRESS_THROTTLE_MS;
  assertArg(throttleMs > 0, () => `'throttleMs' must be positive, got ${throttleMs}`);
  const counts = opts.counts ?? ((done: number, total: number): string => `${done}/${total}`);
  const lines = opts.lines ?? 'completion';
  let multi: MultiBar | null = null;
  let bar: GenericBar | null = null;
  let sawDetail = false;
  let lastTenth = -1;

  const heading = (label: string | undefined): string => [opts.title, label].filter((s) => s).join(' ');

  const printLine = (done: number, total: number, info: ProgressInfo): void => {
    if (info.detail || lines === 'none') return;
    const tenth = Math.floor((10 * done) / Math.max(total, 1));
    const due = done >= total || info.milestone === true || (lines === 'tenths' && tenth !== lastTenth);
    lastTenth = tenth;
    if (!due) return;
    const head = heading(info.label);
    stream.write(`${head ? `${head}: ` : ''}${counts(done, total)}\n`);
  };

  const drawBar = (done: number, total: number, info: ProgressInfo): void => {
    // Once detail ticks come, they draw the bar; the coarser updates would make it jump back.
    if (info.detail) sawDetail = true;
    else if (sawDetail) return;
    const head = heading(info.label);
    const payload = { head: head ? `${head} ` : '', counts: counts(done, total), suffix: info.suffix ? `  ${info.suffix}` : '' };
    if (multi === null || bar === null) {
      multi = new (cliProgress().MultiBar)({
        stream: stream as NodeJS.WritableStream,
        format: '{head}[{bar}] {counts}{suffix}  {duration_formatted} eta {eta_formatted}',
        barsize: BAR_WIDTH,
        barCompleteChar: '#',
        barIncompleteChar: '.',
        fps: 1000 / throttleMs,
        clearOnComplete: opts.clearOnStop ?? false,
        etaBuffer: 20,
      });
      bar = multi.create(Math.max(total, 1), done, payload);
      return;
    }
    if (bar.getTotal() !== Math.max(total, 1)) bar.setTotal(Math.max(total, 1));
    bar.update(done, payload);
  };

  return {
    mode,
    update(done, total, info = {}) {
      if (mode === 'lines') printLine(done, total, info);
      else if (mode === 'bar') drawBar(done, total, info);
    },
    log(line) {
      if (multi === null) {
        stream.write(`${line}\n`);
        return;
      }
      multi.log(`${line}\n`);
      multi.update(); // now, not at the next tick: a stop() right after would drop it
    },
    stop() {
      multi?.stop();
      multi = null;
      bar = null;
      sawDetail = false;
    },
  };
}
