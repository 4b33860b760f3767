import type { ProgressStream } from '@lip/core';

/** A stand-in for stderr that keeps what is written: a terminal when `isTTY`, else a pipe. */
export interface FakeTerminal extends ProgressStream {
  /** Everything written so far. */
  text(): string;
  /** How many writes there were. */
  writes(): number;
}

/** A 200-column stderr stand-in, wide enough that no progress line is cut. */
export function fakeTerminal(isTTY: boolean): FakeTerminal {
  let text = '';
  let writes = 0;
  return {
    isTTY,
    columns: 200,
    write: (chunk: string) => {
      text += chunk;
      writes++;
      return true;
    },
    text: () => text,
    writes: () => writes,
  };
}
