/**
 * Corrupt and hostile ONNX files through `lip verify`, `lip bound` and
 * `lip attack`: each gives exit code 2, one `error:` line, no stack trace,
 * no onnxruntime log line, and leaves no output or temp file behind.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { GraphBuilder } from '@lip/export';
import { listFiles, seededBytes } from '@lip/test-support';
import { cliFixturesPerSuite, expectCleanFailure, outDir, outputFlags, QUICK_ATTACK, runLip } from '@lip/test-support/cli';
import { gemmModel } from '@lip/test-support/onnx';

const fx = cliFixturesPerSuite('cli-models');

function edited(f: (m: onnx.ModelProto) => void, bytes = gemmModel()): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  f(m);
  return onnx.ModelProto.encode(m).finish();
}

/** Flatten -> `mid` -> Gemm on 28 x 28 inputs, for intermediate ops the reader accepts. */
function withMiddle(mid: (b: GraphBuilder, x: string) => string, classesIn = 784): Uint8Array {
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('input', 'float32', ['N', 1, 28, 28]);
  const y = mid(b, x);
  const [flat] = b.node('Flatten', [y], { axis: 1 });
  b.node('Gemm', [flat, b.initializer('W', new Float32Array(classesIn * 10).fill(1e-3), [classesIn, 10])], {}, { outputs: ['logits'] });
  b.output('logits', ['N', 10]);
  b.setMetadata('lipschitz_constant', '1');
  b.setMetadata('input_range', '[0, 1]');
  return b.toBytes();
}

/** Hostile models: [name, bytes (or a path maker), expected error]. */
const MODEL_CASES: [string, () => Uint8Array | { path: string }, RegExp][] = [
  ['a truncated file', () => gemmModel().subarray(0, 5000), /is not a valid ONNX model \(truncated or corrupt: index out of range/],
  ['random bytes', () => seededBytes(4096, 7), /is not a valid ONNX model \(truncated or corrupt/],
  ['an empty file', () => new Uint8Array(0), /is empty; it is not an ONNX model/],
  ['a protobuf with no graph', () => onnx.ModelProto.encode({ irVersion: 8, producerName: 'x' }).finish(), /has no graph \(or an empty one\)/],
  [
    'an operator outside the supported set (Einsum)',
    () => gemmModel({ op: 'Einsum' }),
    /node 'Einsum' uses unsupported operator 'Einsum'; supported operators: Abs, Add/,
  ],
  [
    'an operator of another domain (com.microsoft.FusedGemm)',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).node[1].domain = 'com.microsoft';
        (m.graph as onnx.GraphProto).node[1].opType = 'FusedGemm';
      }),
    /uses unsupported operator 'com\.microsoft\.FusedGemm'/,
  ],
  [
    'a huge declared input dimension',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).input[0].type!.tensorType!.shape!.dim![2] = { dimValue: 1e12 };
      }),
    /value 'input' declares dimension 1000000000000, outside \[0, 268435456\]/,
  ],
  [
    'a huge declared output shape',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).output[0].type!.tensorType!.shape!.dim = [{ dimValue: 2 ** 20 }, { dimValue: 2 ** 20 }];
      }),
    /value 'logits' declares shape \[1048576, 1048576\] \(1099511627776 elements\), above the limit/,
  ],
  [
    'huge initializer dims',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).initializer[0].dims = [784, 1e9];
      }),
    /tensor 'W' \(initializer\) declares 784000000000 elements/,
  ],
  [
    'initializer dims that disagree with its data',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).initializer[0].dims = [784, 11];
      }),
    /tensor 'W' \(initializer\) has 31360 bytes of data but dims \[784, 11\] need 34496/,
  ],
  [
    'a pad to 200028 x 200028 (huge intermediate value)',
    () => withMiddle((b, x) => b.node('GlobalMaxPool', [b.node('Pad', [x, b.initializer('pads', [0, 0, 1e5, 1e5, 0, 0, 1e5, 1e5], [8])])[0]])[0], 1),
    /value 'Pad_out' of node 'Pad' \(Pad\) has shape \[1, 1, 200028, 200028\] \(40011200784 elements\), above the limit of 16777216 per sample/,
  ],
  [
    'a 2^31 dilation',
    () =>
      withMiddle(
        (b, x) =>
          b.node('Conv', [x, b.initializer('K', new Float32Array(9).fill(0.1), [1, 1, 3, 3])], {
            kernel_shape: [3, 3],
            dilations: [2 ** 31 - 1, 1],
            pads: [2 ** 31, 1, 2 ** 31, 1],
            strides: [2 ** 31 - 1, 1],
          })[0],
        28,
      ),
    /the dilated kernel of node 'Conv' \(Conv\) has shape \[1, 1, 4294967295, 3\] \(12884901885 elements\), above the limit/,
  ],
  [
    'a missing initializer',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).initializer = (m.graph as onnx.GraphProto).initializer.filter((t) => t.name !== 'W');
      }),
    /node 'Gemm' \(Gemm\) uses 'W', which is neither a graph input, an initializer nor the output of a node \(missing initializer\)/,
  ],
  [
    'a node with a missing input',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).node[1].input = [''];
      }),
    /node 'Gemm' \(Gemm\) has 0 input\(s\) \[\]; Gemm takes 2 to 3/,
  ],
  [
    'a value defined twice',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).node[0].output = ['W'];
      }),
    /value 'W' is defined twice/,
  ],
  [
    'a graph with a cycle',
    () =>
      edited((m) => {
        (m.graph as onnx.GraphProto).node[0].input = ['logits'];
      }),
    /the graph has a cycle/,
  ],
  [
    'an unreadable lipschitz_constant',
    () => gemmModel({ metadata: { lipschitz_constant: 'one' } }),
    /metadata lipschitz_constant must be a number > 0, got "one"/,
  ],
  [
    'an input_range that is not [lo, hi]',
    () => gemmModel({ metadata: { input_range: '[1, 0]' } }),
    /metadata input_range must be \[lo, hi\] with lo <= hi, got \[1, 0\]/,
  ],
  ['a path that is a folder', () => ({ path: fx.root }), /is not a file; pass the path of a \.onnx file/],
  ['a path that does not exist', () => ({ path: path.join(fx.root, 'missing.onnx') }), /model file '.*missing\.onnx' does not exist/],
];

/** Metadata problems matter only to the commands that read that metadata. */
const SKIP: Record<string, string[]> = {
  bound: ['an input_range that is not [lo, hi]'],
};

const COMMANDS = ['verify', 'bound', 'attack'] as const;
const cases = COMMANDS.flatMap((command) =>
  MODEL_CASES.filter(([name]) => !(SKIP[command] ?? []).includes(name)).map(([name, make, pattern]) => [command, name, make, pattern] as const),
);

describe('hostile ONNX files', () => {
  it.each(cases)('lip %s: %s', async (command, name, make, pattern) => {
    const made = make();
    let file: string;
    if (made instanceof Uint8Array) {
      file = path.join(fx.root, `${name.replace(/[^a-z0-9]+/gi, '-')}.onnx`);
      fs.writeFileSync(file, made);
    } else {
      file = made.path;
    }
    const extra = command === 'verify' ? ['--data', fx.data] : command === 'attack' ? ['--data', fx.data, ...QUICK_ATTACK] : [];
    const out = outDir(fx.root);
    const r = await runLip([command, file, ...extra, ...outputFlags(command, out)]);
    expectCleanFailure(r, pattern);
    expect(listFiles(out)).toEqual([]);
    // Nothing was written next to the model either (no temp files).
    expect(listFiles(fx.root).filter((f) => /\.tmp$/.test(f))).toEqual([]);
  });
});

it('the valid fixtures themselves pass (so the failures above are about the corruption)', async () => {
  const out = outDir(fx.root);
  for (const command of COMMANDS) {
    const extra = command === 'verify' ? ['--data', fx.data] : command === 'attack' ? ['--data', fx.data, ...QUICK_ATTACK] : [];
    const r = await runLip([command, fx.model, ...extra, ...outputFlags(command, path.join(out, command))]);
    expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: expect.any(String) });
  }
  expect(listFiles(out)).toEqual(expect.arrayContaining(['verify/result.json', 'verify/report/index.html', 'bound/bound.json', 'attack/result.json']));
});
