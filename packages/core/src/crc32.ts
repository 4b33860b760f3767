/** CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320): the checksum of zip entries and PNG chunks. */
import * as zlib from 'zlib';

type NativeCrc32 = (data: Uint8Array, value?: number) => number;
// zlib.crc32 exists from Node 20.15; older Node 20 uses the table.
const native = (zlib as unknown as { crc32?: NativeCrc32 }).crc32;

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `parts` concatenated, by the byte table (what `crc32` falls back to). */
export function crc32ByTable(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const b of parts) for (let i = 0; i < b.length; i++) c = (CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of `parts` concatenated: node's zlib.crc32 where present, else the table. */
export function crc32(...parts: Uint8Array[]): number {
  if (native === undefined) return crc32ByTable(...parts);
  let c = 0;
  for (const b of parts) c = native(b, c);
  return c >>> 0;
}
