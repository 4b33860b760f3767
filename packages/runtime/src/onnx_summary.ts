/**
 * Reads the few fields of an ONNX `ModelProto` the runtime needs (metadata,
 * the graph's inputs and outputs, the opset) straight from the protobuf wire
 * format, so that @lip/runtime carries no protobuf library into a browser
 * bundle. Everything else (initializers, nodes) is skipped by its length.
 *
 * Field numbers (onnx/onnx.proto3): ModelProto 7 graph, 8 opset_import,
 * 14 metadata_props; StringStringEntryProto 1 key, 2 value;
 * OperatorSetIdProto 1 domain, 2 version; GraphProto 5 initializer,
 * 11 input, 12 output; TensorProto 8 name; ValueInfoProto 1 name, 2 type;
 * TypeProto 1 tensor_type; TypeProto.Tensor 1 elem_type, 2 shape;
 * TensorShapeProto 1 dim; Dimension 1 dim_value, 2 dim_param.
 */
import { ModelError } from '@lip/core';

/** One graph input or output. */
export interface ValueSummary {
  name: string;
  /** ONNX TensorProto.DataType (1 = float32); 0 when not a tensor. */
  elemType: number;
  /** Dimensions (a number, or the name of a symbolic one); null when the file declares no shape. */
  shape: (number | string)[] | null;
}

export interface OnnxSummary {
  metadata: Record<string, string>;
  /** Graph inputs that are not initializers. */
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** Version of the default ('' or 'ai.onnx') operator set, or null. */
  opset: number | null;
}

/** ONNX TensorProto.DataType of float32. */
export const ONNX_FLOAT = 1;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** A protobuf message as a list of (field, wire type, value) over a byte range. */
class Reader {
  constructor(
    private readonly buf: Uint8Array,
    private pos: number,
    private readonly end: number,
    private readonly what: () => string,
  ) {}

  fail(why: string): never {
    throw new ModelError(`${this.what()} is not a valid ONNX file (${why}); re-export it or check the download`);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('a number runs past the end of its message');
      const byte = this.buf[this.pos++];
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    return this.fail('a number is longer than 10 bytes');
  }

  /** The next field: its number, wire type, and for length-delimited fields a sub-range. */
  next(): { field: number; wire: number; start: number; end: number; value: number } {
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) this.fail('a field has number 0');
    switch (wire) {
      case WIRE_VARINT:
        return { field, wire, start: 0, end: 0, value: this.varint() };
      case WIRE_FIXED64:
        return { field, wire, ...this.skip(8), value: 0 };
      case WIRE_FIXED32:
        return { field, wire, ...this.skip(4), value: 0 };
      case WIRE_BYTES:
        return { field, wire, ...this.skip(this.varint()), value: 0 };
      default:
        return this.fail(`wire type ${wire} is not used by ONNX`);
    }
  }

  sub(start: number, end: number): Reader {
    return new Reader(this.buf, start, end, this.what);
  }

  text(start: number, end: number): string {
    return decoder.decode(this.buf.subarray(start, end));
  }

  private skip(n: number): { start: number; end: number } {
    if (n > this.end - this.pos) this.fail('a field runs past the end of its message');
    const start = this.pos;
    this.pos += n;
    return { start, end: this.pos };
  }
}

const decoder = new TextDecoder('utf-8');

/** Each (field, sub-range) of the length-delimited fields in `fields`, in file order; other fields are skipped. */
function* messages(r: Reader, fields: readonly number[]): Generator<{ field: number; reader: Reader; start: number; end: number }> {
  while (!r.done()) {
    const f = r.next();
    if (!fields.includes(f.field)) continue;
    if (f.wire !== WIRE_BYTES) r.fail(`field ${f.field} has wire type ${f.wire}, expected a length-delimited one`);
    yield { field: f.field, reader: r.sub(f.start, f.end), start: f.start, end: f.end };
  }
}

/** The varint fields and the strings of a small message, by field number (last one wins, as protobuf says). */
function scalars(r: Reader): { ints: Map<number, number>; strings: Map<number, string> } {
  const ints = new Map<number, number>();
  const strings = new Map<number, string>();
  while (!r.done()) {
    const f = r.next();
    if (f.wire === WIRE_VARINT) ints.set(f.field, f.value);
    else if (f.wire === WIRE_BYTES) strings.set(f.field, r.text(f.start, f.end));
  }
  return { ints, strings };
}

function valueInfo(r: Reader): ValueSummary {
  let name = '';
  let elemType = 0;
  let shape: (number | string)[] | null = null;
  for (const m of messages(r, [1, 2])) {
    if (m.field === 1) {
      name = m.reader.text(m.start, m.end);
      continue;
    }
    for (const t of messages(m.reader, [1])) {
      // TypeProto.tensor_type
      const tensor = t.reader;
      while (!tensor.done()) {
        const f = tensor.next();
        if (f.field === 1 && f.wire === WIRE_VARINT) elemType = f.value;
        if (f.field !== 2 || f.wire !== WIRE_BYTES) continue;
        shape = [];
        for (const d of messages(tensor.sub(f.start, f.end), [1])) {
          const { ints, strings } = scalars(d.reader);
          shape.push(ints.get(1) ?? strings.get(2) ?? '?');
        }
      }
    }
  }
  return { name, elemType, shape };
}

/**
 * Metadata, inputs, outputs and opset of the ONNX model in `bytes`. Throws a
 * ModelError naming `source` when the bytes are not a readable ModelProto.
 */
export function readOnnxSummary(bytes: Uint8Array, source: string): OnnxSummary {
  const what = (): string => `'${source}'`;
  const model = new Reader(bytes, 0, bytes.length, what);
  const metadata: Record<string, string> = {};
  let opset: number | null = null;
  let graph: Reader | null = null;
  for (const m of messages(model, [7, 8, 14])) {
    if (m.field === 7) {
      graph = m.reader;
    } else if (m.field === 8) {
      const { ints, strings } = scalars(m.reader);
      const domain = strings.get(1) ?? '';
      if ((domain === '' || domain === 'ai.onnx') && ints.has(2)) opset = ints.get(2)!;
    } else {
      const { strings } = scalars(m.reader);
      const key = strings.get(1);
      if (key !== undefined) metadata[key] = strings.get(2) ?? '';
    }
  }
  if (!graph) throw new ModelError(`${what()} holds no ONNX graph; pass the .onnx file lip export wrote`);
  const initializers = new Set<string>();
  const inputs: ValueSummary[] = [];
  const outputs: ValueSummary[] = [];
  for (const m of messages(graph, [5, 11, 12])) {
    if (m.field === 5) {
      for (const n of messages(m.reader, [8])) initializers.add(n.reader.text(n.start, n.end));
    } else {
      (m.field === 11 ? inputs : outputs).push(valueInfo(m.reader));
    }
  }
  return { metadata, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs, opset };
}
