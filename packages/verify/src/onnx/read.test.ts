import * as fs from 'fs';
import { onnx } from 'onnx-proto';
import { GraphBuilder, attr } from '@lip/export';
import { ModelError } from '@lip/train';
import { tmpDirPerSuite } from '@lip/test-support';
import { readOnnxModel, constantTensor, SUPPORTED_OPS, MAX_TENSOR_ELEMENTS } from './read';

function denseModel(): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  b.input('input', 'float32', ['N', 1, 2, 2]);
  const shape = b.initializer('shape', [-1, 4], [2]);
  const [flat] = b.node('Reshape', ['input', shape]);
  const w = b.initializer('W', Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [4, 2]);
  const bias = b.initializer('B', Float32Array.from([0.5, -0.5]), [2]);
  const [y] = b.node('Gemm', [flat, w, bias], { alpha: 1.0 });
  b.node('Identity', [y], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 2]);
  b.setMetadata('lipschitz_constant', '1');
  b.setMetadata('input_range', '[0, 1]');
  return b.toBytes();
}

/** An int64 protobuf field value ({ low, high } is what protobufjs encodes exactly). */
function int64(v: bigint): number {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false } as unknown as number;
}

function expectModelError(f: () => unknown, pattern: RegExp, name = 'ModelError'): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ModelError);
  expect((caught as Error).name).toBe(name);
  expect((caught as Error).message).toMatch(pattern);
}

describe('readOnnxModel', () => {
  const tmp = tmpDirPerSuite('read');

  it('decodes nodes, shapes, initializers, attributes, opset and metadata', () => {
    const file = tmp.path('dense.onnx');
    fs.writeFileSync(file, denseModel());
    const m = readOnnxModel(file);
    expect(m.source).toBe(file);
    expect(m.opset).toBe(17);
    expect(m.nodes.map((n) => n.opType)).toEqual(['Reshape', 'Gemm', 'Identity']);
    expect(m.inputs).toEqual([{ name: 'input', elemType: 'float32', shape: ['N', 1, 2, 2] }]);
    expect(m.outputs[0].shape).toEqual(['N', 2]);
    const w = m.initializers.get('W')!;
    expect(w.dims).toEqual([4, 2]);
    expect(w.data).toBeInstanceOf(Float32Array);
    expect(Array.from(w.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const s = m.initializers.get('shape')!;
    expect(s.dataType).toBe('int64');
    expect(s.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(s.data)).toEqual([-1n, 4n]);
    expect(m.nodes[1].attributes.alpha).toBe(1);
    expect(m.metadata).toEqual({ lipschitz_constant: '1', input_range: '[0, 1]' });
    expect(constantTensor(m, 'B')!.data[0]).toBeCloseTo(0.5);
  });

  it('decodes float_data and int64_data tensors and Constant nodes', () => {
    const proto = onnx.ModelProto.decode(denseModel());
    const g = proto.graph!;
    g.initializer = g.initializer!.map((t) => {
      if (t.name === 'W') return onnx.TensorProto.create({ name: 'W', dims: [4, 2], dataType: 1, floatData: [8, 7, 6, 5, 4, 3, 2, 1] });
      if (t.name === 'shape') return onnx.TensorProto.create({ name: 'shape', dims: [2], dataType: 7, int64Data: [-1, 4] });
      return t;
    });
    const m = readOnnxModel(onnx.ModelProto.encode(proto).finish());
    expect(Array.from(m.initializers.get('W')!.data)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(Array.from(m.initializers.get('shape')!.data)).toEqual([-1n, 4n]);
    expect(m.source).toBe('<bytes>');
  });

  it('keeps int64 values exact (raw data, int64_data and Constant value_int(s)), beyond int32 and 2^53', () => {
    const big = [2n ** 31n + 5n, -(2n ** 62n) - 3n, 2n ** 63n - 1n, -(2n ** 63n)];
    const b = new GraphBuilder({ opset: 17 });
    b.input('input', 'float32', ['N', 4]);
    b.initializer('raw', BigInt64Array.from(big), [4]);
    b.node('Constant', [], { value_ints: attr.ints([2 ** 31 + 5, -(2 ** 40)]) }, { outputs: ['ints'] });
    b.node('Constant', [], { value_int: attr.int(2 ** 33) }, { outputs: ['one'] });
    b.node('Identity', ['input'], {}, { outputs: ['y'] });
    b.output('y', ['N', 4]);
    const proto = onnx.ModelProto.decode(b.toBytes());
    // The same values as int64_data (protobuf Longs) instead of raw bytes.
    proto.graph!.initializer!.push(
      onnx.TensorProto.create({
        name: 'listed',
        dims: [4],
        dataType: 7,
        int64Data: big.map(int64),
      }),
    );
    proto.graph!.node![0].attribute![0].ints = [int64(-(2n ** 62n) - 3n), int64(2n ** 63n - 1n)];
    // Unfolded: folding would drop these unused constants.
    const m = readOnnxModel(onnx.ModelProto.encode(proto).finish(), { fold: false });
    expect(Array.from(m.initializers.get('raw')!.data)).toEqual(big);
    expect(Array.from(m.initializers.get('listed')!.data)).toEqual(big);
    const ints = constantTensor(m, 'ints')!;
    expect(ints.dataType).toBe('int64');
    expect(ints.dims).toEqual([2]);
    expect(Array.from(ints.data)).toEqual([-(2n ** 62n) - 3n, 2n ** 63n - 1n]);
    const one = constantTensor(m, 'one')!;
    expect(one.dims).toEqual([]);
    expect(Array.from(one.data)).toEqual([2n ** 33n]);
  });

  it('refuses a missing path and a folder', () => {
    expectModelError(() => readOnnxModel(tmp.path('nope.onnx')), /nope\.onnx' does not exist/);
    expectModelError(() => readOnnxModel(tmp.dir), /is not a file/);
  });

  it('refuses truncated files, naming the file', () => {
    const bytes = denseModel();
    const file = tmp.path('trunc.onnx');
    // Every cut either fails to decode or fails validation; none is accepted silently.
    for (const cut of [bytes.length - 1, bytes.length - 7, Math.floor(bytes.length / 2), 10, 1]) {
      fs.writeFileSync(file, bytes.subarray(0, cut));
      expectModelError(() => readOnnxModel(file), /trunc\.onnx/);
    }
  });

  it('refuses random bytes and empty files', () => {
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 50; trial++) {
      const bytes = Uint8Array.from({ length: 64 + trial * 13 }, () => Math.floor(rand() * 256));
      expectModelError(() => readOnnxModel(bytes), /ONNX model/);
    }
    expectModelError(() => readOnnxModel(new Uint8Array(0)), /empty/);
    const file = tmp.path('text.onnx');
    fs.writeFileSync(file, 'this is not a model\n');
    expectModelError(() => readOnnxModel(file), /text\.onnx/);
  });

  it('refuses a node input that nothing provides (missing initializer)', () => {
    const proto = onnx.ModelProto.decode(denseModel());
    proto.graph!.initializer = proto.graph!.initializer!.filter((t) => t.name !== 'W');
    expectModelError(() => readOnnxModel(onnx.ModelProto.encode(proto).finish()), /'W'.*missing initializer/);
  });

  it('refuses raw data that does not fill the dims', () => {
    const proto = onnx.ModelProto.decode(denseModel());
    const w = proto.graph!.initializer!.find((t) => t.name === 'W')!;
    w.rawData = w.rawData!.subarray(0, 28);
    expectModelError(() => readOnnxModel(onnx.ModelProto.encode(proto).finish()), /'W'.*28 bytes.*need 32/);
  });

  it('refuses huge declared dims without allocating', () => {
    const proto = onnx.ModelProto.decode(denseModel());
    const w = proto.graph!.initializer!.find((t) => t.name === 'W')!;
    w.dims = [100000, 100000];
    w.rawData = new Uint8Array(0);
    expectModelError(
      () => readOnnxModel(onnx.ModelProto.encode(proto).finish()),
      new RegExp(`above the limit of ${MAX_TENSOR_ELEMENTS}`),
      'ModelTooLargeError',
    );
    const p2 = onnx.ModelProto.decode(denseModel());
    p2.graph!.input![0].type!.tensorType!.shape!.dim![2] = { dimValue: 1e12 };
    expectModelError(() => readOnnxModel(onnx.ModelProto.encode(p2).finish()), /dimension 1000000000000/, 'ModelTooLargeError');
  });

  it('refuses unsupported operators and lists the supported set', () => {
    const proto = onnx.ModelProto.decode(denseModel());
    proto.graph!.node![2].opType = 'LSTM';
    expectModelError(() => readOnnxModel(onnx.ModelProto.encode(proto).finish()), /unsupported operator 'LSTM'.*supported operators: .*Gemm/);
    expect(SUPPORTED_OPS).toContain('Conv');
  });

  it('refuses a model without a graph', () => {
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }] })).finish();
    expectModelError(() => readOnnxModel(bytes), /has no graph/);
  });
});
