// Minimal typings for the part of pngjs the report uses (no @types package is installed).
declare module 'pngjs' {
  export class PNG {
    constructor(opts: { width: number; height: number; filterType?: number; deflateLevel?: number });
    width: number;
    height: number;
    data: Buffer;
    static sync: {
      write(png: PNG): Buffer;
      read(buffer: Buffer | Uint8Array): PNG;
    };
  }
}
