/**
 * Warming up the bound thread of `lip verify` while it waits for its task.
 *
 * A bound computed in a fresh thread runs mostly in V8's interpreter: the
 * same bound of the shipped model takes about 160 ms there and 45 ms once
 * its functions are optimized, and the interpreter's boxed doubles make
 * half the garbage the thread collects. The prestarted thread
 * (../bound_thread.ts) is ready about 70 ms before the main thread has read
 * and folded the model, so it spends that time bounding a small model of
 * the same kind as `lip export` writes (space-to-depth, orthogonal-style
 * convolutions, GroupSort2 as Split/Min/Max/Concat, dense layers), built
 * here in memory: the bound's rules, its symbolic GroupSort check, the
 * circular convolution bound and the dense Gram then run optimized code
 * when the real model comes.
 *
 * Only a speed-up: the warm-up's results are thrown away, its errors
 * ignored, and it never delays the task by more than one pass (about 5 ms
 * once the first has run); IEEE arithmetic is the same in every tier, so
 * the real bound is the same bits with or without it.
 */
import type { OnnxModel, OnnxNode, OnnxTensor } from '../onnx/read';
import { lipschitzBound } from './lipschitz';

/** Passes over the warm-up model at most; V8 has optimized the hot loops after two or three. */
export const WARMUP_PASSES = 4;

function node(opType: string, inputs: string[], outputs: string[], attributes: OnnxNode['attributes'] = {}): OnnxNode {
  return { name: `${opType}_${outputs[0]}`, opType, domain: '', inputs, outputs, attributes };
}

function ints(name: string, values: number[]): OnnxTensor {
  return { name, dataType: 'int64', dims: [values.length], size: values.length, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

/** Deterministic weights in (-scale, scale): the warm-up needs no particular values, only real ones. */
function floats(name: string, dims: number[], scale: number, seed: number): OnnxTensor {
  const size = dims.reduce((a, d) => a * d, 1);
  const data = new Float32Array(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return { name, dataType: 'float32', dims, size, data };
}

/**
 * An orthogonal-like kernel [cout, cin, 3, 3]: the centre tap holds `cin`
 * columns of the 8x8 Hadamard matrix / sqrt(8) times `gain`, the others are
 * 0, so that the circular bound is tight and wins, as on `lip export`'s
 * orthogonal convolutions (random kernels take the costlier exact bound).
 */
function orthogonalKernel(name: string, cout: number, cin: number, gain: number): OnnxTensor {
  const data = new Float32Array(cout * cin * 9);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      let bits = o & i;
      let sign = 1;
      while (bits) {
        sign = -sign;
        bits &= bits - 1;
      }
      data[(o * cin + i) * 9 + 4] = (sign * gain) / Math.sqrt(8);
    }
  }
  return { name, dataType: 'float32', dims: [cout, cin, 3, 3], size: data.length, data };
}

/**
 * [N, 1, 8, 8] -> two space-to-depth steps -> Conv 4->8 -> GroupSort2 ->
 * Conv 8->8 -> GroupSort2 -> NHWC Flatten -> Gemm 128->16 -> GroupSort2 ->
 * Gemm 16->4: the node patterns of `lip export`'s orthogonal networks, small.
 */
export function warmUpModel(): OnnxModel {
  const inits: OnnxTensor[] = [
    ints('s2d_a', [-1, 1, 4, 2, 4, 2]),
    ints('s2d_b', [-1, 4, 4, 4]),
    orthogonalKernel('conv1_W', 8, 4, 0.9),
    floats('conv1_b', [8], 0.1, 2),
    ints('gs1_a', [-1, 4, 2, 16]),
    ints('gs1_b', [-1, 8, 4, 4]),
    ints('split', [1, 1]),
    orthogonalKernel('conv2_W', 8, 8, 0.9),
    floats('conv2_b', [8], 0.1, 4),
    floats('dense1_W', [16, 128], 0.1, 5),
    floats('dense1_b', [16], 0.1, 6),
    ints('gs3_a', [-1, 8, 2, 1]),
    ints('gs3_b', [-1, 16]),
    floats('dense2_W', [4, 16], 0.3, 7),
  ];
  const conv = { kernel_shape: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], group: 1 };
  const groupSort = (x: string, a: string, b: string, k: string): OnnxNode[] => [
    node('Reshape', [x, a], [`${k}_r`]),
    node('Split', [`${k}_r`, 'split'], [`${k}_lo`, `${k}_hi`], { axis: 2 }),
    node('Min', [`${k}_lo`, `${k}_hi`], [`${k}_min`]),
    node('Max', [`${k}_lo`, `${k}_hi`], [`${k}_max`]),
    node('Concat', [`${k}_min`, `${k}_max`], [`${k}_c`], { axis: 2 }),
    node('Reshape', [`${k}_c`, b], [`${k}_out`]),
  ];
  const nodes: OnnxNode[] = [
    node('Reshape', ['input', 's2d_a'], ['r0']),
    node('Transpose', ['r0'], ['t0'], { perm: [0, 3, 5, 1, 2, 4] }),
    node('Reshape', ['t0', 's2d_b'], ['x0']),
    node('Conv', ['x0', 'conv1_W', 'conv1_b'], ['c1'], conv),
    ...groupSort('c1', 'gs1_a', 'gs1_b', 'g1'),
    node('Conv', ['g1_out', 'conv2_W', 'conv2_b'], ['c2'], conv),
    ...groupSort('c2', 'gs1_a', 'gs1_b', 'g2'),
    node('Transpose', ['g2_out'], ['t1'], { perm: [0, 2, 3, 1] }),
    node('Flatten', ['t1'], ['f1'], { axis: 1 }),
    node('Gemm', ['f1', 'dense1_W', 'dense1_b'], ['d1'], { transA: 0, transB: 1 }),
    ...groupSort('d1', 'gs3_a', 'gs3_b', 'g3'),
    node('Gemm', ['g3_out', 'dense2_W'], ['logits'], { transA: 0, transB: 1 }),
  ];
  return {
    source: '<bound warm-up>',
    bytes: new Uint8Array(0),
    irVersion: 8,
    opset: 17,
    opsets: { '': 17 },
    producerName: 'lip',
    producerVersion: '',
    graphName: 'warmup',
    metadata: {},
    inputs: [{ name: 'input', elemType: 'float32', shape: ['N', 1, 8, 8] }],
    outputs: [{ name: 'logits', elemType: 'float32', shape: ['N', 4] }],
    nodes,
    initializers: new Map(inits.map((t) => [t.name, t])),
    valueInfo: new Map(),
    folding: { inputShape: [1, 8, 8], foldedNodes: 0, droppedSoftmax: null, logitsOutput: 'logits', batch: 'polymorphic', largestValue: null },
  };
}

/**
 * Bounds the warm-up model up to `passes` times, one pass per turn of the
 * event loop, until `stop()` says the real task has come (checked before
 * every pass). Returns at once; `onDone` (tests) is called with the passes run.
 */
export function warmUpBound(stop: () => boolean, passes = WARMUP_PASSES, onDone?: (passesRun: number) => void): void {
  let run = 0;
  let model: OnnxModel | null = null;
  const step = (): void => {
    if (stop() || run >= passes) {
      onDone?.(run);
      return;
    }
    run++;
    try {
      model ??= warmUpModel();
      lipschitzBound(model);
    } catch {
      // Only a speed-up (see the module doc).
    }
    setImmediate(step);
  };
  setImmediate(step);
}
