/**
 * Differential fuzzer of `lip bound`, fixed-seed subset (the long run is
 * `node tools/fuzz-bound.js`, see README "Differential fuzzing of lip bound"). Random small ONNX
 * graphs over the reader's operators (tools/fuzz/graphs.js) are checked
 * against onnxruntime alone (tools/fuzz/oracle.js):
 *   bound >= lower * (1 - 1e-4), the lower bound from finite differences and
 *   exact difference quotients; every row of the per-layer table has
 *   onnxruntime's shape; lip either bounds the graph or refuses it with a
 *   LipError (anything else is a crash).
 * Random graphs, then targeted seeds of each corner family (pool ceil_mode/
 * dilations/pads, negative Flatten axes, int64 constant arithmetic near 2^31
 * and beyond, float64 1e-200 weights, Gemm attributes and C(x), grouped/
 * dilated/strided convs, duplication by Gather/Concat/broadcasts, Softmax/
 * TopK/Reduce, Pad modes, GroupSort forms, L2 pooling, reshapes/permutations,
 * Max/Min/Sum). Time is not asserted (`slow` is reported only).
 * Then its own seeded loop over the family 'new-ops' (BatchNormalization,
 * LeakyRelu/Elu, Clip, Pad reflect/edge/wrap, Expand, Cast, Dropout, Pow, at
 * opsets 7 to 21): a focus-only family, so adding it changed no other draw.
 */
import { ModelError, mulberry32 } from '@lip/train';
import { LipschitzBound, lipschitzBound } from '@lip/verify';

interface GraphSpec {
  nodes: { op: string; name: string; inputs: string[]; outputs: string[] }[];
  outputs: string[];
  steps: string[];
}
interface CheckOptions {
  seed?: number;
  slowMs?: number;
  bound?: (bytes: Uint8Array) => LipschitzBound;
}
interface CheckResult {
  outcome: string;
  bound: number | null;
  lower: number | null;
  message: string;
}
// Plain-JS modules shared with tools/fuzz-bound.js (one copy), typed here for what the test uses.
const { FOCUS, generateGraph, graphSeed, describeGraph } = require('../../tools/fuzz/graphs') as {
  FOCUS: Record<string, unknown>;
  generateGraph: (rng: () => number, opts?: { focus?: string }) => GraphSpec;
  graphSeed: (runSeed: number, index: number) => number;
  describeGraph: (spec: GraphSpec) => string;
};
const { checkGraph } = require('../../tools/fuzz/oracle') as {
  checkGraph: (spec: GraphSpec, opts?: CheckOptions) => Promise<CheckResult>;
};

const RUN_SEED = 20260601;
/** Random graphs; LIP_BOUND_FUZZ_GRAPHS overrides it for a longer local run. */
const RANDOM_GRAPHS = Number(process.env.LIP_BOUND_FUZZ_GRAPHS ?? 120);
/** Seeds per corner family. */
const SEEDS_PER_FOCUS = Number(process.env.LIP_BOUND_FUZZ_FOCUS_SEEDS ?? 8);
const FAILURES = ['unsound', 'shape-mismatch', 'crash'];
/** The focus-only family of the ops added after the recorded seeds, and its seed count (its own loop below). */
const NEW_OPS_FOCUS = 'new-ops';
const NEW_OPS_SEEDS = Number(process.env.LIP_BOUND_FUZZ_NEW_OPS_SEEDS ?? 150);

/**
 * Seeds of this subset that fail on the code as it is, each with its outcome
 * and cause (details in the fuzzer's findings). The test requires exactly
 * these failures: a new failure fails it, and so does a listed seed that now
 * passes (delete its row when the fix lands).
 */
const KNOWN_FAILURES: Record<string, { outcome: string; cause: string }> = {};

/**
 * Random-generator seeds (no focus) that the long runs found failing, one
 * per failure class, with what went wrong on the commit that had it. They
 * must all pass (except KNOWN_FAILURES); a new class found by
 * tools/fuzz-bound.js gets its seed here. A seed names a graph only for the
 * generator as it is: a change to tools/fuzz/graphs.js that alters the draws
 * must find the classes' seeds again (each failed on its commit).
 */
const FOUND_SEEDS: Record<number, string> = {
  581103215: 'HEAD 1492eda: int64 Slice ends from Add of values near 2^32 clamped to int32, bound 0 (unsound)',
  3382771056: 'HEAD 1492eda: Squeeze axes from int64 arithmetic beyond 2^62 clamped (shape)',
  1862320581: 'HEAD 1492eda: ReduceMin axes from int64 arithmetic clamped (shape)',
  114373224: 'HEAD 1492eda: Flatten axis=-1 normalized against rank + 1, so [1, 10] became [10, 1] (shape)',
  419543174: 'HEAD 1492eda: Reshape shape from Add of values near 2^31 clamped (shape)',
  346188208: 'HEAD 1492eda: Gather indices from int64 Div folded as a fraction, TypeError in symbolic consume (crash)',
  2588601077: 'HEAD 1492eda: Slice ends from int64 Div folded as a float division (shape)',
  3658709631: 'HEAD 1492eda: Gather of int64 Div of 2^53+2 folded inexactly, bound 0 (unsound)',
  1264822481: 'HEAD 1492eda: Slice ends from Div of -2^62 by 2^31 clamped, empty value (shape)',
  2167188834: 'HEAD 1492eda: ReduceL2 axes from Sub near 2^31 clamped (shape)',
  1515677061: 'HEAD 1492eda: Pad pads from Add near 2^31 clamped, then Min(x, ReduceMin(x)) undercounted (unsound)',
  340303007: 'HEAD 1492eda: float64 MatMul weights of 1e-301, Gram underflow gives bound 0 (unsound)',
  375199263: 'HEAD 1492eda: ReduceL2 axes from Sub near 2^31 clamped, then Max(conv, ReduceL2(conv)) undercounted (unsound)',
  3930236346: 'HEAD 1492eda: LpPool dilations ignored (unsound)',
  2799566651: 'HEAD 1492eda: LpPool dilations ignored (shape)',
  3156527512: 'HEAD 1492eda: Pad axes from int64 Sub near 2^32 clamped (shape)',
  1246215805: 'HEAD 1492eda: TopK K from Add near 2^31 clamped to 0, bound 0 (unsound)',
  1603002454: 'working tree of 2026-12-02: TopK sorted=0 (heap order, not continuous) bounded as a sort (unsound)',
};

interface Case {
  key: string;
  seed: number;
  focus?: string;
}

const randomCases: Case[] = Array.from({ length: RANDOM_GRAPHS }, (_, i) => {
  const seed = graphSeed(RUN_SEED, i);
  return { key: `random:${seed}`, seed };
});
const focusCases: Case[] = Object.keys(FOCUS).flatMap((focus, f) =>
  Array.from({ length: SEEDS_PER_FOCUS }, (_, i) => {
    const seed = graphSeed(RUN_SEED + 1 + f, i);
    return { key: `${focus}:${seed}`, seed, focus };
  }),
);

// Drawn from their own run seed, so the corner families' seeds above keep their index.
const newOpsCases: Case[] = Array.from({ length: NEW_OPS_SEEDS }, (_, i) => {
  const seed = graphSeed(RUN_SEED + 500, i);
  return { key: `${NEW_OPS_FOCUS}:${seed}`, seed, focus: NEW_OPS_FOCUS };
});

const foundCases: Case[] = Object.keys(FOUND_SEEDS).map((seed) => ({ key: `found:${seed}`, seed: Number(seed) }));

const tally: Record<string, number> = {};

afterAll(() => {
  process.stdout.write(`bound fuzz: ${JSON.stringify(tally)}\n`);
});

/** Checks `cases`; returns the problems, and pushes each outcome onto `outcomes` when given. */
async function runCases(cases: Case[], outcomes?: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const c of cases) {
    const spec = generateGraph(mulberry32(c.seed), c.focus ? { focus: c.focus } : {});
    const res = await checkGraph(spec, { seed: c.seed, slowMs: Infinity });
    tally[res.outcome] = (tally[res.outcome] ?? 0) + 1;
    outcomes?.push(res.outcome);
    const known = KNOWN_FAILURES[c.key];
    const failed = FAILURES.includes(res.outcome);
    if (failed && known?.outcome !== res.outcome) {
      const found = c.key.startsWith('found:') ? ` (${FOUND_SEEDS[c.seed]})` : '';
      problems.push(`${c.key}${found} ${res.outcome}: ${res.message.split('\n')[0]}\n${describeGraph(spec)}`);
    } else if (!failed && known) {
      problems.push(`${c.key} is listed in KNOWN_FAILURES (${known.outcome}: ${known.cause}) but is now ${res.outcome}: delete its row`);
    }
  }
  return problems;
}

describe('lip bound differential fuzzer (onnxruntime oracle)', () => {
  it(`${RANDOM_GRAPHS} random graphs: sound bounds, onnxruntime's shapes, clean refusals`, async () => {
    expect(await runCases(randomCases)).toEqual([]);
  });

  it.each(Object.keys(FOCUS).filter((f) => f !== NEW_OPS_FOCUS))(`corner family %s (${SEEDS_PER_FOCUS} seeds)`, async (focus) => {
    expect(await runCases(focusCases.filter((c) => c.focus === focus))).toEqual([]);
  });

  it(`${NEW_OPS_SEEDS} graphs over BatchNormalization, LeakyRelu/Elu, Clip, Pad modes, Expand, Cast, Dropout, Pow`, async () => {
    const newOpsOutcomes: string[] = [];
    expect(await runCases(newOpsCases, newOpsOutcomes)).toEqual([]);
    // The family must exercise lip, not only its refusals or onnxruntime's: most graphs get a bound.
    const ok = newOpsOutcomes.filter((o) => o === 'ok').length;
    expect(ok).toBeGreaterThan(NEW_OPS_SEEDS / 2);
  });

  it(`${foundCases.length} graphs the long runs found failing, one per class`, async () => {
    expect(await runCases(foundCases)).toEqual([]);
  });
});

describe('the oracle catches wrong bounds', () => {
  // A Gemm chain: its Lipschitz constant is the product of spectral norms, which the FD lower bound finds.
  const gemmSeeds = Array.from({ length: 40 }, (_, i) => graphSeed(RUN_SEED + 999, i));
  const firstOk = async (): Promise<{ spec: GraphSpec; seed: number; bound: number }> => {
    for (const seed of gemmSeeds) {
      const spec = generateGraph(mulberry32(seed), { focus: 'gemm' });
      const res = await checkGraph(spec, { seed, slowMs: Infinity });
      if (res.outcome === 'ok' && res.bound! > 0 && res.lower! > 0.99 * res.bound!) return { spec, seed, bound: res.bound! };
    }
    throw new Error('no gemm graph with a tight bound among the seeds');
  };

  it('a bound 1% too small is unsound', async () => {
    const { spec, seed } = await firstOk();
    const shrunk = (bytes: Uint8Array): LipschitzBound => {
      const r = lipschitzBound(bytes);
      return { ...r, total: r.total * 0.99 };
    };
    const res = await checkGraph(spec, { seed, slowMs: Infinity, bound: shrunk });
    expect(res.outcome).toBe('unsound');
  });

  it('a wrong per-layer shape is a shape mismatch', async () => {
    const { spec, seed } = await firstOk();
    const reshaped = (bytes: Uint8Array): LipschitzBound => {
      const r = lipschitzBound(bytes);
      return { ...r, layers: r.layers.map((l, i) => (i === 0 ? { ...l, outputShape: [...l.outputShape, 1] } : l)) };
    };
    const res = await checkGraph(spec, { seed, slowMs: Infinity, bound: reshaped });
    expect(res.outcome).toBe('shape-mismatch');
  });

  it('a TypeError is a crash, a LipError a refusal', async () => {
    const { spec, seed } = await firstOk();
    const crash = await checkGraph(spec, {
      seed,
      bound: () => {
        throw new TypeError('x is undefined');
      },
    });
    expect(crash.outcome).toBe('crash');
    const refused = await checkGraph(spec, {
      seed,
      bound: () => {
        throw new ModelError('not Lipschitz');
      },
    });
    expect(refused.outcome).toBe('refused');
  });
});
