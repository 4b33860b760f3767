/**
 * Named architectures for `buildModel`. Each row builds the layer list of a
 * LipschitzSequential from resolved options; add a row to add an
 * architecture (`registerArchitecture`).
 */
import { layers } from '@tensorflow/tfjs-layers';
import { assertArg } from '../errors';
import {
  AOLConv2D, ConvNormalization, FrobeniusDense, GroupSort2, InvertibleDownSampling, OrthogonalConv2D, ScaledL2NormPool2D, SLLConv2D, SLLDense,
  SpectralConv2D, SpectralDense,
} from '../layers';

/**
 * Normalizations of the classification head (`headNorm`):
 * - `spectral`: SpectralDense, 1-Lipschitz as a whole (the default);
 * - `lln`: last layer normalization (Singla et al. 2022, "Improved
 *   deterministic l2 robustness on CIFAR-10 and CIFAR-100"): each class's
 *   weight row w_i scaled to unit norm (FrobeniusDense, disjointNeurons), so
 *   the head-aware certificate is margin / (||w_i - w_j|| · L).
 */
export const HEAD_NORMS = ['spectral', 'lln'] as const;
export type HeadNorm = (typeof HEAD_NORMS)[number];

/** The classification head: `numClasses` logits without bias, normalized as `o.headNorm` says. */
export function classifierHead(o: ArchitectureOptions, seedIndex: number): layers.Layer {
  const args = { units: o.numClasses, useBias: false, seed: o.layerSeed(seedIndex) };
  return o.headNorm === 'lln' ? new FrobeniusDense({ ...args, disjointNeurons: true }) : new SpectralDense(args);
}

/** Options every architecture receives, defaults filled in. */
export interface ArchitectureOptions {
  /** Per-sample input shape `[H, W, C]`. */
  inputShape: [number, number, number];
  /** Output size. */
  numClasses: number;
  /** Normalization of the spectral convolutions. */
  convNormalization: ConvNormalization;
  /** Normalization of the last layer (`classifierHead`); default `spectral`. */
  headNorm: HeadNorm;
  /**
   * Seed of layer `i` (its weights and power-iteration vectors), derived from
   * the model seed; undefined when the model is unseeded.
   */
  layerSeed(i: number): number | undefined;
}

/** A named architecture. */
export interface Architecture {
  /** One line for `--help` and error messages. */
  description: string;
  /** The layers, first one carrying `inputShape`. */
  layers(opts: ArchitectureOptions): layers.Layer[];
}

/**
 * The reference network of the deel-torchlip Fashion-MNIST notebook:
 * SpectralConv2D(16, 3x3, same) GroupSort2 ScaledL2NormPool2D(2)
 * SpectralConv2D(32, 3x3, same) GroupSort2 ScaledL2NormPool2D(2)
 * Flatten SpectralDense(64) GroupSort2 SpectralDense(numClasses, no bias).
 * (Every architecture's head is `classifierHead`: SpectralDense, or FrobeniusDense with `headNorm: 'lln'`.)
 */
const seed: Architecture = {
  description: 'the deel-torchlip reference CNN: 2 spectral convs (16, 32) with GroupSort2 and L2 pooling, dense 64, dense out',
  layers: (o) => [
    new SpectralConv2D({
      filters: 16, kernelSize: 3, padding: 'same', inputShape: o.inputShape, normalization: o.convNormalization, seed: o.layerSeed(0),
    }),
    new GroupSort2(),
    new ScaledL2NormPool2D({ poolSize: 2 }),
    new SpectralConv2D({ filters: 32, kernelSize: 3, padding: 'same', normalization: o.convNormalization, seed: o.layerSeed(1) }),
    new GroupSort2(),
    new ScaledL2NormPool2D({ poolSize: 2 }),
    layers.flatten(),
    new SpectralDense({ units: 64, seed: o.layerSeed(2) }),
    new GroupSort2(),
    classifierHead(o, 3),
  ],
};

/**
 * A gradient-norm-preserving network with orthogonal (BCOP) convolutions, for
 * tight certificates. Two space-to-depth steps turn the H×W×C image into
 * H/4×W/4×16C without losing anything (a permutation: 28×28×1 -> 7×7×16,
 * CIFAR's 32×32×3 -> 8×8×48), then BCOP convolutions whose widths grow at
 * most 2x (each channel expansion lets some gradient norm escape),
 * GroupSort2, a Björck dense layer and the head:
 *
 *     InvertibleDownSampling(2) x2
 *     OrthogonalConv2D(s -> s) GroupSort2 OrthogonalConv2D(s -> c) GroupSort2
 *     [OrthogonalConv2D(c -> c) GroupSort2] x extra
 *     Flatten SpectralDense(units) GroupSort2 SpectralDense(numClasses, no bias)
 *
 * with s = 16C and c = min(2s, max(s, 64)): 16 and 32 for 28×28×1, 48 and 64
 * for 32×32×3 (c is capped so that the dense layer's Björck step, which costs
 * (H/4·W/4·c)·units² per iteration, stays near the convolutions' cost).
 *
 * Every layer is an isometry, a co-isometry or a permutation up to the image
 * border, so the gradient of a logit difference keeps most of its norm and
 * the certificate (margin / (||w_i - w_j|| L)) stays close to the true
 * distance to the decision boundary.
 */
function orthogonalNet(extra: number, units: number, description: string, width?: number): Architecture {
  return {
    description,
    layers: (o) => {
      const [h, w, channels] = o.inputShape;
      assertArg(h % 4 === 0 && w % 4 === 0,
        () => `the orthogonal architectures need an input height and width divisible by 4 (two space-to-depth steps), got [${o.inputShape.join(', ')}]`);
      const s = 16 * channels;
      const c = width ?? Math.min(2 * s, Math.max(s, 64));
      const convs = [s, c, ...Array.from({ length: extra }, () => c)];
      const body: layers.Layer[] = [
        new InvertibleDownSampling({ poolSize: 2, inputShape: o.inputShape }),
        new InvertibleDownSampling({ poolSize: 2 }),
      ];
      convs.forEach((filters, i) => {
        // seeds 0 and 1 for the first two convs, then after the dense layers' 2 and 3
        body.push(new OrthogonalConv2D({ filters, kernelSize: 3, padding: 'same', seed: o.layerSeed(i < 2 ? i : i + 2) }));
        body.push(new GroupSort2());
      });
      return [
        ...body,
        layers.flatten(),
        new SpectralDense({ units, seed: o.layerSeed(2) }),
        new GroupSort2(),
        classifierHead(o, 3),
      ];
    },
  };
}

/** Two space-to-depth steps: H×W×C -> H/4×W/4×16C, checked to divide. */
function spaceToDepth4(o: ArchitectureOptions, what: string): layers.Layer[] {
  const [h, w] = o.inputShape;
  assertArg(h % 4 === 0 && w % 4 === 0,
    () => `the ${what} architecture needs an input height and width divisible by 4 (two space-to-depth steps), got [${o.inputShape.join(', ')}]`);
  return [new InvertibleDownSampling({ poolSize: 2, inputShape: o.inputShape }), new InvertibleDownSampling({ poolSize: 2 })];
}

/**
 * 'ortho' with almost-orthogonal convolutions (Prach & Lampert 2022) instead
 * of BCOP: no iteration in the convs, the rescaling is exact.
 *
 *     InvertibleDownSampling(2) x2
 *     AOLConv2D(s) GroupSort2 AOLConv2D(c) GroupSort2 AOLConv2D(c) GroupSort2
 *     Flatten SpectralDense(128) GroupSort2 SpectralDense(numClasses, no bias)
 *
 * (s, c as in 'ortho'). The dense layers stay Björck layers: AOL's bound on a
 * tall matrix (1568 inputs, 128 outputs) is loose, about 1/3 at the start.
 */
const aol: Architecture = {
  description: 'almost-orthogonal (AOL): space-to-depth x2, AOL convs 16, 32, 32 (32×32×3: 48, 64, 64) with GroupSort2, dense 128, dense out',
  layers: (o) => {
    const s = 16 * o.inputShape[2];
    const c = Math.min(2 * s, Math.max(s, 64));
    const body = spaceToDepth4(o, "'aol'");
    [s, c, c].forEach((filters, i) => body.push(new AOLConv2D({ filters, kernelSize: 3, padding: 'same', seed: o.layerSeed(i) }), new GroupSort2()));
    return [
      ...body,
      layers.flatten(),
      new SpectralDense({ units: 128, seed: o.layerSeed(3) }),
      new GroupSort2(),
      classifierHead(o, 4),
    ];
  },
};

/**
 * SDP-based Lipschitz layers (Araujo et al. 2023): residual layers with ReLU
 * inside, so no separate activation.
 *
 *     InvertibleDownSampling(2) x2
 *     [OrthogonalConv2D 1x1 (s -> lift s)]
 *     SLLConv2D(inner k s) x convs
 *     Flatten SLLDense(inner units) SpectralDense(numClasses, no bias)
 *
 * with s = 16C channels all along (an SLL layer keeps its width), or lift s
 * after the 1x1 orthogonal convolution: an isometry (orthonormal columns,
 * `cin <= cout`), so the residual layers get channels of their own to write
 * features into without the input's information being lost. 'sll' has
 * 3 convs (inner 2s) and a dense inner 256; 'sll-wide' the same with
 * inner 4s; 'sll-deep' 6 convs of inner 2s; 'sll-large' is 'sll-wide' with a
 * dense inner 512; 'sll-lift' is 'sll-wide' on a stream lifted to 2s
 * channels. A dense inner width of 1024 was
 * measured and left out: its normalization is quadratic in it (6 convs of
 * inner 4s with it took 2.7x the time of 'sll-deep' an epoch, for +0.008
 * val_acc after one epoch on 8,192 images).
 * The description is written from the sizes; `name` is the `--arch` key.
 */
function sllNet(name: string, what: string, convs: number, innerPerChannel: number, innerUnits: number, lift = 1): [string, Architecture] {
  const stream = lift === 1 ? '' : `, 1×1 orthogonal conv to ${lift}× the channels (16 → ${16 * lift}; 32×32×3: 48 → ${48 * lift})`;
  const description =
    `${what}: space-to-depth x2${stream}, ${convs} residual SLL convs (inner ${innerPerChannel}; 32×32×3: ${3 * innerPerChannel}), ` +
    `residual SLL dense (inner ${innerUnits}), dense out`;
  const build = (o: ArchitectureOptions): layers.Layer[] => {
    const body = spaceToDepth4(o, `'${name}'`);
    // seeds 0, 1, 2 for the first three convs, 3 for the dense layer, 4 for the head, then the further convs, then the lift
    if (lift !== 1) {
      body.push(new OrthogonalConv2D({ filters: lift * 16 * o.inputShape[2], kernelSize: 1, padding: 'same', seed: o.layerSeed(2 + Math.max(convs, 3)) }));
    }
    for (let i = 0; i < convs; i++) {
      body.push(new SLLConv2D({ innerChannels: innerPerChannel * o.inputShape[2], kernelSize: 3, seed: o.layerSeed(i < 3 ? i : i + 2) }));
    }
    return [...body, layers.flatten(), new SLLDense({ innerUnits, seed: o.layerSeed(3) }), classifierHead(o, 4)];
  };
  return [name, { description, layers: build }];
}

/** Architecture name -> definition. */
export const ARCHITECTURES: Map<string, Architecture> = new Map([
  ['seed', seed],
  ['ortho', orthogonalNet(1, 128, 'gradient-norm preserving: space-to-depth x2, orthogonal (BCOP) convs 16, 32, 32 (32×32×3: 48, 64, 64) with GroupSort2, dense 128, dense out')],
  ['ortho-large', orthogonalNet(3, 256, 'gradient-norm preserving: space-to-depth x2, orthogonal (BCOP) convs 16, 32, 32, 32, 32 (32×32×3: 48, 64 ×4) with GroupSort2, dense 256, dense out')],
  ['ortho-wide', orthogonalNet(1, 256, 'gradient-norm preserving, wider: space-to-depth x2, orthogonal (BCOP) convs 16, 64, 64 (32×32×3: 48, 64, 64) with GroupSort2, dense 256, dense out', 64)],
  ['aol', aol],
  sllNet('sll', 'SDP-based Lipschitz layers (SLL)', 3, 32, 256),
  sllNet('sll-wide', 'SLL, wider', 3, 64, 256),
  sllNet('sll-deep', 'SLL, deeper', 6, 32, 256),
  sllNet('sll-large', 'SLL, wider, with a wider dense layer', 3, 64, 512),
  sllNet('sll-lift', 'SLL, wider, on a lifted stream', 3, 64, 256, 2),
]);

/** Adds (or replaces) an architecture. */
export function registerArchitecture(name: string, arch: Architecture): void {
  ARCHITECTURES.set(name, arch);
}
