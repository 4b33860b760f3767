/**
 * Fuzzes the ONNX reader, the Lipschitz bound and the tfjs translator with
 * mutated valid models (byte flips, truncation, insertions, varint corruption,
 * and edits of the decoded proto: dims, attributes, int64 constants, op types,
 * wiring, data types). Every case must either succeed or throw a LipError
 * (`exitCode` defined) quickly: never a TypeError/RangeError from deep
 * inside, a hang, or an allocation blow-up.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { layers as tfl } from '@tensorflow/tfjs-layers';
import fc from 'fast-check';
import { onnx } from 'onnx-proto';
import * as L from '@lip/train';
import { exportOnnx } from '@lip/export';
import { SUPPORTED_OPS, lipschitzBound, openSession, readOnnxModel } from '@lip/verify';
import { translateOnnx } from '@lip/verify/attacks';
import * as fs from 'fs';
import * as path from 'path';
import { convStackModel, gemmModel, honestConvModel } from '@lip/test-support/onnx';

/** Cases per mutation family (five families); LIP_FUZZ_RUNS overrides it for a longer local run. */
const RUNS = Number(process.env.LIP_FUZZ_RUNS ?? 100);
/** A single case slower than this counts as a hang. */
const CASE_LIMIT_MS = 3000;
/** Wall-clock cap per family (fast-check stops early, the count is reported). */
const FAMILY_LIMIT_MS = Number(process.env.LIP_FUZZ_MS ?? 15_000);
// A family may run up to its limit plus its slowest case: the test timeout follows (long local runs raise LIP_FUZZ_MS).
jest.setTimeout(Math.max(120_000, 2 * FAMILY_LIMIT_MS + 60_000));

const quiet = { warn: (): void => {} };
const seeds: { name: string; bytes: Uint8Array }[] = [];
let casesRun = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  seeds.push({ name: 'tiny gemm', bytes: gemmModel({ chw: [1, 6, 6] }) });
  seeds.push({ name: 'conv stack', bytes: convStackModel({ profile: 'default' }) });
  seeds.push({ name: 'conv stack portable', bytes: convStackModel({ profile: 'portable' }) });
  seeds.push({ name: 'honest conv', bytes: honestConvModel(3) });
  const model = new L.LipschitzSequential({
    logger: quiet,
    layers: [
      tfl.inputLayer({ inputShape: [8, 8, 2] }),
      new L.SpectralConv2D({ filters: 4, kernelSize: 3 }),
      new L.GroupSort({ n: 4 }),
      new L.InvertibleDownSampling({ poolSize: 2 }),
      new L.SpectralConv2D({ filters: 4, kernelSize: 2, normalization: 'operator' }),
      new L.MaxMin(),
      new L.ScaledL2NormPool2D({ poolSize: 2 }),
      new L.FullSort(),
      new L.ScaledGlobalL2NormPool2D(),
      new L.FrobeniusDense({ units: 6 }),
      new L.GroupSort2(),
      new L.SpectralDense({ units: 3 }),
    ],
  });
  seeds.push({ name: 'all layers', bytes: exportOnnx(model) });
  seeds.push({ name: 'all layers portable', bytes: exportOnnx(model, { portable: true }) });
  model.dispose();
});

afterAll(() => {
  process.stdout.write(`onnx fuzz: ${casesRun} mutated models checked\n`);
});

function isClean(err: unknown): boolean {
  return err instanceof Error && typeof (err as { exitCode?: unknown }).exitCode === 'number';
}

/** Runs `f`: true when it succeeds, false when it refuses cleanly (a LipError); anything else is rethrown, naming `what`. */
async function step(what: string, f: () => unknown): Promise<boolean> {
  try {
    await f();
    return true;
  } catch (err) {
    if (isClean(err)) return false;
    const e = err as Error;
    throw new Error(`${what} threw ${e?.name}: ${e?.message}\n${e?.stack ?? ''}`);
  }
}

/** Runs the whole pipeline a user can reach on `bytes`; throws only for an unclean failure. */
async function pipeline(bytes: Uint8Array): Promise<string> {
  let model: ReturnType<typeof readOnnxModel> | undefined;
  if (
    !(await step('readOnnxModel', () => {
      model = readOnnxModel(bytes);
    }))
  )
    return 'read refused';
  await step('lipschitzBound', () => lipschitzBound(model!));
  await step('lipschitzBound circular', () => lipschitzBound(model!, { exactConv: false }));
  // The translation is built for any readable model (the forward pass below only after onnxruntime accepts it).
  await step('translateOnnx (any readable model)', () => translateOnnx(model!).dispose());
  // The attack path: onnxruntime first, then the translation on the same images.
  const input = model!.inputs[0];
  const dims = input?.shape?.slice(1);
  const fixed = dims && dims.length >= 1 && dims.every((d): d is number => typeof d === 'number' && d > 0) ? dims : null;
  const chw = fixed && fixed.length === 3 ? fixed : fixed ? [fixed.reduce((a, b) => a * b, 1), 1, 1] : null;
  if (!chw || chw.reduce((a, b) => a * b, 1) > 4096) return 'no feed';
  const images = new Float32Array(2 * chw[0] * chw[1] * chw[2]).fill(0.5);
  let ran = false;
  await step('onnxruntime', async () => {
    const session = await openSession(model!);
    try {
      await session.runBatched(images, 2, chw);
      ran = true;
    } finally {
      await session.close();
    }
  });
  if (!ran) return 'onnxruntime refused';
  let translated: ReturnType<typeof translateOnnx> | undefined;
  if (
    !(await step('translateOnnx', () => {
      translated = translateOnnx(model!);
    }))
  )
    return 'translation refused';
  try {
    await step('translated forward', () => tf.tidy(() => translated!(tf.tensor4d(images, [2, chw[0], chw[1], chw[2]])).dataSync()));
  } finally {
    translated!.dispose();
  }
  return 'ran';
}

/** Checks one mutated model, with a time limit per case. */
async function check(bytes: Uint8Array): Promise<void> {
  casesRun++;
  const t0 = Date.now();
  const before = tf.memory().numTensors;
  await pipeline(bytes);
  const ms = Date.now() - t0;
  if (ms > CASE_LIMIT_MS) throw new Error(`a mutated model took ${ms} ms (limit ${CASE_LIMIT_MS} ms)`);
  expect(tf.memory().numTensors).toBe(before);
}

const seedIndex = fc.nat();
const frac = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
function pick<T>(list: readonly T[], f: number): T {
  return list[Math.floor(f * list.length)];
}
function seedBytes(i: number): Uint8Array {
  return seeds[i % seeds.length].bytes;
}

/** Declared sizes an attacker would try. */
const HOSTILE_INTS = [0, 1, 2, 3, 5, 64, 1000, 2 ** 16, 2 ** 24, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 1, 2 ** 40, 2 ** 53 - 1, -1, -2, -(2 ** 31)];
const hostileInt = fc.constantFrom(...HOSTILE_INTS);

type ProtoEdit = (m: onnx.ModelProto, f: number[], v: number) => void;

function nodesOf(m: onnx.ModelProto): onnx.INodeProto[] {
  return (m.graph as onnx.GraphProto | null)?.node ?? [];
}

/** Edits of the decoded proto; each takes random fractions (to pick targets) and a hostile integer. */
const PROTO_EDITS: Record<string, ProtoEdit> = {
  initializerDim: (m, f, v) => {
    const t = pick((m.graph as onnx.GraphProto).initializer, f[0]);
    if (!t || !t.dims || t.dims.length === 0) return;
    t.dims[Math.floor(f[1] * t.dims.length)] = v;
  },
  initializerRank: (m, f, v) => {
    const t = pick((m.graph as onnx.GraphProto).initializer, f[0]);
    if (!t) return;
    if (f[1] < 0.5) t.dims = [...(t.dims ?? []), v];
    else t.dims = (t.dims ?? []).slice(1);
  },
  valueDim: (m, f, v) => {
    const infos = [...(m.graph as onnx.GraphProto).input, ...(m.graph as onnx.GraphProto).output, ...((m.graph as onnx.GraphProto).valueInfo ?? [])];
    const dims = pick(infos, f[0])?.type?.tensorType?.shape?.dim;
    if (!dims || dims.length === 0) return;
    dims[Math.floor(f[1] * dims.length)] = f[2] < 0.2 ? { dimParam: 'M' } : { dimValue: v };
  },
  valueRank: (m, f, v) => {
    const shape = pick([...(m.graph as onnx.GraphProto).input, ...(m.graph as onnx.GraphProto).output], f[0])?.type?.tensorType?.shape;
    if (!shape) return;
    if (f[1] < 0.5) shape.dim = [...(shape.dim ?? []), { dimValue: v }];
    else shape.dim = (shape.dim ?? []).slice(0, -1);
  },
  elemType: (m, f, v) => {
    const tt = pick([...(m.graph as onnx.GraphProto).input, ...(m.graph as onnx.GraphProto).output], f[0])?.type?.tensorType;
    if (tt) tt.elemType = Math.abs(v) % 17;
  },
  attributeInt: (m, f, v) => {
    const withAttrs = nodesOf(m).filter((n) => (n.attribute ?? []).length > 0);
    const a = pick(pick(withAttrs, f[0])?.attribute ?? [], f[1]);
    if (!a) return;
    if (a.ints && a.ints.length > 0) a.ints[Math.floor(f[2] * a.ints.length)] = v;
    else if (a.type === onnx.AttributeProto.AttributeType.INT) a.i = v;
    else if (a.type === onnx.AttributeProto.AttributeType.FLOAT) a.f = v;
  },
  attributeAdd: (m, f, v) => {
    const node = pick(nodesOf(m), f[0]);
    if (!node) return;
    const name = pick(['axis', 'group', 'blocksize', 'p', 'keepdims', 'transB', 'count_include_pad', 'ceil_mode', 'allowzero', 'largest'], f[1]);
    const listName = pick(['pads', 'strides', 'dilations', 'kernel_shape', 'perm', 'axes'], f[1]);
    node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== name && a.name !== listName)];
    if (f[2] < 0.5) node.attribute.push({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });
    else node.attribute.push({ name: listName, type: onnx.AttributeProto.AttributeType.INTS, ints: [v, v, v, v].slice(0, 1 + Math.floor(f[2] * 4)) });
  },
  int64Constant: (m, f, v) => {
    const ints = (m.graph as onnx.GraphProto).initializer.filter((t) => t.dataType === onnx.TensorProto.DataType.INT64 && t.rawData && t.rawData.length >= 8);
    const t = pick(ints, f[0]);
    if (!t) return;
    const raw = new Uint8Array(t.rawData!);
    const k = Math.floor(f[1] * (raw.length / 8));
    new DataView(raw.buffer).setBigInt64(8 * k, BigInt(Math.trunc(v)), true);
    t.rawData = raw;
  },
  opType: (m, f) => {
    const node = pick(nodesOf(m), f[0]);
    if (node) node.opType = pick(SUPPORTED_OPS, f[1]);
  },
  rewire: (m, f) => {
    const nodes = nodesOf(m);
    const node = pick(nodes, f[0]);
    if (!node || !node.input || node.input.length === 0) return;
    const names = [
      ...nodes.flatMap((n) => n.output ?? []),
      ...(m.graph as onnx.GraphProto).initializer.map((t) => t.name ?? ''),
      (m.graph as onnx.GraphProto).input[0]?.name ?? '',
      '',
    ];
    node.input[Math.floor(f[1] * node.input.length)] = pick(names, f[2]);
  },
  dropInput: (m, f) => {
    const node = pick(nodesOf(m), f[0]);
    if (node && node.input && node.input.length > 0) node.input = node.input.filter((_, i) => i !== Math.floor(f[1] * node.input!.length));
  },
  dropNode: (m, f) => {
    const nodes = nodesOf(m);
    if (nodes.length > 0) (m.graph as onnx.GraphProto).node = nodes.filter((_, i) => i !== Math.floor(f[0] * nodes.length));
  },
  dropInitializer: (m, f) => {
    const inits = (m.graph as onnx.GraphProto).initializer;
    if (inits.length > 0) (m.graph as onnx.GraphProto).initializer = inits.filter((_, i) => i !== Math.floor(f[0] * inits.length));
  },
  dataType: (m, f, v) => {
    const t = pick((m.graph as onnx.GraphProto).initializer, f[0]);
    if (t) t.dataType = Math.abs(v) % 17;
  },
  rawData: (m, f) => {
    const t = pick((m.graph as onnx.GraphProto).initializer, f[0]);
    if (t && t.rawData) t.rawData = t.rawData.subarray(0, Math.floor(f[1] * t.rawData.length));
  },
  opset: (m, _f, v) => {
    if (m.opsetImport[0]) m.opsetImport[0].version = v;
  },
  metadata: (m, f) => {
    const key = pick(['lipschitz_constant', 'input_range', 'class_names'], f[0]);
    const value = pick(['', 'NaN', '-1', '1e400', '[1, 0]', '[0]', '{', '["a"]', '[null, 1]', 'Infinity', '[0, 1e309]'], f[1]);
    m.metadataProps = [...(m.metadataProps ?? []).filter((p) => p.key !== key), { key, value }];
  },
};
const protoEdit = fc.record({
  name: fc.constantFrom(...Object.keys(PROTO_EDITS)),
  f: fc.array(frac, { minLength: 3, maxLength: 3 }),
  v: hostileInt,
});

function applyEdits(bytes: Uint8Array, edits: { name: string; f: number[]; v: number }[]): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  for (const e of edits) PROTO_EDITS[e.name](m, e.f, e.v);
  return onnx.ModelProto.encode(m).finish();
}

/** Positions into a buffer of length n. */
function at(f: number, n: number): number {
  return Math.min(n - 1, Math.floor(f * n));
}

const params = { numRuns: RUNS, interruptAfterTimeLimit: FAMILY_LIMIT_MS, seed: Number(process.env.LIP_FUZZ_SEED ?? 20240607) } as const;

describe('ONNX reader, bound and translator under mutation (fast-check)', () => {
  it('byte flips', async () => {
    await fc.assert(
      fc.asyncProperty(seedIndex, fc.array(fc.tuple(frac, fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }), async (s, flips) => {
        const b = Uint8Array.from(seedBytes(s));
        for (const [f, x] of flips) b[at(f, b.length)] ^= x;
        await check(b);
      }),
      params,
    );
  });

  it('truncation and insertion of random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(seedIndex, frac, fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 64 }), async (s, f, truncate, ins) => {
        const b = seedBytes(s);
        const p = at(f, b.length);
        const out = truncate ? b.subarray(0, p) : Uint8Array.from([...b.subarray(0, p), ...ins, ...b.subarray(p)]);
        await check(out);
      }),
      params,
    );
  });

  it('varint corruption (continuation bits, overlong and huge lengths)', async () => {
    const patterns = [
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      [0xff, 0xff, 0xff, 0xff, 0x0f],
      [0x80, 0x80, 0x80],
      [0xfe, 0xff, 0xff, 0x7f],
    ];
    await fc.assert(
      fc.asyncProperty(seedIndex, fc.array(fc.tuple(frac, fc.constantFrom(...patterns), fc.boolean()), { minLength: 1, maxLength: 3 }), async (s, edits) => {
        let b = Uint8Array.from(seedBytes(s));
        for (const [f, pattern, overwrite] of edits) {
          const p = at(f, b.length);
          if (overwrite) {
            const c = Uint8Array.from(b);
            c.set(pattern.slice(0, c.length - p), p);
            b = c;
          } else {
            b = Uint8Array.from([...b.subarray(0, p), ...pattern, ...b.subarray(p)]);
          }
        }
        await check(b);
      }),
      params,
    );
  });

  it('decoded-proto edits: dims, ranks, attributes, int64 constants, data types', async () => {
    const shapeEdits = [
      'initializerDim',
      'initializerRank',
      'valueDim',
      'valueRank',
      'elemType',
      'attributeInt',
      'attributeAdd',
      'int64Constant',
      'dataType',
      'rawData',
      'opset',
      'metadata',
    ];
    await fc.assert(
      fc.asyncProperty(
        seedIndex,
        fc.array(
          protoEdit.filter((e) => shapeEdits.includes(e.name)),
          { minLength: 1, maxLength: 3 },
        ),
        async (s, edits) => {
          await check(applyEdits(seedBytes(s), edits));
        },
      ),
      params,
    );
  });

  it('decoded-proto edits: op types and graph wiring', async () => {
    const graphEdits = ['opType', 'rewire', 'dropInput', 'dropNode', 'dropInitializer', 'attributeInt'];
    await fc.assert(
      fc.asyncProperty(
        seedIndex,
        fc.array(
          protoEdit.filter((e) => graphEdits.includes(e.name)),
          { minLength: 1, maxLength: 3 },
        ),
        async (s, edits) => {
          await check(applyEdits(seedBytes(s), edits));
        },
      ),
      params,
    );
  });
});

/**
 * The shape-folding importer on graphs other tools wrote (test/fixtures/audit): torch's
 * TorchScript export of a deel-torchlip network (Shape, Gather, Unsqueeze, Cast, ConstantOfShape,
 * Concat and Reshape computing the flatten and GroupSort shapes), a batch-1 graph and a BatchNorm
 * CNN. The mutations aim at the shape arithmetic the importer folds: int64 constants and attributes,
 * input dims (fixed, symbolic, hostile), wiring and dropped nodes. Every case must fold, bound
 * (circular conv bound: the exact one is too slow for a fuzz case) and run, or be refused with a
 * LipError, within the time limit.
 */
const AUDIT = path.join(__dirname, '..', 'fixtures', 'audit');
const importSeeds = ['torchlip', 'batch1_cnn', 'plain_cnn'].map((name) => new Uint8Array(fs.readFileSync(path.join(AUDIT, `${name}.onnx`))));

/** Read (folding), bound, translate and run one image; throws only for an unclean failure. */
async function importPipeline(bytes: Uint8Array): Promise<void> {
  let model: ReturnType<typeof readOnnxModel> | undefined;
  if (
    !(await step('readOnnxModel (folding)', () => {
      model = readOnnxModel(bytes);
    }))
  )
    return;
  await step('lipschitzBound', () => lipschitzBound(model!, { exactConv: false }));
  await step('translateOnnx', () => translateOnnx(model!).dispose());
  const dims = model!.inputs[0]?.shape?.slice(1);
  if (!dims || !dims.every((d): d is number => typeof d === 'number' && d > 0)) return;
  const size = dims.reduce((a, b) => a * b, 1);
  if (size > 4096) return;
  await step('onnxruntime', async () => {
    const session = await openSession(model!);
    try {
      await session.runBatched(new Float32Array(size).fill(0.5), 1, dims.length === 3 ? dims : [size, 1, 1]);
    } finally {
      await session.close();
    }
  });
}

async function checkImport(bytes: Uint8Array): Promise<void> {
  casesRun++;
  const t0 = Date.now();
  await importPipeline(bytes);
  const ms = Date.now() - t0;
  if (ms > CASE_LIMIT_MS) throw new Error(`a mutated model took ${ms} ms through the importer (limit ${CASE_LIMIT_MS} ms)`);
}

/** Nodes that compute shapes (what folding evaluates), as torch's exporter writes them. */
const SHAPE_OPS = new Set(['Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Cast', 'ConstantOfShape', 'Constant', 'Reshape', 'Slice', 'Range', 'Expand']);

const IMPORT_EDITS: Record<string, ProtoEdit> = {
  ...PROTO_EDITS,
  /** An int attribute (axis, to, axes...) or an int64 Constant value of a shape node set to a hostile value. */
  shapeNode: (m, f, v) => {
    const node = pick(
      nodesOf(m).filter((n) => SHAPE_OPS.has(n.opType ?? '')),
      f[0],
    );
    if (!node) return;
    const a = pick(node.attribute ?? [], f[1]);
    if (!a) return;
    if (a.t && a.t.dataType === onnx.TensorProto.DataType.INT64) {
      const raw = a.t.rawData && a.t.rawData.length >= 8 ? new Uint8Array(a.t.rawData) : null;
      if (raw) {
        new DataView(raw.buffer).setBigInt64(8 * Math.floor(f[2] * (raw.length / 8)), BigInt(Math.trunc(v)), true);
        a.t.rawData = raw;
      } else if (a.t.int64Data && a.t.int64Data.length > 0) {
        a.t.int64Data[Math.floor(f[2] * a.t.int64Data.length)] = v;
      }
    } else if (a.ints && a.ints.length > 0) {
      a.ints[Math.floor(f[2] * a.ints.length)] = v;
    } else if (a.type === onnx.AttributeProto.AttributeType.INT) {
      a.i = v;
    }
  },
  /** The graph input's dims: fixed to a hostile size, made symbolic, or removed. */
  inputDims: (m, f, v) => {
    const dims = (m.graph as onnx.GraphProto).input[0]?.type?.tensorType?.shape?.dim;
    if (!dims || dims.length === 0) return;
    const i = Math.floor(f[0] * dims.length);
    if (f[1] < 0.4) dims[i] = { dimParam: 'N' };
    else if (f[1] < 0.5) (m.graph as onnx.GraphProto).input[0].type!.tensorType!.shape = null;
    else dims[i] = { dimValue: v };
  },
};

describe('the shape-folding importer under mutation (graphs written by torch.onnx)', () => {
  it('shape arithmetic, input dims, attributes, wiring and dropped nodes', async () => {
    const names = ['shapeNode', 'shapeNode', 'inputDims', 'int64Constant', 'attributeInt', 'rewire', 'dropNode', 'dropInput', 'opType', 'valueDim'];
    const edit = fc.record({ name: fc.constantFrom(...names), f: fc.array(frac, { minLength: 3, maxLength: 3 }), v: hostileInt });
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 3 }), async (s, edits) => {
        const m = onnx.ModelProto.decode(importSeeds[s % importSeeds.length]);
        for (const e of edits) IMPORT_EDITS[e.name](m, e.f, e.v);
        await checkImport(onnx.ModelProto.encode(m).finish());
      }),
      { ...params, numRuns: 2 * RUNS },
    );
  });

  it('byte flips and truncation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), frac, fc.array(fc.tuple(frac, fc.integer({ min: 1, max: 255 })), { minLength: 0, maxLength: 6 }), async (s, cut, flips) => {
        const b = Uint8Array.from(importSeeds[s % importSeeds.length]);
        for (const [f, x] of flips) b[at(f, b.length)] ^= x;
        await checkImport(flips.length === 0 ? b.subarray(0, at(cut, b.length)) : b);
      }),
      params,
    );
  });
});
