/**
 * Parsers of numeric command-line values shared by the commands: each returns
 * undefined when the flag is absent and throws one InvalidArgumentError
 * naming the flag otherwise.
 */
import { InvalidArgumentError } from '@lip/core';

const INTEGER = /^\s*\d+\s*$/;

export function positiveInt(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!INTEGER.test(raw) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`'${flag}' must be a positive integer, got '${raw}'`);
  }
  return n;
}

export function nonNegativeInt(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!INTEGER.test(raw) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`'${flag}' must be an integer >= 0, got '${raw}'`);
  return n;
}

/** A finite number above `min` (or at least `min` when `minIncluded`). */
export function finiteNumber(flag: string, raw: string | undefined, min: number, minIncluded: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || n < min || (!minIncluded && n === min)) {
    throw new InvalidArgumentError(`'${flag}' must be a finite number ${minIncluded ? '>=' : '>'} ${min}, got '${raw}'`);
  }
  return n;
}

export function positiveNumber(flag: string, raw: string | undefined): number | undefined {
  return finiteNumber(flag, raw, 0, false);
}

/** `--seed`: an integer in [0, 2^32 - 1]. */
export function seedFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!INTEGER.test(raw) || n > 0xffffffff) {
    throw new InvalidArgumentError(`'--seed' must be an integer in [0, 4294967295], got '${raw}'`);
  }
  return n;
}

/**
 * Runs `run` with a signal that the first Ctrl-C aborts (the caller stops at
 * a safe point, e.g. after the current training step); a second Ctrl-C gets
 * the default SIGINT death.
 */
export async function withSigintAbort<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onSigint = (): void => {
    if (abort.signal.aborted) {
      process.off('SIGINT', onSigint);
      process.kill(process.pid, 'SIGINT');
      return;
    }
    abort.abort();
    process.stderr.write('\ninterrupted: stopping after this step (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSigint);
  try {
    return await run(abort.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** A number or a fraction such as `1/255`. */
const NUMBER_OR_FRACTION = /^\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?\d+)?)(?:\s*\/\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?))?\s*$/i;

function numberOrFraction(raw: string): number {
  const m = NUMBER_OR_FRACTION.exec(raw);
  return m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
}

/** `--scale`-style value: a finite number > 0, or a fraction such as 1/255. */
export function positiveFraction(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = numberOrFraction(raw);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`'${flag}' must be a finite number > 0 or a fraction such as 1/255, got '${raw}'`);
  return n;
}

/** `--mean`/`--std`-style list: comma-separated finite numbers or fractions (each > 0 when `positive`). */
export function numberListFlag(flag: string, raw: string | undefined, positive: boolean): number[] | undefined {
  if (raw === undefined) return undefined;
  const values = raw.split(',').map(numberOrFraction);
  if (!values.every((v) => Number.isFinite(v) && (!positive || v > 0))) {
    throw new InvalidArgumentError(
      `'${flag}' must be comma-separated finite numbers${positive ? ' > 0' : ''}, one per channel ` + `(e.g. 0.485,0.456,0.406), got '${raw}'`,
    );
  }
  return values;
}

/** `--input-shape`-style dims: comma-separated positive integers (e.g. 1,28,28). */
export function dimsFlag(flag: string, raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((p) => p.trim());
  const dims = parts.map(Number);
  if (!parts.every((p) => /^\d+$/.test(p)) || !dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new InvalidArgumentError(`'${flag}' must be comma-separated positive integers such as 1,28,28 or 28,28,1, got '${raw}'`);
  }
  return dims;
}
