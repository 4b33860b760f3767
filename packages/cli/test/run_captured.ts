/** Test support: runs the `lip` program in-process and captures what it writes (the CLI tests' one copy). */
import { run } from '../src/program';

/** Runs `lip ...args`; returns the exit code and everything written to stdout (`out`) and stderr (`err`). */
export async function lip(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  try {
    const code = await run(['node', 'lip', ...args]);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
