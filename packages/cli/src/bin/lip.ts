#!/usr/bin/env node
import { run } from '../program';

/** Exit code when the reader of stdout went away (`lip export ckpt -o - | head -c 100`), as a SIGPIPE death (128 + 13). */
const EXIT_BROKEN_PIPE = 141;

process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? EXIT_BROKEN_PIPE : 1));

/** Exits once stdout has taken everything written (`--json -`, `-o -`): process.exit drops what is still queued. */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

run(process.argv).then(exitWhenFlushed, () => process.exit(1));
