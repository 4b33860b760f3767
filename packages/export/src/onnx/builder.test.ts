import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { onnxFullCheck, pythonWithOnnx } from '@lip/test-support/onnx';
import { GraphBuilder, attr } from './builder';

function tinyGemm(): GraphBuilder {
  const b = new GraphBuilder({ opset: 17, producer: 'test' });
  b.input('input', 'float32', ['N', 3]);
  const w = b.initializer(b.fresh('W'), Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
  const c = b.initializer(b.fresh('b'), Float32Array.from([0.5, -0.5]), [2]);
  const [y] = b.node('Gemm', ['input', w, c], { alpha: attr.float(1), transB: 0 });
  const shape = b.initializer(b.fresh('shape'), [-1, 2], [2]);
  const [r] = b.node('Reshape', [y, shape]);
  b.node('LeakyRelu', [r], { alpha: 0.25 }, { outputs: ['logits'] });
  b.output('logits', ['N', 2]);
  b.setMetadata('k', 'v1');
  b.setMetadata('k', 'v2');
  return b;
}

describe('GraphBuilder', () => {
  it('builds a model that onnxruntime runs', async () => {
    const bytes = tinyGemm().toBytes();
    const session = await ort.InferenceSession.create(bytes);
    const x = Float32Array.from([1, 0, -1, 2, 1, 0]);
    const out = await session.run({ input: new ort.Tensor('float32', x, [2, 3]) });
    const got = Array.from(out.logits.data as Float32Array);
    // rows: [1,0,-1]·W + b = [1-5, 2-6] + b = [-3.5, -4.5] -> leaky; [2,1,0]·W + b = [5.5, 7.5]
    expect(got).toEqual([-3.5 * 0.25, -4.5 * 0.25, 5.5, 7.5]);
  });

  it('writes types, opset, IR version and metadata', () => {
    const m = onnx.ModelProto.decode(tinyGemm().toBytes());
    expect(Number(m.opsetImport[0].version)).toBe(17);
    expect(Number(m.irVersion)).toBe(8);
    expect(m.producerName).toBe('test');
    expect(m.metadataProps.map((p) => [p.key, p.value])).toEqual([['k', 'v2']]);
    const gemm = m.graph!.node.find((n) => n.opType === 'Gemm')!;
    const alpha = gemm.attribute.find((a) => a.name === 'alpha')!;
    expect(alpha.type).toBe(onnx.AttributeProto.AttributeType.FLOAT);
    expect(m.graph!.input[0].type!.tensorType!.shape!.dim![0].dimParam).toBe('N');
    expect(m.graph!.initializer.find((t) => t.name === 'shape')!.dataType).toBe(onnx.TensorProto.DataType.INT64);
  });

  it('passes the ONNX checker (full_check)', () => {
    const py = pythonWithOnnx();
    if (!py) {
      console.warn('skipped: python3 with the onnx module (Debian python3-onnx) is not installed');
      return;
    }
    expect(onnxFullCheck(py, tinyGemm().toBytes())).toBe('');
  });

  it('hands out fresh names that never collide', () => {
    const b = new GraphBuilder({ opset: 13 });
    b.input('x', 'float32', [1]);
    const names = new Set(['x']);
    for (let i = 0; i < 5; i++) {
      const n = b.fresh('x');
      expect(names.has(n)).toBe(false);
      names.add(n);
      b.initializer(n, Float32Array.from([i]), [1]);
    }
  });

  it('refuses duplicate names, undefined inputs and bad data sizes', () => {
    const b = new GraphBuilder({ opset: 13 });
    b.input('x', 'float32', [2]);
    expect(() => b.input('x', 'float32', [2])).toThrow(/'x' is already used/);
    expect(() => b.node('Relu', ['y'])).toThrow(/input 'y' is not defined yet/);
    expect(() => b.initializer('w', new Float32Array(3), [2, 2])).toThrow(/3 values do not fill dims \[2, 2\]/);
    expect(() => b.output('nope', [2])).toThrow(/'nope' is not produced/);
    expect(() => new GraphBuilder({ opset: 3 })).toThrow(/'opset' must be an integer >= 7/);
    expect(() => b.node('Relu', ['x'], {}, { outputs: 2 })).not.toThrow();
  });

  it('returns output names the caller may mutate without rewiring the node', () => {
    const b = new GraphBuilder({ opset: 13 });
    b.input('x', 'float32', [2]);
    const outs = b.node('Split', ['x'], { axis: 0 }, { outputs: 2 });
    const names = [...outs];
    outs[0] = 'changed';
    b.output(names[0], [1]);
    expect(b.toModelProto().graph!.node[0].output).toEqual(names);
  });
});
