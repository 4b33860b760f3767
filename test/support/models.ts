/**
 * Small Lipschitz networks for tests: a tiny labelled image set and model, so
 * callback and training tests run in seconds; and random small networks for
 * the soundness properties, where each recipe is a layer sequence and a seed
 * draws its sizes (input, filters, kernels, strides, units, classes,
 * kCoefLip, profile) and random raw weights, so the normalizations are
 * exercised away from their initial state.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LayersModel, layers as tfl } from '@tensorflow/tfjs-layers';
import * as L from '@lip/train';
import { exportOnnx } from '@lip/export';
import { mulberry32 } from './random';
import { QUIET_LOGGER } from './tf';

export const TINY_SHAPE: [number, number, number] = [8, 8, 1];
export const TINY_CLASSES = 3;

/**
 * `n` images of 8×8×1, label i % 3: class k is a bright 4×4 block in one of
 * three corners plus seeded noise (separable, but not at once).
 */
export function tinyData(n: number, seed: number): { images: Float32Array; labels: Uint8Array } {
  const images = new Float32Array(n * 64);
  const labels = new Uint8Array(n);
  const rand = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    const k = i % TINY_CLASSES;
    labels[i] = k;
    const [r0, c0] = [
      [0, 0],
      [0, 4],
      [4, 2],
    ][k]!;
    for (let p = 0; p < 64; p++) {
      const r = Math.floor(p / 8);
      const c = p % 8;
      const inBlock = r >= r0 && r < r0 + 4 && c >= c0 && c < c0 + 4;
      images[i * 64 + p] = (inBlock ? 0.6 : 0.1) + 0.3 * rand();
    }
  }
  return { images, labels };
}

/** The same data as tensors: x [n, 8, 8, 1], one-hot y [n, 3]. */
export function tinyTensors(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const { images, labels } = tinyData(n, seed);
  return {
    x: tf.tensor4d(images, [n, ...TINY_SHAPE]),
    y: tf.oneHot(tf.tensor1d(labels, 'int32'), TINY_CLASSES) as tf.Tensor2D,
  };
}

/** SpectralConv2D(4, 3x3) GroupSort2 Flatten SpectralDense(8) GroupSort2 SpectralDense(3). */
export function tinyModel(seed: number): L.LipschitzSequential {
  return new L.LipschitzSequential({
    logger: QUIET_LOGGER,
    layers: [
      new L.SpectralConv2D({ filters: 4, kernelSize: 3, inputShape: TINY_SHAPE, seed }),
      new L.GroupSort2(),
      tfl.flatten(),
      new L.SpectralDense({ units: 8, seed: seed + 1 }),
      new L.GroupSort2(),
      new L.SpectralDense({ units: TINY_CLASSES, useBias: false, seed: seed + 2 }),
    ],
  });
}

/** Every Lipschitz layer class the soundness tests must cover. */
export const LAYER_KINDS = [
  'SpectralDense',
  'SpectralConv2D(bjorck)',
  'SpectralConv2D(operator)',
  'FrobeniusDense',
  'FrobeniusConv2D',
  'GroupSort2',
  'GroupSort(n)',
  'FullSort',
  'MaxMin',
  'ScaledL2NormPool2D',
  'ScaledAvgPool2D',
  'ScaledGlobalL2NormPool2D',
  'InvertibleDownSampling',
  'OrthogonalConv2D',
  'Householder',
  'LayerCentering',
  'BatchCentering',
  'FrobeniusDense(disjoint)',
] as const;
export type LayerKind = (typeof LAYER_KINDS)[number];

type Rng = () => number;
const pickOf = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

/** Shape bookkeeping while a recipe adds layers. */
interface Builder {
  rng: Rng;
  layers: tfl.Layer[];
  kinds: LayerKind[];
  /** Current [H, W, C], or [F] after flattening. */
  shape: number[];
}

function conv(b: Builder, kind: 'bjorck' | 'operator' | 'frobenius', filters: number): void {
  const [h, w] = b.shape;
  const k = pickOf(
    b.rng,
    [1, 2, 3].filter((x) => x <= Math.min(h, w)),
  );
  const stride = h >= 6 && w >= 6 && b.rng() < 0.3 ? 2 : 1;
  const padding = b.rng() < 0.7 ? 'same' : 'valid';
  const args = { filters, kernelSize: k, strides: stride, padding } as const;
  if (kind === 'frobenius') {
    b.layers.push(new L.FrobeniusConv2D(args));
    b.kinds.push('FrobeniusConv2D');
  } else {
    b.layers.push(new L.SpectralConv2D({ ...args, normalization: kind }));
    b.kinds.push(kind === 'bjorck' ? 'SpectralConv2D(bjorck)' : 'SpectralConv2D(operator)');
  }
  const out = (n: number): number => (padding === 'same' ? Math.ceil(n / stride) : Math.floor((n - k) / stride) + 1);
  b.shape = [out(h), out(w), filters];
}

/** An orthogonal (BCOP) conv: stride 1, kernel 1, 3 or 5 (odd), same or valid padding. */
function orthogonalConv(b: Builder, filters: number): void {
  const [h, w] = b.shape;
  const k = pickOf(
    b.rng,
    [1, 3, 5].filter((x) => x <= Math.min(h, w)),
  );
  const padding = b.rng() < 0.7 ? 'same' : 'valid';
  b.layers.push(new L.OrthogonalConv2D({ filters, kernelSize: k, padding, niterBjorck: pickOf(b.rng, [2, 20]) }));
  b.kinds.push('OrthogonalConv2D');
  b.shape = padding === 'same' ? [h, w, filters] : [h - k + 1, w - k + 1, filters];
}

function activation(b: Builder, kind: 'GroupSort2' | 'GroupSort(n)' | 'FullSort' | 'MaxMin', n = 3): void {
  if (kind === 'GroupSort2') b.layers.push(new L.GroupSort2());
  else if (kind === 'GroupSort(n)') b.layers.push(new L.GroupSort({ n }));
  else if (kind === 'FullSort') b.layers.push(new L.FullSort());
  else {
    b.layers.push(new L.MaxMin());
    b.shape = [...b.shape.slice(0, -1), 2 * b.shape[b.shape.length - 1]];
  }
  b.kinds.push(kind);
}

function pool(b: Builder, kind: 'ScaledL2NormPool2D' | 'ScaledAvgPool2D' | 'InvertibleDownSampling'): void {
  const [h, w, c] = b.shape;
  if (kind === 'InvertibleDownSampling') {
    b.layers.push(new L.InvertibleDownSampling({ poolSize: 2 }));
    b.shape = [h / 2, w / 2, 4 * c];
  } else {
    const p = pickOf(b.rng, [
      [2, 2],
      [1, 2],
      [2, 1],
    ] as [number, number][]).map((x, i) => Math.min(x, [h, w][i])) as [number, number];
    b.layers.push(kind === 'ScaledL2NormPool2D' ? new L.ScaledL2NormPool2D({ poolSize: p }) : new L.ScaledAvgPool2D({ poolSize: p }));
    b.shape = [Math.floor(h / p[0]), Math.floor(w / p[1]), c];
  }
  b.kinds.push(kind);
}

function flatten(b: Builder): void {
  b.layers.push(tfl.flatten());
  b.shape = [b.shape.reduce((a, d) => a * d, 1)];
}

function globalPool(b: Builder): void {
  b.layers.push(new L.ScaledGlobalL2NormPool2D());
  b.kinds.push('ScaledGlobalL2NormPool2D');
  b.shape = [b.shape[2]];
}

function dense(b: Builder, kind: 'spectral' | 'frobenius', units: number): void {
  b.layers.push(kind === 'spectral' ? new L.SpectralDense({ units }) : new L.FrobeniusDense({ units }));
  b.kinds.push(kind === 'spectral' ? 'SpectralDense' : 'FrobeniusDense');
  b.shape = [units];
}

function householder(b: Builder): void {
  b.layers.push(new L.Householder({ theta: pickOf(b.rng, [Math.PI / 2, 0.4, 2.5, -1]) }));
  b.kinds.push('Householder');
}

function centering(b: Builder, kind: 'LayerCentering' | 'BatchCentering'): void {
  const axis = b.shape.length === 3 ? pickOf(b.rng, [undefined, -1, [1, 2, 3]]) : undefined;
  b.layers.push(kind === 'LayerCentering' ? new L.LayerCentering({ axis }) : new L.BatchCentering());
  b.kinds.push(kind);
}

/** FrobeniusDense with disjoint neurons: the model's L is k sqrt(units). */
function disjointHead(b: Builder, units: number): void {
  b.layers.push(new L.FrobeniusDense({ units, disjointNeurons: true }));
  b.kinds.push('FrobeniusDense(disjoint)');
  b.shape = [units];
}

/** Layer sequences; together they use every kind in LAYER_KINDS. */
export const RECIPES: Record<string, { input: (rng: Rng) => number[]; build: (b: Builder, classes: number) => void }> = {
  'bjorck conv, GroupSort2, L2 pool, operator conv, FullSort, global L2 pool, dense': {
    input: (rng) => [pickOf(rng, [6, 7, 8]), pickOf(rng, [6, 8]), pickOf(rng, [1, 2])],
    build: (b, classes) => {
      conv(b, 'bjorck', pickOf(b.rng, [2, 4, 6]));
      activation(b, 'GroupSort2');
      pool(b, 'ScaledL2NormPool2D');
      conv(b, 'operator', pickOf(b.rng, [3, 4, 5]));
      activation(b, 'FullSort');
      globalPool(b);
      dense(b, 'spectral', classes);
    },
  },
  'Frobenius conv, MaxMin, average pool, Frobenius dense, GroupSort(n), dense': {
    input: (rng) => [pickOf(rng, [5, 6, 8]), pickOf(rng, [5, 6]), pickOf(rng, [1, 3])],
    build: (b, classes) => {
      conv(b, 'frobenius', pickOf(b.rng, [2, 3]));
      activation(b, 'MaxMin');
      pool(b, 'ScaledAvgPool2D');
      flatten(b);
      const n = pickOf(b.rng, [2, 3, 4]);
      dense(b, 'frobenius', n * pickOf(b.rng, [2, 3]));
      activation(b, 'GroupSort(n)', n);
      dense(b, 'spectral', classes);
    },
  },
  'invertible down-sampling, strided bjorck conv, GroupSort(n), dense, MaxMin, Frobenius dense': {
    input: (rng) => [pickOf(rng, [4, 6, 8]), pickOf(rng, [4, 6, 8]), pickOf(rng, [1, 2])],
    build: (b, classes) => {
      pool(b, 'InvertibleDownSampling');
      const n = pickOf(b.rng, [3, 4]);
      conv(b, 'bjorck', n * 2);
      activation(b, 'GroupSort(n)', n);
      flatten(b);
      dense(b, 'spectral', pickOf(b.rng, [4, 6, 8]));
      activation(b, 'MaxMin');
      dense(b, 'frobenius', classes);
    },
  },
  'down-sampling, expanding orthogonal conv, GroupSort2, reducing orthogonal conv, L2 pool, dense': {
    input: (rng) => [pickOf(rng, [6, 8]), pickOf(rng, [6, 8]), pickOf(rng, [1, 2])],
    build: (b, classes) => {
      pool(b, 'InvertibleDownSampling');
      orthogonalConv(b, b.shape[2] * pickOf(b.rng, [1, 2]));
      activation(b, 'GroupSort2');
      orthogonalConv(b, pickOf(b.rng, [2, 3]));
      pool(b, 'ScaledL2NormPool2D');
      flatten(b);
      dense(b, 'spectral', classes);
    },
  },
  'dense only: spectral, FullSort, spectral, GroupSort2, Frobenius': {
    input: (rng) => [pickOf(rng, [3, 4]), pickOf(rng, [3, 5]), pickOf(rng, [1, 2])],
    build: (b, classes) => {
      flatten(b);
      dense(b, 'spectral', pickOf(b.rng, [6, 10]));
      activation(b, 'FullSort');
      dense(b, 'spectral', pickOf(b.rng, [4, 8]));
      activation(b, 'GroupSort2');
      dense(b, 'frobenius', classes);
    },
  },
  'bjorck conv, BatchCentering, Householder, LayerCentering, dense, LayerCentering, Householder, disjoint Frobenius head': {
    input: (rng) => [pickOf(rng, [6, 8]), pickOf(rng, [6, 8]), pickOf(rng, [1, 2])],
    build: (b, classes) => {
      conv(b, 'bjorck', pickOf(b.rng, [2, 4]));
      centering(b, 'BatchCentering');
      householder(b);
      centering(b, 'LayerCentering');
      flatten(b);
      dense(b, 'spectral', pickOf(b.rng, [4, 6, 8]));
      centering(b, 'LayerCentering');
      householder(b);
      disjointHead(b, classes);
    },
  },
  'operator conv, GroupSort2, down-sampling, L2 pool, operator conv, MaxMin, average pool, dense': {
    input: (rng) => [8, pickOf(rng, [8, 12]), pickOf(rng, [1, 2])],
    build: (b, classes) => {
      conv(b, 'operator', pickOf(b.rng, [2, 4]));
      activation(b, 'GroupSort2');
      if (b.shape[0] % 2 === 0 && b.shape[1] % 2 === 0) pool(b, 'InvertibleDownSampling');
      pool(b, 'ScaledL2NormPool2D');
      conv(b, 'operator', pickOf(b.rng, [2, 3]));
      activation(b, 'MaxMin');
      pool(b, 'ScaledAvgPool2D');
      flatten(b);
      dense(b, 'spectral', classes);
    },
  },
};

export interface RandomLipModel {
  recipe: string;
  seed: number;
  model: LayersModel;
  bytes: Uint8Array;
  /** Per-sample input, ONNX layout [C, H, W]. */
  chw: [number, number, number];
  classes: number;
  /** The Lipschitz constant the model claims (its lipschitzConstant(): kCoefLip, times sqrt(classes) with a disjoint head; metadata lipschitz_constant). */
  claimed: number;
  kinds: LayerKind[];
  portable: boolean;
}

/** Builds, randomizes and exports one model of `recipe` drawn from `seed`. */
export function randomLipModel(recipe: string, seed: number): RandomLipModel {
  const rng = mulberry32(seed);
  const r = RECIPES[recipe];
  const input = r.input(rng);
  const classes = pickOf(rng, [2, 3, 5, 10]);
  const kCoefLip = pickOf(rng, [1, 1, 0.5, 2]);
  const portable = rng() < 0.5;
  const b: Builder = { rng, layers: [], kinds: [], shape: [...input] };
  r.build(b, classes);
  const model = new L.LipschitzSequential({ layers: [tfl.inputLayer({ inputShape: input }), ...b.layers], logger: QUIET_LOGGER, kCoefLip });
  let s = seed * 7919;
  for (const layer of model.layers) {
    for (const w of layer.trainableWeights) {
      // Raw kernels far from any normalized state (the exported, normalized weights must still be Lipschitz);
      // small biases, so that the input, not the bias, decides the class.
      const std = /bias/.test(w.name) ? 0.02 : pickOf(rng, [0.3, 1, 3]);
      tf.tidy(() => {
        w.write(tf.randomNormal(w.shape as number[], 0, std, 'float32', s++));
      });
    }
  }
  const bytes = exportOnnx(model, { portable });
  return { recipe, seed, model, bytes, chw: [input[2], input[0], input[1]], classes, claimed: model.lipschitzConstant(), kinds: b.kinds, portable };
}
