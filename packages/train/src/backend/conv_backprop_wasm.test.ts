/**
 * Conv gradients on tfjs-backend-wasm with lip's kernels match the cpu
 * backend's, for the SIMD filter gradient and every composition (patches /
 * dilated filter gradient; rotated / dilated / stock input gradient).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { maxRelDiff, uniformArray } from '@lip/test-support';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { chooseFilterGradMethod, chooseInputGradMethod, FilterGradMethod, InputGradMethod } from './conv_backprop_wasm';
import { installWasmKernels } from './install_wasm_kernels';
import { type KernelChoice, setKernelChoice } from './kernels/kernel_choice';
import { withNoLeak } from './memory';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  name: string;
  x: [number, number, number, number];
  kernel: [number, number];
  outChannels: number;
  strides: [number, number];
  pad: Pad;
  filterMethod: FilterGradMethod;
  inputMethod: InputGradMethod;
}

const CASES: Case[] = [
  {
    name: 'conv1 of the reference net',
    x: [2, 28, 28, 1],
    kernel: [3, 3],
    outChannels: 16,
    strides: [1, 1],
    pad: 'same',
    filterMethod: 'patches',
    inputMethod: 'rotated',
  },
  {
    name: 'conv2 of the reference net',
    x: [2, 14, 14, 16],
    kernel: [3, 3],
    outChannels: 32,
    strides: [1, 1],
    pad: 'same',
    filterMethod: 'dilated',
    inputMethod: 'rotated',
  },
  {
    name: 'stride 2, same, even size',
    x: [2, 14, 14, 8],
    kernel: [3, 3],
    outChannels: 4,
    strides: [2, 2],
    pad: 'same',
    filterMethod: 'dilated',
    inputMethod: 'dilated',
  },
  {
    name: 'stride 2, same, odd size',
    x: [2, 15, 15, 4],
    kernel: [3, 3],
    outChannels: 6,
    strides: [2, 2],
    pad: 'same',
    filterMethod: 'dilated',
    inputMethod: 'dilated',
  },
  {
    name: 'stride 2, valid',
    x: [3, 14, 14, 5],
    kernel: [3, 3],
    outChannels: 3,
    strides: [2, 2],
    pad: 'valid',
    filterMethod: 'dilated',
    inputMethod: 'dilated',
  },
  {
    name: 'stride 2, valid, one input channel',
    x: [2, 13, 13, 1],
    kernel: [3, 3],
    outChannels: 4,
    strides: [2, 2],
    pad: 'valid',
    filterMethod: 'patches',
    inputMethod: 'stock',
  },
  {
    name: 'stride 2, same, 2 -> 3 channels',
    x: [2, 12, 12, 2],
    kernel: [3, 3],
    outChannels: 3,
    strides: [2, 2],
    pad: 'same',
    filterMethod: 'patches',
    inputMethod: 'stock',
  },
  {
    name: 'stride 2, same, 3 -> 4 channels',
    x: [2, 11, 11, 3],
    kernel: [3, 3],
    outChannels: 4,
    strides: [2, 2],
    pad: 'same',
    filterMethod: 'patches',
    inputMethod: 'dilated',
  },
  {
    name: 'stride 1, valid, 3 -> 5 channels',
    x: [2, 10, 9, 3],
    kernel: [3, 3],
    outChannels: 5,
    strides: [1, 1],
    pad: 'valid',
    filterMethod: 'patches',
    inputMethod: 'rotated',
  },
  {
    name: 'kernel 3x5, same',
    x: [2, 12, 11, 4],
    kernel: [3, 5],
    outChannels: 6,
    strides: [1, 1],
    pad: 'same',
    filterMethod: 'dilated',
    inputMethod: 'rotated',
  },
  {
    name: 'kernel 1x3, valid',
    x: [2, 8, 8, 2],
    kernel: [1, 3],
    outChannels: 3,
    strides: [1, 1],
    pad: 'valid',
    filterMethod: 'patches',
    inputMethod: 'rotated',
  },
  {
    name: 'kernel 2x4, same (uneven padding)',
    x: [2, 9, 10, 3],
    kernel: [2, 4],
    outChannels: 2,
    strides: [1, 1],
    pad: 'same',
    filterMethod: 'patches',
    inputMethod: 'rotated',
  },
  {
    name: 'strides [1, 2], same',
    x: [2, 10, 12, 6],
    kernel: [3, 3],
    outChannels: 4,
    strides: [1, 2],
    pad: 'same',
    filterMethod: 'dilated',
    inputMethod: 'dilated',
  },
  {
    name: 'kernel 5x5, stride 2, valid, 16 -> 1',
    x: [2, 17, 17, 16],
    kernel: [5, 5],
    outChannels: 1,
    strides: [2, 2],
    pad: 'valid',
    filterMethod: 'dilated',
    inputMethod: 'dilated',
  },
  {
    name: 'explicit padding, stride 1',
    x: [2, 9, 9, 4],
    kernel: [3, 3],
    outChannels: 5,
    strides: [1, 1],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
    filterMethod: 'dilated',
    inputMethod: 'rotated',
  },
  {
    name: 'explicit padding, stride 2',
    x: [2, 10, 10, 4],
    kernel: [3, 3],
    outChannels: 5,
    strides: [2, 2],
    pad: [
      [0, 0],
      [2, 0],
      [1, 1],
      [0, 0],
    ],
    filterMethod: 'dilated',
    inputMethod: 'dilated',
  },
  {
    name: 'kernel 1x1, stride 2, valid, odd size',
    x: [2, 13, 13, 8],
    kernel: [1, 1],
    outChannels: 4,
    strides: [2, 2],
    pad: 'valid',
    filterMethod: 'patches',
    inputMethod: 'stock',
  },
  { name: '1 -> 1 channel', x: [3, 7, 7, 1], kernel: [3, 3], outChannels: 1, strides: [1, 1], pad: 'same', filterMethod: 'patches', inputMethod: 'rotated' },
];

interface Grads {
  dx: Float32Array;
  dw: Float32Array;
}

/** Gradients of sum(conv2d(x, w) * r) w.r.t. x and w on the current backend. */
function convGrads(c: Case, x: Float32Array, w: Float32Array, r: Float32Array, outShape: number[]): Grads {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const wt = tf.tensor4d(w, [c.kernel[0], c.kernel[1], c.x[3], c.outChannels]);
    const rt = tf.tensor(r, outShape);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), rt));
    const [dx, dw] = tf.grads(f)([xt, wt]);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

function convInfo(c: Case) {
  return tf.backend_util.computeConv2DInfo(c.x, [c.kernel[0], c.kernel[1], c.x[3], c.outChannels], c.strides, 1, c.pad);
}

beforeAll(() => installWasmKernels());

afterEach(() => setKernelChoice(undefined));

const KERNEL_CASES = CASES.flatMap((c) =>
  (['simd', 'composed'] as KernelChoice[]).map((kernels) => ({
    ...c,
    kernels,
    filterMethod: kernels === 'simd' ? ('simd' as const) : c.filterMethod,
  })),
);

describe.each(KERNEL_CASES)('conv2d gradients on wasm, $kernels kernels: $name', (c) => {
  test(`uses ${c.filterMethod} (filter) and ${c.inputMethod} (input), and matches cpu within 1e-4`, async () => {
    const info = convInfo(c);
    setKernelChoice(c.kernels);
    expect(chooseFilterGradMethod(info)).toBe(c.filterMethod);
    expect(chooseInputGradMethod(info)).toBe(c.inputMethod);

    const outShape = [c.x[0], info.outHeight, info.outWidth, c.outChannels];
    const x = uniformArray(
      c.x.reduce((a, b) => a * b),
      1,
    );
    const w = uniformArray(c.kernel[0] * c.kernel[1] * c.x[3] * c.outChannels, 2);
    const r = uniformArray(
      outShape.reduce((a, b) => a * b),
      3,
    );

    await tf.setBackend('cpu');
    const cpu = convGrads(c, x, w, r, outShape);
    await tf.setBackend('wasm');
    const wasm = withNoLeak(() => convGrads(c, x, w, r, outShape));

    expect(maxRelDiff(wasm.dw, cpu.dw)).toBeLessThan(1e-4);
    expect(maxRelDiff(wasm.dx, cpu.dx)).toBeLessThan(1e-4);
  });
});

describe('conv kernels on wasm, directly', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  test('conv2dTranspose (a forward Conv2DBackpropInput) matches cpu', async () => {
    const x = uniformArray(2 * 7 * 7 * 8, 4);
    const w = uniformArray(3 * 3 * 5 * 8, 5);
    const run = () =>
      tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(x, [2, 7, 7, 8]), tf.tensor4d(w, [3, 3, 5, 8]), [2, 14, 14, 5], 2, 'same').dataSync()) as Float32Array;
    const wasm = run();
    await tf.setBackend('cpu');
    const cpu = run();
    await tf.setBackend('wasm');
    expect(maxRelDiff(wasm, cpu)).toBeLessThan(1e-4);
  });

  test.each(['simd', 'composed'] as KernelChoice[])('tensor and buffer counts stay flat over repeated gradient steps (%s)', (kernels) => {
    setKernelChoice(kernels);
    const x = tf.tensor4d(uniformArray(4 * 14 * 14 * 16, 6), [4, 14, 14, 16]);
    const w = tf.variable(tf.tensor4d(uniformArray(3 * 3 * 16 * 32, 7), [3, 3, 16, 32]));
    const x1 = tf.tensor4d(uniformArray(4 * 28 * 28 * 1, 8), [4, 28, 28, 1]);
    const w1 = tf.variable(tf.tensor4d(uniformArray(3 * 3 * 16, 9), [3, 3, 1, 16]));
    const step = () =>
      tf.tidy(() => {
        const loss = () => tf.add(tf.sum(tf.square(tf.conv2d(x, w, 1, 'same'))), tf.sum(tf.square(tf.conv2d(x1, w1, [2, 2], 'same')))) as tf.Scalar;
        const { grads } = tf.variableGrads(loss, [w, w1]);
        return tf.add(tf.sum(grads[w.name]), tf.sum(grads[w1.name])).dataSync()[0];
      });
    step();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) withNoLeak(step);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, w, x1, w1]);
  });
});
