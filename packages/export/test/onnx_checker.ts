import { spawnSync } from 'child_process';

const CANDIDATES = ['python3', '/usr/bin/python3'];
let cached: string | null | undefined;

/** A python3 that can `import onnx`, or null. pyenv shims may hide Debian's python3-onnx, so try /usr/bin too. */
export function pythonWithOnnx(): string | null {
  if (cached !== undefined) return cached;
  cached = null;
  for (const py of CANDIDATES) {
    const r = spawnSync(py, ['-c', 'import onnx'], { encoding: 'utf8' });
    if (r.status === 0) {
      cached = py;
      break;
    }
  }
  return cached;
}

/** Runs `onnx.checker.check_model(onnx.load(path), full_check=True)`; returns stderr on failure, '' on success. */
export function onnxFullCheck(python: string, file: string): string {
  const r = spawnSync(python, ['-c',
    'import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], { encoding: 'utf8' });
  return r.status === 0 ? '' : (r.stderr || `exit ${r.status}`);
}
