/** The repository's folders and files, and looking at what a run left on disk. */
import * as fs from 'fs';
import * as path from 'path';

/** The repository's root folder. */
export const ROOT = path.resolve(__dirname, '../..');

/** Models exported by other tools (torch.onnx, tf2onnx, ...) and their expected outputs. */
export const AUDIT_FIXTURES = path.join(ROOT, 'test', 'fixtures', 'audit');

/** The model the repository ships. */
export const SHIPPED_MODEL = path.join(ROOT, 'models', 'fashion-mnist-ortho.onnx');

/** Every file under `dir`, relative, sorted (links not followed); [] when `dir` is absent. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

/** The temp files writeFileAtomic leaves under `dir` (`.<name>.<pid>.<n>.tmp`), relative. */
export function atomicTemps(dir: string): string[] {
  return listFiles(dir).filter((f) => f.endsWith('.tmp'));
}

/** Files under `dir` this process holds open (Linux /proc/self/fd; empty elsewhere). */
export function openFilesUnder(dir: string): string[] {
  let fds: string[];
  try {
    fds = fs.readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const real = fs.realpathSync(dir);
  const open: string[] = [];
  for (const fd of fds) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target === real || target.startsWith(real + path.sep)) open.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return open;
}
