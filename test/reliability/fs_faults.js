// Preloaded into a `lip` child (NODE_OPTIONS=--require) to make the file
// system under one folder fail like a full or a read-only disk: the tests run
// as root, and chmod does not stop root's writes.
//   LIP_FAULT_DIR  the folder;
//   LIP_FAULT      ENOSPC: a write there stores its first 16 bytes, the next
//                  write fails (as a disk filling up mid-file);
//                  EROFS: opening a file for writing or creating a folder there fails.
const fs = require('fs');
const path = require('path');

const dir = process.env.LIP_FAULT_DIR ? path.resolve(process.env.LIP_FAULT_DIR) : null;
const code = process.env.LIP_FAULT;

if (dir !== null && (code === 'ENOSPC' || code === 'EROFS')) {
  const inside = (p) => typeof p === 'string' && path.resolve(p).startsWith(dir + path.sep);
  const fault = (syscall, p) => Object.assign(new Error(`${code}: simulated, ${syscall} '${p}'`), { code, syscall, path: p });
  const forWriting = (flags) =>
    typeof flags === 'string' ? /[wa+]/.test(flags) : typeof flags === 'number' && (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0;
  const { openSync, writeSync, closeSync, mkdirSync } = fs;
  const written = new Map(); // fd -> bytes written so far, for files opened under `dir`

  fs.openSync = function (p, flags, ...rest) {
    if (!inside(p) || !forWriting(flags)) return openSync.call(this, p, flags, ...rest);
    if (code === 'EROFS') throw fault('open', p);
    const fd = openSync.call(this, p, flags, ...rest);
    written.set(fd, 0);
    return fd;
  };
  fs.writeSync = function (fd, buffer, ...rest) {
    if (!written.has(fd)) return writeSync.call(this, fd, buffer, ...rest);
    if (written.get(fd) > 0) throw fault('write', `fd ${fd}`);
    const [offset = 0, length = buffer.length - offset] = rest;
    const n = writeSync.call(this, fd, buffer, offset, Math.min(length, 16));
    written.set(fd, n);
    return n;
  };
  fs.closeSync = function (fd) {
    written.delete(fd);
    return closeSync.call(this, fd);
  };
  fs.mkdirSync = function (p, ...rest) {
    if (code === 'EROFS' && inside(p) && !fs.existsSync(p)) throw fault('mkdir', p);
    return mkdirSync.call(this, p, ...rest);
  };
}
