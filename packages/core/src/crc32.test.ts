import { crc32, crc32ByTable } from './crc32';

describe('crc32', () => {
  const text = Buffer.from('123456789', 'latin1');

  it.each([
    ['crc32', crc32],
    ['crc32ByTable', crc32ByTable],
  ])('%s gives the standard check value 0xcbf43926 for "123456789"', (_, f) => {
    expect(f(text)).toBe(0xcbf43926);
    expect(f(new Uint8Array(0))).toBe(0);
  });

  it.each([
    ['crc32', crc32],
    ['crc32ByTable', crc32ByTable],
  ])('%s of parts equals the CRC of their concatenation', (_, f) => {
    const bytes = Uint8Array.from({ length: 300 }, (__, i) => (i * 37 + 11) & 0xff);
    expect(f(bytes.subarray(0, 7), bytes.subarray(7, 7), bytes.subarray(7))).toBe(f(bytes));
    expect(f(bytes)).toBe(crc32ByTable(bytes));
  });
});
