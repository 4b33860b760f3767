'use strict';
/**
 * Random small ONNX graphs for the differential fuzzer of `lip bound`
 * (test/soundness/bound_fuzz.test.ts and tools/fuzz-bound.js share this file).
 *
 * `generateGraph(rng, opts)` draws a chain/DAG of 1 to 6 steps over the ops of
 * the reader's SUPPORTED_OPS with random valid attributes (opset 13 to 21),
 * one float32 or float64 input of at most a few hundred elements, and returns
 * a plain JSON spec; `encodeModel(spec, { probe })` turns it into ONNX bytes
 * (with `probe`, every intermediate float value is also a graph output, so
 * onnxruntime reports its shape). A step is one op or one of the exporter's
 * patterns (GroupSort via Reshape+ReduceMin/ReduceMax+Concat or Split+Min/Max,
 * the L2 pool Sqrt(AveragePool(x*x)), MaxMin, sorts via TopK, and random
 * Min/Max/Relu/Add/Sub "soups" on one anchor that look like activation blocks).
 *
 * The shapes tracked here only steer the choice of later attributes: the
 * oracle compares lip with onnxruntime, never with this file.
 *
 * `opts.focus` restricts the draw to one corner family (FOCUS below) for the
 * targeted seeds of the test. The family 'new-ops' (BatchNormalization,
 * LeakyRelu/Elu, Clip, Pad reflect/edge/wrap, Expand, Cast, Dropout, Pow) is
 * drawn only when requested: its steps have their own weights
 * (FOCUS_ONLY_WEIGHTS) and opsets from 7, so the unfocused draws, and every
 * seed recorded before it, stay the same.
 *
 * A graph is named by its seed alone, so any change here that alters what a
 * seed draws invalidates the seeds recorded in the test (FOUND_SEEDS) and in
 * past findings.
 */
const { onnx } = require('onnx-proto');

const OPSET_MIN = 13;
const OPSET_MAX = 21;
/** Largest per-sample element count of the input (the oracle's finite differences cost 2 runs per element). */
const MAX_INPUT_ELEMENTS = 256;
/** Largest element count of any generated value. */
const MAX_VALUE_ELEMENTS = 4096;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** Large int64 offsets for constant arithmetic: around 2^31, 2^32, 2^53 and beyond. */
const BIG_OFFSETS = [(1n << 31n) - 1n, 1n << 31n, (1n << 31n) + 7n, 1n << 32n, (1n << 40n) + 3n, (1n << 53n) + 2n, 1n << 62n];

/** The step families and their draw weights; a focus keeps only its own families (with forced corners). */
const STEP_WEIGHTS = {
  unary: 6,
  softmax: 2,
  constBinary: 6,
  varBinary: 5,
  variadic: 3,
  gemm: 4,
  matmul: 3,
  conv: 5,
  pool: 6,
  globalPool: 2,
  reduce: 3,
  topk: 2,
  pad: 3,
  reshape: 4,
  flatten: 3,
  squeeze: 2,
  unsqueeze: 2,
  transpose: 3,
  depthSpace: 2,
  slice: 4,
  split: 3,
  gather: 3,
  concat: 3,
  identity: 1,
  l2pool: 3,
  groupSortReduce: 2,
  groupSortSplit: 2,
  maxMin: 1,
  sortTopK: 1,
  soup: 3,
  sqrtRaw: 1,
  mulVars: 1,
};

/** Steps drawn only by a focus (kept out of STEP_WEIGHTS, whose keys are the unfocused draw). */
const FOCUS_ONLY_WEIGHTS = {
  batchNorm: 5,
  leakyElu: 5,
  clip: 5,
  padModes: 5,
  expand: 3,
  castDropout: 2,
  powL2pool: 2,
};

/**
 * Corner families for the targeted seeds: steps allowed, corner switches, and
 * optionally the lowest opset drawn (OPSET_MIN otherwise).
 */
const FOCUS = {
  'pool-corners': { steps: ['pool', 'l2pool', 'globalPool'], corners: { poolCorners: true } },
  'flatten-negative-axis': { steps: ['flatten', 'unary'], corners: { negativeAxes: true } },
  'int64-arithmetic': { steps: ['reshape', 'slice', 'gather', 'unsqueeze', 'squeeze', 'split', 'pad'], corners: { int64Arith: true } },
  'float64-tiny': { steps: ['gemm', 'matmul', 'constBinary', 'unary', 'reshape', 'flatten'], dtype: 'float64', corners: { tiny: true } },
  gemm: { steps: ['gemm', 'flatten', 'unary'], corners: { gemmCorners: true } },
  conv: { steps: ['conv', 'unary'], corners: { convCorners: true } },
  duplication: { steps: ['gather', 'concat', 'constBinary', 'varBinary', 'variadic', 'slice'], corners: { duplicate: true } },
  'softmax-topk-reduce': { steps: ['softmax', 'topk', 'reduce', 'unary'], corners: {} },
  'pad-modes': { steps: ['pad', 'unary'], corners: {} },
  groupsort: { steps: ['groupSortReduce', 'groupSortSplit', 'maxMin', 'sortTopK', 'soup', 'gemm'], corners: {} },
  l2pool: { steps: ['l2pool', 'conv'], corners: { poolCorners: true } },
  structural: {
    steps: ['transpose', 'depthSpace', 'split', 'squeeze', 'unsqueeze', 'reshape', 'flatten', 'slice'],
    corners: { negativeAxes: true },
  },
  elementwise: { steps: ['variadic', 'unary', 'constBinary', 'varBinary'], corners: { duplicate: true } },
  // Last, so the test's per-family seeds of the families above keep their index. Opsets from 7: Clip's min/max
  // are attributes before opset 11, Pad's pads before 11; the steps mixed in here are valid at every opset.
  'new-ops': {
    steps: ['batchNorm', 'leakyElu', 'clip', 'padModes', 'expand', 'castDropout', 'powL2pool', 'unary', 'conv', 'matmul'],
    corners: {},
    opsetMin: 7,
  },
};

class Gen {
  constructor(rng, opts) {
    this.rng = rng;
    this.focus = opts.focus ? FOCUS[opts.focus] : null;
    if (opts.focus && !this.focus) throw new RangeError(`'focus' must be one of ${Object.keys(FOCUS).join(', ')}, got '${opts.focus}'`);
    this.corners = this.focus ? this.focus.corners : {};
    this.opset = opts.opset ?? this.int((this.focus && this.focus.opsetMin) ?? OPSET_MIN, OPSET_MAX);
    this.dtype = opts.dtype ?? (this.focus && this.focus.dtype) ?? (this.chance(0.15) ? 'float64' : 'float32');
    this.nodes = [];
    this.inits = [];
    this.names = new Set();
    this.counter = 0;
    /** Input-dependent float values: { name, shape } (shape includes the batch dimension, 1). */
    this.vars = [];
    /** One label per step, for reports. */
    this.steps = [];
  }

  // ---- random helpers ----
  int(lo, hi) {
    return lo + Math.floor(this.rng() * (hi - lo + 1));
  }
  chance(p) {
    return this.rng() < p;
  }
  pick(xs) {
    return xs[Math.floor(this.rng() * xs.length)];
  }
  normal() {
    const u = Math.max(this.rng(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rng());
  }
  shuffled(xs) {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  fresh(prefix) {
    let n;
    do n = `${prefix}_${this.counter++}`;
    while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  // ---- graph building ----
  node(op, inputs, attrs = {}, nOut = 1) {
    const outputs = Array.from({ length: nOut }, () => this.fresh(op.toLowerCase()));
    this.nodes.push({ op, name: this.fresh(`n${this.nodes.length}_${op}`), inputs, outputs, attrs });
    return [...outputs]; // a copy: callers extend their lists
  }

  addVar(name, shape) {
    const v = { name, shape };
    this.vars.push(v);
    return v;
  }

  /**
   * Float constant of `dims` from `values` (numbers): an initializer, a
   * Constant node, or now and then computed from constants (scaled by a power
   * of two, transposed, reshaped or concatenated), which the bound must fold.
   */
  floatConst(dims, values, prefix = 'c') {
    const data = this.dtype === 'float32' ? values.map((x) => Math.fround(x)) : values;
    if (dims.length > 0 && this.chance(0.08)) return this.computedFloat(dims, data, prefix);
    return this.literalFloat(dims, data, prefix);
  }

  computedFloat(dims, data, prefix) {
    const kind = this.pick(['scale', 'reshape', dims.length === 2 ? 'transpose' : 'scale', dims[0] >= 2 ? 'concat' : 'reshape']);
    if (kind === 'scale') {
      // Exact in binary floating point: values / 2^k, times (or divided by) 2^k.
      const k = this.pick([2, 4, 0.5, 1024]);
      const byDiv = this.chance(0.5);
      const base = this.literalFloat(
        dims,
        data.map((v) => v / k),
        prefix,
      );
      const [out] = this.node(byDiv ? 'Div' : 'Mul', [base, this.literalFloat([], [byDiv ? 1 / k : k], prefix)]);
      return out;
    }
    if (kind === 'reshape') {
      const [out] = this.node('Reshape', [this.literalFloat([data.length], data, prefix), this.intConst(dims)]);
      return out;
    }
    if (kind === 'transpose') {
      const [r, c] = dims;
      const t = Array.from({ length: r * c }, (_, i) => data[(i % r) * c + Math.floor(i / r)]);
      const [out] = this.node('Transpose', [this.literalFloat([c, r], t, prefix)], { perm: ['ints', [1, 0]] });
      return out;
    }
    const rows = this.int(1, dims[0] - 1);
    const per = data.length / dims[0];
    const [out] = this.node(
      'Concat',
      [
        this.literalFloat([rows, ...dims.slice(1)], data.slice(0, rows * per), prefix),
        this.literalFloat([dims[0] - rows, ...dims.slice(1)], data.slice(rows * per), prefix),
      ],
      { axis: ['int', 0] },
    );
    return out;
  }

  literalFloat(dims, data, prefix) {
    const name = this.fresh(prefix);
    const tensor = { dtype: this.dtype, dims, data };
    if (this.chance(0.7)) {
      this.inits.push({ name, ...tensor });
      return name;
    }
    let attrs;
    // value_float(s) exist from opset 12 (tested before drawing, so opsets >= 13 draw as before).
    if (this.dtype === 'float32' && dims.length === 0 && this.opset >= 12 && this.chance(0.5)) attrs = { value_float: ['float', data[0]] };
    else if (this.dtype === 'float32' && dims.length === 1 && this.opset >= 12 && this.chance(0.5)) {
      attrs = { value_floats: ['floats', data] };
    } else attrs = { value: ['tensor', tensor] };
    this.nodes.push({ op: 'Constant', name: this.fresh('n_const'), inputs: [], outputs: [name], attrs });
    return name;
  }

  /** Random weights: normal * scale, with rare tiny or large scales and exact zeros. */
  weights(n, fan) {
    let scale = 1 / Math.sqrt(Math.max(1, fan));
    if (this.corners.tiny || this.chance(0.04)) {
      scale *= this.dtype === 'float64' ? this.pick([1e-200, 1e-150, 1e-300]) : this.pick([1e-20, 1e-30]);
    } else if (this.chance(0.05)) scale *= this.pick([1e-3, 30]);
    const zeros = this.chance(0.1);
    return Array.from({ length: n }, () => (zeros && this.chance(0.3) ? 0 : this.normal() * scale));
  }

  /**
   * An int64 constant holding `values` (BigInt or number): an initializer, a
   * Constant node, or computed by Sub/Add/Div/Mul of large int64 constants
   * (near 2^31 and beyond) that the bound must fold exactly.
   */
  intConst(values, dims = [values.length]) {
    const vals = values.map((v) => BigInt(v));
    const arith = this.corners.int64Arith ? 0.8 : 0.15;
    if (this.chance(arith)) return this.intArith(vals, dims, this.chance(0.2) ? 2 : 1);
    return this.intLiteral(vals, dims);
  }

  intLiteral(vals, dims) {
    const name = this.fresh('i');
    const r = this.rng();
    if (r < 0.65) {
      this.inits.push({ name, dtype: 'int64', dims, data: vals.map(String) });
    } else if (r < 0.85 || dims.length !== 1 || this.opset < 12) {
      // value_ints from opset 12
      this.nodes.push({
        op: 'Constant',
        name: this.fresh('n_const'),
        inputs: [],
        outputs: [name],
        attrs: { value: ['tensor', { dtype: 'int64', dims, data: vals.map(String) }] },
      });
    } else {
      this.nodes.push({ op: 'Constant', name: this.fresh('n_const'), inputs: [], outputs: [name], attrs: { value_ints: ['ints', vals.map(String)] } });
    }
    return name;
  }

  intArith(vals, dims, depth) {
    const lit = (vs) => (depth > 1 ? this.intArith(vs, dims, depth - 1) : this.intLiteral(vs, dims));
    const fits = (v) => v <= INT64_MAX && v >= INT64_MIN;
    const k = this.pick(BIG_OFFSETS);
    const scheme = this.pick(['sub', 'add', 'div', 'mul']);
    if (scheme === 'sub' && vals.every((v) => fits(v + k))) {
      const [out] = this.node('Sub', [
        lit(vals.map((v) => v + k)),
        this.intLiteral(
          vals.map(() => k),
          dims,
        ),
      ]);
      return out;
    }
    if (scheme === 'add' && vals.every((v) => fits(v - k))) {
      const [out] = this.node('Add', [
        this.intLiteral(
          vals.map(() => k),
          dims,
        ),
        lit(vals.map((v) => v - k)),
      ]);
      return out;
    }
    if (scheme === 'div') {
      // (v*m + r) / m truncates back to v: r in [0, m) for v >= 0, (-m, 0] for v < 0.
      const m = this.pick([2n, 3n, 7n, 1n << 20n, 1n << 31n, 1n << 33n]);
      const num = vals.map((v) => {
        const r = BigInt(Math.floor(this.rng() * Number(m < 1000n ? m : 1000n)));
        return v >= 0n ? v * m + r : v * m - r;
      });
      if (num.every(fits)) {
        const [out] = this.node('Div', [
          lit(num),
          this.intLiteral(
            vals.map(() => m),
            dims,
          ),
        ]);
        return out;
      }
    }
    if (scheme === 'mul') {
      // v = (v * 2^s) / 2^s computed as Mul then Div (exact in int64 while it fits).
      const m = this.pick([1n << 16n, 1n << 31n, 1n << 40n]);
      if (vals.every((v) => fits(v * m))) {
        const [prod] = this.node('Mul', [
          this.intLiteral(vals, dims),
          this.intLiteral(
            vals.map(() => m),
            dims,
          ),
        ]);
        const [out] = this.node('Div', [
          prod,
          this.intLiteral(
            vals.map(() => m),
            dims,
          ),
        ]);
        return out;
      }
    }
    return this.intLiteral(vals, dims);
  }

  /** An axis of rank `r`, negative half of the time (always when negativeAxes). */
  axis(a, r) {
    return this.corners.negativeAxes || this.chance(0.4) ? a - r : a;
  }

  /** A large "to the end" / "from the start" sentinel for Slice. */
  bigEnd(positive) {
    const v = this.pick([(1n << 31n) - 1n, 1n << 31n, (1n << 31n) + 5n, 1n << 40n, INT64_MAX]);
    return positive ? v : v === INT64_MAX ? INT64_MIN : -v;
  }
}

// ---------- shape helpers ----------
const sizeOf = (s) => s.reduce((a, d) => a * d, 1);
const same = (a, b) => a.length === b.length && a.every((d, i) => d === b[i]);

function broadcast(a, b) {
  const r = Math.max(a.length, b.length);
  const out = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(Math.max(x, y));
  }
  return out;
}

function divisors(n) {
  const out = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

/** A random shape of `n` elements and rank `rank` (a random factorization). */
function factorShape(g, n, rank) {
  const dims = [];
  let rest = n;
  for (let i = 0; i < rank - 1; i++) {
    const d = g.pick(divisors(rest).filter((x) => x <= 16 || x === rest));
    dims.push(d);
    rest /= d;
  }
  dims.push(rest);
  return g.shuffled(dims);
}

/** ORT's pooling output size (floor, or ceil with the last window starting inside the padded input). */
function poolOut(n, k, s, pb, pe, dil, ceil) {
  const num = n + pb + pe - dil * (k - 1) - 1;
  if (num < 0) return 0;
  let out = ceil ? Math.ceil(num / s) + 1 : Math.floor(num / s) + 1;
  if (ceil && (out - 1) * s >= n + pb) out--;
  return out;
}

/** SAME auto_pad split of the padding ONNX needs: [begin, end]. */
function samePads(n, k, s, dil, upper) {
  const out = Math.ceil(n / s);
  const total = Math.max(0, (out - 1) * s + (k - 1) * dil + 1 - n);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}

// ---------- steps: each takes the current value and returns the next one, or null when it does not apply ----------
const STEPS = {
  unary(g, x) {
    const op = g.pick(['Relu', 'Abs', 'Neg', 'Tanh', 'Sigmoid', 'Relu', 'Neg']);
    const [y] = g.node(op, [x.name]);
    return g.addVar(y, x.shape);
  },

  identity(g, x) {
    const [y] = g.node('Identity', [x.name]);
    return g.addVar(y, x.shape);
  },

  softmax(g, x) {
    const r = x.shape.length;
    const [y] = g.node('Softmax', [x.name], { axis: ['int', g.axis(g.int(0, r - 1), r)] });
    return g.addVar(y, x.shape);
  },

  sqrtRaw(g, x) {
    // sqrt(|x| + c): not Lipschitz near 0 for c = 0; lip must refuse any raw Sqrt.
    const [a] = g.node('Abs', [x.name]);
    const [b] = g.node('Add', [a, g.floatConst([], [g.pick([0.5, 1, 2])])]);
    const [y] = g.node('Sqrt', [b]);
    return g.addVar(y, x.shape);
  },

  constBinary(g, x) {
    const op = g.pick(['Add', 'Sub', 'Mul', 'Div', 'Mul', 'Div']);
    const r = x.shape.length;
    // Constant shape: scalar, per last axis, per channel, full, or one that expands a size-1 axis of x (duplication).
    const kinds = ['scalar', 'last', 'full', 'channel'];
    if (x.shape.some((d) => d === 1)) kinds.push('expand', 'expand');
    if (g.corners.duplicate) kinds.push('expand', 'expand', 'expand');
    const kind = g.pick(kinds);
    let dims;
    if (kind === 'scalar') dims = g.pick([[], [1]]);
    else if (kind === 'last') dims = [x.shape[r - 1]];
    else if (kind === 'channel' && r >= 2) dims = [x.shape[1], ...x.shape.slice(2).map(() => 1)];
    else if (kind === 'expand') {
      dims = x.shape.map((d) => (d === 1 && g.chance(0.6) ? g.int(2, 3) : g.chance(0.3) ? 1 : d));
      if (g.chance(0.3)) dims = [g.int(2, 3), ...dims];
    } else dims = [...x.shape];
    const out = broadcast(x.shape, dims);
    if (!out || sizeOf(out) > MAX_VALUE_ELEMENTS) return null;
    const n = sizeOf(dims);
    let values;
    if (op === 'Add' || op === 'Sub') values = Array.from({ length: n }, () => g.rng() * 2 - 1);
    else if (op === 'Mul') values = g.weights(n, 1).map((v) => v * (g.chance(0.2) ? g.pick([1e-3, 1e3]) : 1));
    else values = Array.from({ length: n }, () => (g.chance(0.5) ? -1 : 1) * g.pick([0.5, 2, 3, 0.1, 10, 1e-3]) * (1 + g.rng()));
    if (g.corners.tiny && op === 'Mul') values = values.map((v) => v * (g.dtype === 'float64' ? 1e-200 : 1e-30));
    const c = g.floatConst(dims, values);
    // Div c / x is not Lipschitz: rare, lip must refuse it.
    const constFirst = op === 'Div' ? g.chance(0.03) : (op !== 'Sub' || g.chance(0.5)) && g.chance(0.5);
    const [y] = g.node(op, constFirst ? [c, x.name] : [x.name, c]);
    return g.addVar(y, out);
  },

  /** A second input-dependent operand of shape broadcastable with x: x itself, an earlier value, or a transform of x. */
  partner(g, x) {
    const fits = (v) => v !== x && broadcast(v.shape, x.shape) && sizeOf(broadcast(v.shape, x.shape)) <= MAX_VALUE_ELEMENTS;
    const compatible = g.vars.filter(fits);
    const r = g.rng();
    if (r < 0.2) return x;
    if (r < 0.5 && compatible.length > 0) return g.pick(compatible);
    if (r < 0.7 || g.corners.duplicate) {
      // A reduction of x over some axes, kept as size-1 dims: broadcasting it back repeats each of its entries.
      const rank = x.shape.length;
      const axes = g.shuffled([...Array(rank).keys()]).slice(0, g.int(1, rank));
      const op = g.pick(['ReduceMax', 'ReduceMin', 'ReduceL2']);
      const [y] = g.opset >= 18 ? g.node(op, [x.name, g.intConst(axes)]) : g.node(op, [x.name], { axes: ['ints', axes] });
      return g.addVar(
        y,
        x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
      );
    }
    const op = g.pick(['Relu', 'Neg', 'Tanh', 'Abs']);
    const [y] = g.node(op, [x.name]);
    return g.addVar(y, x.shape);
  },

  varBinary(g, x) {
    const op = g.pick(['Add', 'Sub', 'Max', 'Min', 'Add', 'Sub']);
    const p = STEPS.partner(g, x);
    const out = broadcast(x.shape, p.shape);
    const [y] = g.node(op, g.chance(0.5) ? [x.name, p.name] : [p.name, x.name]);
    return g.addVar(y, out);
  },

  variadic(g, x) {
    const op = g.pick(['Max', 'Min', 'Sum']);
    const n = g.int(1, 3);
    const ins = [x];
    for (let i = 1; i < n; i++) ins.push(g.corners.duplicate && g.chance(0.5) ? x : STEPS.partner(g, x));
    const last = x.shape[x.shape.length - 1];
    if (g.chance(0.2))
      ins.push(
        g.floatConst(
          [last],
          Array.from({ length: last }, () => g.rng() - 0.5),
        ),
      );
    let out = x.shape;
    for (const v of ins) if (typeof v !== 'string' && out) out = broadcast(out, v.shape);
    if (!out || sizeOf(out) > MAX_VALUE_ELEMENTS) return null;
    const [y] = g.node(op, g.shuffled(ins.map((v) => (typeof v === 'string' ? v : v.name))));
    return g.addVar(y, out);
  },

  mulVars(g, x) {
    // x * y of two input-dependent values (or a division): not Lipschitz, lip must refuse.
    const p = STEPS.partner(g, x);
    const out = broadcast(x.shape, p.shape);
    const [y] = g.node(g.chance(0.8) ? 'Mul' : 'Div', [x.name, p.name]);
    return g.addVar(y, out);
  },

  gemm(g, x) {
    let cur = x;
    if (cur.shape.length !== 2) {
      const [f] = g.node('Flatten', [cur.name], { axis: ['int', 1] });
      cur = g.addVar(f, [cur.shape[0], sizeOf(cur.shape.slice(1))]);
    }
    const corner = g.corners.gemmCorners;
    const [r0, c0] = cur.shape;
    const attrs = {};
    const alpha = g.chance(corner ? 0.7 : 0.3) ? g.pick([0.5, -2, 1e-3, 3, -0.25]) : 1;
    const beta = g.chance(corner ? 0.7 : 0.3) ? g.pick([0, -1, 0.5, 2]) : 1;
    if (alpha !== 1 || g.chance(0.1)) attrs.alpha = ['float', alpha];
    if (beta !== 1 || g.chance(0.1)) attrs.beta = ['float', beta];
    const varIsA = !g.chance(corner ? 0.35 : 0.15);
    const transVar = g.chance(corner ? 0.4 : 0.1);
    const transW = g.chance(0.5);
    // Variable operand as it enters the product.
    const [vm, vk] = transVar ? [c0, r0] : [r0, c0];
    let M, N, wDims;
    if (varIsA) {
      M = vm;
      N = g.int(1, 12);
      wDims = transW ? [N, vk] : [vk, N];
      if (transVar) attrs.transA = ['int', 1];
      if (transW) attrs.transB = ['int', 1];
    } else {
      // W (M x K) times the variable (K x N): the variable is B.
      M = g.int(1, 12);
      N = transVar ? r0 : c0;
      const K = transVar ? c0 : r0;
      wDims = transW ? [K, M] : [M, K];
      if (transW) attrs.transA = ['int', 1];
      if (transVar) attrs.transB = ['int', 1];
    }
    if (M * N > MAX_VALUE_ELEMENTS) return null;
    const w = g.floatConst(wDims, g.weights(sizeOf(wDims), varIsA ? vk : wDims[transW ? 0 : 1]), 'W');
    const ins = varIsA ? [cur.name, w] : [w, cur.name];
    // C: none, a constant of a broadcastable shape, or a value that depends on x.
    const cr = g.rng();
    if (cr < (corner ? 0.4 : 0.25)) {
      const cdims = g.pick([[N], [1, N], [M, N], [1], [], [M, 1]]);
      ins.push(
        g.floatConst(
          cdims,
          Array.from({ length: sizeOf(cdims) }, () => g.rng() - 0.5),
          'C',
        ),
      );
    } else if (cr < (corner ? 0.85 : 0.45)) {
      const fitting = g.vars.filter((v) => v.shape.length <= 2 && broadcast(v.shape, [M, N]) && same(broadcast(v.shape, [M, N]), [M, N]));
      if (fitting.length > 0 && g.chance(0.6)) ins.push(g.pick(fitting).name);
      else if (g.chance(0.3) && varIsA && !transVar) {
        // One entry of x as C: broadcast to all M x N outputs.
        const [c] = g.node('Gather', [cur.name, g.intConst([g.int(0, c0 - 1)], [1])], { axis: ['int', 1] });
        g.addVar(c, [r0, 1]);
        ins.push(c);
      } else if (varIsA && !transVar) {
        const w2 = g.floatConst([cur.shape[1], N], g.weights(cur.shape[1] * N, cur.shape[1]), 'W');
        const [c] = g.node('Gemm', [cur.name, w2]);
        g.addVar(c, [cur.shape[0], N]);
        ins.push(c);
      }
    }
    const [y] = g.node('Gemm', ins, attrs);
    return g.addVar(y, [M, N]);
  },

  matmul(g, x) {
    const r = x.shape.length;
    const k = x.shape[r - 1];
    const kind = g.rng();
    if (kind < 0.6 || r < 2) {
      const n = g.int(1, 10);
      const out = [...x.shape.slice(0, -1), n];
      if (sizeOf(out) > MAX_VALUE_ELEMENTS) return null;
      const w = g.floatConst([k, n], g.weights(k * n, k), 'W');
      const [y] = g.node('MatMul', [x.name, w]);
      return g.addVar(y, out);
    }
    if (kind < 0.9) {
      // W [m, rows] @ x: mixes the second-to-last axis.
      const m = g.int(1, 8);
      const out = [...x.shape.slice(0, -2), m, k];
      if (sizeOf(out) > MAX_VALUE_ELEMENTS) return null;
      const w = g.floatConst([m, x.shape[r - 2]], g.weights(m * x.shape[r - 2], x.shape[r - 2]), 'W');
      const [y] = g.node('MatMul', [w, x.name]);
      return g.addVar(y, out);
    }
    // A 1-D weight vector (a dot product over the last axis).
    const w = g.floatConst([k], g.weights(k, k), 'w');
    const [y] = g.node('MatMul', [x.name, w]);
    return g.addVar(y, x.shape.slice(0, -1));
  },

  conv(g, x) {
    const r = x.shape.length;
    if ((r !== 3 && r !== 4) || g.dtype === 'float64') return null; // ORT's CPU Conv has no double kernel
    const corner = g.corners.convCorners;
    const cin = x.shape[1];
    const spatial = x.shape.slice(2);
    const groups = divisors(cin).filter((d) => d <= 4);
    const group = g.chance(corner ? 0.6 : 0.25) ? g.pick(groups) : 1;
    const cout = group * g.int(1, Math.max(1, Math.floor(6 / group)));
    const kernel = spatial.map((d) => g.int(1, Math.min(4, d + 2)));
    const strides = spatial.map(() => (g.chance(corner ? 0.5 : 0.25) ? g.int(2, 3) : 1));
    const dil = spatial.map(() => (g.chance(corner ? 0.5 : 0.2) ? g.int(2, 3) : 1));
    const attrs = {};
    if (g.chance(0.7)) attrs.kernel_shape = ['ints', kernel];
    if (strides.some((s) => s !== 1) || g.chance(0.2)) attrs.strides = ['ints', strides];
    if (dil.some((d) => d !== 1) || g.chance(0.2)) attrs.dilations = ['ints', dil];
    if (group !== 1 || g.chance(0.1)) attrs.group = ['int', group];
    let pads;
    // ORT's Conv refuses dilations with SAME auto_pad.
    const auto = g.chance(0.2) ? g.pick(dil.some((d) => d > 1) ? ['VALID'] : ['SAME_UPPER', 'SAME_LOWER', 'VALID']) : 'NOTSET';
    if (auto === 'NOTSET') {
      pads = [...spatial.map((_, i) => g.int(0, kernel[i])), ...spatial.map((_, i) => g.int(0, kernel[i]))];
      if (!corner && g.chance(0.5)) pads = pads.map((_, i) => pads[i % spatial.length]);
      if (pads.some((p) => p > 0) || g.chance(0.2)) attrs.pads = ['ints', pads];
    } else {
      attrs.auto_pad = ['string', auto];
      const p = spatial.map((n, i) => (auto === 'VALID' ? [0, 0] : samePads(n, kernel[i], strides[i], dil[i], auto === 'SAME_UPPER')));
      pads = [...p.map((q) => q[0]), ...p.map((q) => q[1])];
    }
    const out = spatial.map((n, i) => Math.floor((n + pads[i] + pads[i + spatial.length] - dil[i] * (kernel[i] - 1) - 1) / strides[i]) + 1);
    if (out.some((d) => d < 1)) return null;
    const shape = [x.shape[0], cout, ...out];
    if (sizeOf(shape) > MAX_VALUE_ELEMENTS) return null;
    const wDims = [cout, cin / group, ...kernel];
    const w = g.floatConst(wDims, g.weights(sizeOf(wDims), sizeOf(wDims.slice(1))), 'K');
    const ins = [x.name, w];
    if (g.chance(0.5))
      ins.push(
        g.floatConst(
          [cout],
          Array.from({ length: cout }, () => g.rng() - 0.5),
          'bias',
        ),
      );
    const [y] = g.node('Conv', ins, attrs);
    return g.addVar(y, shape);
  },

  /** Window attributes for AveragePool/MaxPool/LpPool on `x` (rank >= 3). */
  poolAttrs(g, x, op) {
    const corner = g.corners.poolCorners;
    const spatial = x.shape.slice(2);
    const hasDil = op === 'MaxPool' || (op === 'AveragePool' && g.opset >= 19) || (op === 'LpPool' && g.opset >= 18);
    const hasCeil = op !== 'LpPool' || g.opset >= 18;
    const kernel = spatial.map((d) => g.int(1, Math.min(4, d + 1)));
    const strides = spatial.map(() => (g.chance(corner ? 0.6 : 0.5) ? g.int(1, 3) : kernel[0]));
    const dil = spatial.map(() => (hasDil && g.chance(corner ? 0.5 : 0.15) ? g.int(2, 3) : 1));
    const ceil = hasCeil && g.chance(corner ? 0.5 : 0.2);
    const attrs = { kernel_shape: ['ints', kernel] };
    if (strides.some((s) => s !== 1) || g.chance(0.3)) attrs.strides = ['ints', strides];
    if (dil.some((d) => d !== 1)) attrs.dilations = ['ints', dil];
    if (ceil || (hasCeil && g.chance(0.1))) attrs.ceil_mode = ['int', ceil ? 1 : 0];
    if (op === 'AveragePool' && g.chance(corner ? 0.6 : 0.3)) attrs.count_include_pad = ['int', g.chance(0.6) ? 1 : 0];
    if (op === 'LpPool') attrs.p = ['int', g.pick([1, 2, 2, 3])];
    // ORT sizes SAME pools without dilations and refuses a negative total pad (stride > kernel): VALID only then.
    const sameOk = dil.every((d) => d === 1) && spatial.every((n, i) => (Math.ceil(n / strides[i]) - 1) * strides[i] + kernel[i] >= n);
    const auto = g.chance(corner ? 0.3 : 0.15) ? g.pick(sameOk ? ['SAME_UPPER', 'SAME_LOWER', 'VALID'] : ['VALID']) : 'NOTSET';
    let pads;
    if (auto === 'NOTSET') {
      // ORT requires each pad to be smaller than the kernel.
      pads = [...spatial.map((_, i) => g.int(0, kernel[i] - 1)), ...spatial.map((_, i) => g.int(0, kernel[i] - 1))];
      if (!corner && g.chance(0.5)) pads = pads.map((_, i) => pads[i % spatial.length]);
      if (pads.some((p) => p > 0) || g.chance(0.2)) attrs.pads = ['ints', pads];
    } else {
      attrs.auto_pad = ['string', auto];
      if (auto === 'VALID') pads = [...spatial.map(() => 0), ...spatial.map(() => 0)];
      else {
        const p = spatial.map((n, i) => samePads(n, kernel[i], strides[i], dil[i], auto === 'SAME_UPPER'));
        pads = [...p.map((q) => q[0]), ...p.map((q) => q[1])];
        if (pads.some((q, i) => q >= kernel[i % spatial.length])) return null;
      }
    }
    const out = spatial.map((n, i) =>
      auto.startsWith('SAME') ? Math.ceil(n / strides[i]) : poolOut(n, kernel[i], strides[i], pads[i], pads[i + spatial.length], dil[i], ceil),
    );
    if (out.some((d) => d < 1)) return null;
    return { attrs, shape: [...x.shape.slice(0, 2), ...out] };
  },

  pool(g, x) {
    if (x.shape.length < 3 || x.shape.length > 5) return null;
    // ORT's CPU AveragePool and LpPool have no double kernels.
    const op = g.dtype === 'float64' ? 'MaxPool' : g.pick(['AveragePool', 'MaxPool', 'LpPool']);
    const p = STEPS.poolAttrs(g, x, op);
    if (!p) return null;
    const withIndices = op === 'MaxPool' && g.chance(0.15);
    const [y] = g.node(op, [x.name], p.attrs, withIndices ? 2 : 1);
    return g.addVar(y, p.shape);
  },

  globalPool(g, x) {
    if (x.shape.length < 3 || x.shape.length > 5 || g.dtype === 'float64') return null; // no double kernels in ORT
    const op = g.pick(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
    const attrs = op === 'GlobalLpPool' && g.chance(0.7) ? { p: ['int', g.pick([1, 2, 3])] } : {};
    const [y] = g.node(op, [x.name], attrs);
    return g.addVar(y, [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)]);
  },

  l2pool(g, x) {
    if (x.shape.length < 3 || x.shape.length > 5 || g.dtype === 'float64') return null; // no double AveragePool in ORT
    const [sq] = g.node('Mul', [x.name, x.name]);
    let pooled, shape;
    if (g.chance(0.25)) {
      [pooled] = g.node('GlobalAveragePool', [sq]);
      shape = [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)];
    } else {
      const p = STEPS.poolAttrs(g, x, 'AveragePool');
      if (!p) return null;
      [pooled] = g.node('AveragePool', [sq], p.attrs);
      shape = p.shape;
    }
    // The portable export scales the mean before the root: sqrt(c * mean(x^2)) (or divides by c).
    const r = g.rng();
    if (r < 0.2) [pooled] = g.node('Mul', [pooled, g.floatConst([], [g.pick([4, 9, 0.5, 2])])]);
    else if (r < 0.3) [pooled] = g.node('Div', [pooled, g.floatConst([], [g.pick([0.25, 2, 4])])]);
    const [y] = g.node('Sqrt', [pooled]);
    return g.addVar(y, shape);
  },

  reduce(g, x) {
    const op = g.pick(['ReduceMax', 'ReduceMin', 'ReduceL2']);
    const r = x.shape.length;
    const axes = g
      .shuffled([...Array(r).keys()])
      .slice(0, g.int(1, r))
      .map((a) => g.axis(a, r));
    const keep = g.chance(0.6);
    const attrs = keep && g.chance(0.7) ? {} : { keepdims: ['int', keep ? 1 : 0] };
    const ins = [x.name];
    let set = new Set(axes.map((a) => (a + r) % r));
    if (g.opset >= 18) {
      const mode = g.rng();
      if (mode < 0.7) ins.push(g.intConst(axes));
      else if (mode < 0.85) set = new Set([...Array(r).keys()]);
      else {
        attrs.noop_with_empty_axes = ['int', 1];
        set = new Set();
      }
    } else if (g.chance(0.85)) attrs.axes = ['ints', axes];
    else set = new Set([...Array(r).keys()]);
    const shape = keep ? x.shape.map((d, i) => (set.has(i) ? 1 : d)) : x.shape.filter((_, i) => !set.has(i));
    const [y] = g.node(op, ins, attrs);
    return g.addVar(y, shape);
  },

  topk(g, x) {
    const r = x.shape.length;
    const a = g.int(0, r - 1);
    if (x.shape[a] < 1) return null;
    const k = g.int(1, x.shape[a]);
    const attrs = { axis: ['int', g.axis(a, r)] };
    if (g.chance(0.3)) attrs.largest = ['int', g.chance(0.5) ? 1 : 0];
    if (g.chance(0.1)) attrs.sorted = ['int', 0];
    const [y] = g.node('TopK', [x.name, g.intConst([k], [1])], attrs, 2);
    return g.addVar(
      y,
      x.shape.map((d, i) => (i === a ? k : d)),
    );
  },

  pad(g, x) {
    const r = x.shape.length;
    const mode = g.pick(['constant', 'constant', 'reflect', 'edge', ...(g.opset >= 19 ? ['wrap'] : [])]);
    const useAxes = g.opset >= 18 && g.chance(0.3);
    const axes = useAxes ? g.shuffled([...Array(r).keys()]).slice(0, g.int(1, r)) : [...Array(r).keys()];
    const pads = new Array(2 * axes.length).fill(0);
    axes.forEach((a, i) => {
      if (!g.chance(0.6)) return;
      const d = x.shape[a];
      const lim = mode === 'reflect' ? d - 1 : mode === 'wrap' ? d : 3;
      // Constant mode also crops with negative pads.
      const lo = mode === 'constant' && d > 1 ? -Math.min(d - 1, 2) : 0;
      pads[i] = g.int(lo, Math.max(lo, lim));
      pads[i + axes.length] = g.int(lo, Math.max(lo, lim));
      if (pads[i] + pads[i + axes.length] + d < 1) {
        pads[i] = 0;
        pads[i + axes.length] = 0;
      }
    });
    const shape = [...x.shape];
    axes.forEach((a, i) => {
      shape[a] += pads[i] + pads[i + axes.length];
    });
    if (sizeOf(shape) > MAX_VALUE_ELEMENTS || shape.some((d) => d < 1)) return null;
    const ins = [x.name, g.intConst(pads)];
    const attrs = mode !== 'constant' || g.chance(0.3) ? { mode: ['string', mode] } : {};
    if (mode === 'constant' && g.chance(0.4)) ins.push(g.floatConst([], [g.rng() * 2 - 1]));
    else if (useAxes) ins.push('');
    if (useAxes) ins.push(g.intConst(axes.map((a) => g.axis(a, r))));
    const [y] = g.node('Pad', ins, attrs);
    return g.addVar(y, shape);
  },

  reshape(g, x) {
    const n = sizeOf(x.shape);
    const rank = g.int(1, 5);
    let shape = factorShape(g, n, rank);
    const spec = shape.map(BigInt);
    // -1 for one dimension; 0 copies the input dimension where it matches.
    if (g.chance(0.5)) spec[g.int(0, rank - 1)] = -1n;
    spec.forEach((d, i) => {
      if (d !== -1n && i < x.shape.length && x.shape[i] === shape[i] && shape[i] !== 0 && g.chance(0.3)) spec[i] = 0n;
    });
    const attrs = {};
    if (g.opset >= 14 && !spec.includes(0n) && g.chance(0.3)) attrs.allowzero = ['int', 1];
    const [y] = g.node('Reshape', [x.name, g.intConst(spec)], attrs);
    return g.addVar(y, shape);
  },

  flatten(g, x) {
    const r = x.shape.length;
    const a = g.int(0, r);
    const axis = a < r && (g.corners.negativeAxes || g.chance(0.4)) ? a - r : a;
    const attrs = a === 1 && g.chance(0.3) ? {} : { axis: ['int', axis] };
    const [y] = g.node('Flatten', [x.name], attrs);
    return g.addVar(y, [sizeOf(x.shape.slice(0, a)), sizeOf(x.shape.slice(a))]);
  },

  squeeze(g, x) {
    const r = x.shape.length;
    const ones = x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
    if (ones.length === 0 || r === 1) return null;
    const all = g.chance(0.2);
    const axes = all ? ones : g.shuffled(ones).slice(0, g.int(1, ones.length));
    const set = new Set(axes);
    const ins = [x.name];
    if (!all) ins.push(g.intConst(axes.map((a) => g.axis(a, r))));
    const [y] = g.node('Squeeze', ins);
    return g.addVar(
      y,
      x.shape.filter((_, i) => !set.has(i)),
    );
  },

  unsqueeze(g, x) {
    const n = g.int(1, 2);
    const rank = x.shape.length + n;
    if (rank > 6) return null;
    const axes = g.shuffled([...Array(rank).keys()]).slice(0, n);
    const shape = [];
    let k = 0;
    for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : x.shape[k++]);
    const [y] = g.node('Unsqueeze', [x.name, g.intConst(axes.map((a) => g.axis(a, rank)))]);
    return g.addVar(y, shape);
  },

  transpose(g, x) {
    const r = x.shape.length;
    const perm = g.chance(0.15) ? null : g.shuffled([...Array(r).keys()]);
    const [y] = g.node('Transpose', [x.name], perm ? { perm: ['ints', perm] } : {});
    const p = perm ?? [...Array(r).keys()].reverse();
    return g.addVar(
      y,
      p.map((i) => x.shape[i]),
    );
  },

  depthSpace(g, x) {
    if (x.shape.length !== 4) return null;
    const [n, c, h, w] = x.shape;
    const opts = [];
    for (const bs of [2, 3]) {
      if (c % (bs * bs) === 0) opts.push(['DepthToSpace', bs]);
      if (h % bs === 0 && w % bs === 0) opts.push(['SpaceToDepth', bs]);
    }
    if (opts.length === 0) return null;
    const [op, bs] = g.pick(opts);
    const attrs = { blocksize: ['int', bs] };
    if (op === 'DepthToSpace' && g.chance(0.6)) attrs.mode = ['string', g.pick(['DCR', 'CRD'])];
    const [y] = g.node(op, [x.name], attrs);
    return g.addVar(y, op === 'DepthToSpace' ? [n, c / (bs * bs), h * bs, w * bs] : [n, c * bs * bs, h / bs, w / bs]);
  },

  slice(g, x) {
    const r = x.shape.length;
    const axes = g.shuffled([...Array(r).keys()]).slice(0, g.int(1, r));
    const starts = [],
      ends = [],
      steps = [];
    const shape = [...x.shape];
    for (const a of axes) {
      const d = x.shape[a];
      let step = g.chance(0.6) ? 1 : g.pick([2, 3, -1, -2]);
      if (g.corners.duplicate && g.chance(0.3)) step = 1;
      let s, e;
      if (step > 0) {
        s = g.int(0, d - 1);
        e = g.int(s + 1, d);
        let sv = BigInt(s);
        let ev = BigInt(e);
        if (g.chance(0.3)) sv = BigInt(s - d); // negative start
        if (e === d && g.chance(0.5)) ev = g.bigEnd(true);
        else if (g.chance(0.2)) ev = BigInt(e - d);
        if (s === 0 && g.chance(0.3)) sv = g.bigEnd(false);
        if (ev === 0n && e === d) ev = BigInt(d);
        starts.push(sv);
        ends.push(ev);
        shape[a] = Math.ceil((e - s) / step);
      } else {
        s = g.int(0, d - 1);
        e = g.int(-1, s - 1);
        let sv = BigInt(s);
        let ev = BigInt(e);
        if (s === d - 1 && g.chance(0.5)) sv = g.bigEnd(true);
        if (e === -1) ev = g.bigEnd(false);
        else if (g.chance(0.2)) ev = BigInt(e - d);
        starts.push(sv);
        ends.push(ev);
        shape[a] = Math.ceil((s - e) / -step);
      }
      steps.push(BigInt(step));
    }
    const ins = [x.name, g.intConst(starts), g.intConst(ends)];
    const defaultAxes = axes.every((a, i) => a === i);
    const needSteps = steps.some((s) => s !== 1n) || g.chance(0.3);
    if (!defaultAxes || needSteps || g.chance(0.5)) ins.push(g.intConst(axes.map((a) => g.axis(a, r))));
    if (needSteps) ins.push(g.intConst(steps));
    const [y] = g.node('Slice', ins);
    return g.addVar(y, shape);
  },

  split(g, x) {
    const r = x.shape.length;
    const a = g.int(0, r - 1);
    const d = x.shape[a];
    if (d < 2) return null;
    const parts = g.int(2, Math.min(3, d));
    const attrs = { axis: ['int', g.axis(a, r)] };
    const ins = [x.name];
    let sizes;
    if (g.chance(0.5)) {
      // Explicit sizes as an input.
      const cuts = g
        .shuffled([...Array(d - 1).keys()].map((i) => i + 1))
        .slice(0, parts - 1)
        .sort((p, q) => p - q);
      // Now and then an empty part (a zero-size output that nothing uses).
      if (g.chance(0.1)) cuts.splice(g.int(0, cuts.length), 0, g.pick([0, cuts[cuts.length - 1]]));
      cuts.sort((p, q) => p - q);
      sizes = [...cuts, d].map((c, i) => c - (i === 0 ? 0 : cuts[i - 1]));
      ins.push(g.intConst(sizes));
    } else {
      const chunk = Math.ceil(d / parts);
      sizes = [...Array(parts).keys()].map((i) => Math.max(0, Math.min(chunk, d - i * chunk)));
      if (sizes.some((s) => s === 0)) return null;
      if (g.opset >= 18) attrs.num_outputs = ['int', parts];
      else if (d % parts !== 0) return null;
    }
    const outs = g.node('Split', ins, attrs, sizes.length);
    const vals = outs.map((o, i) =>
      g.addVar(
        o,
        x.shape.map((q, j) => (j === a ? sizes[i] : q)),
      ),
    );
    return g.pick(vals.filter((_, i) => sizes[i] > 0));
  },

  gather(g, x) {
    const r = x.shape.length;
    const a = g.int(0, r - 1);
    const d = x.shape[a];
    const kind = g.rng();
    let dims, idx;
    const one = () => {
      const i = g.int(0, d - 1);
      return g.chance(0.3) ? i - d : i;
    };
    if (kind < 0.2) {
      dims = [];
      idx = [one()];
    } else if (kind < 0.8) {
      const n = g.int(1, Math.min(8, d + 3));
      dims = [n];
      idx = Array.from({ length: n }, one);
      if (g.corners.duplicate && n > 1) idx[n - 1] = idx[0];
    } else {
      dims = [g.int(1, 3), g.int(1, 3)];
      idx = Array.from({ length: sizeOf(dims) }, one);
    }
    const shape = [...x.shape.slice(0, a), ...dims, ...x.shape.slice(a + 1)];
    if (sizeOf(shape) > MAX_VALUE_ELEMENTS) return null;
    const attrs = a === 0 && g.chance(0.3) ? {} : { axis: ['int', g.axis(a, r)] };
    const [y] = g.node('Gather', [x.name, g.intConst(idx, dims)], attrs);
    return g.addVar(y, shape);
  },

  concat(g, x) {
    const r = x.shape.length;
    const a = g.int(0, r - 1);
    const fits = (v) => v.shape.length === r && v.shape.every((d, i) => i === a || d === x.shape[i]);
    const n = g.int(1, 3);
    const ins = [x.name];
    let total = x.shape[a];
    for (let i = 1; i < n; i++) {
      const others = g.vars.filter((v) => v !== x && fits(v));
      const c = g.rng();
      if (c < 0.4 || (g.corners.duplicate && c < 0.7)) {
        ins.push(x.name);
        total += x.shape[a];
      } else if (c < 0.75 && others.length > 0) {
        const v = g.pick(others);
        ins.push(v.name);
        total += v.shape[a];
      } else {
        const k = g.int(1, 3);
        const dims = x.shape.map((q, j) => (j === a ? k : q));
        ins.push(
          g.floatConst(
            dims,
            Array.from({ length: sizeOf(dims) }, () => g.rng() - 0.5),
          ),
        );
        total += k;
      }
    }
    const shape = x.shape.map((q, j) => (j === a ? total : q));
    if (sizeOf(shape) > MAX_VALUE_ELEMENTS) return null;
    const [y] = g.node('Concat', g.shuffled(ins), { axis: ['int', g.axis(a, r)] });
    return g.addVar(y, shape);
  },

  /** x [.., F] -> [1, F/k, k] groups, for the GroupSort patterns; null when no group size divides F. */
  groups(g, x, sizes) {
    const n = sizeOf(x.shape);
    const options = sizes.filter((k) => n % k === 0 && n / k >= 1);
    if (options.length === 0) return null;
    const k = g.pick(options);
    const [y] = g.node('Reshape', [x.name, g.intConst([1, n / k, k])]);
    return { name: y, shape: [1, n / k, k], k };
  },

  ungroup(g, name, x) {
    const [y] = g.node('Reshape', [name, g.intConst(x.shape)]);
    return g.addVar(y, x.shape);
  },

  groupSortReduce(g, x) {
    // GroupSort of size k as Reshape + ReduceMin/ReduceMax + Concat (exact sort for k = 2, min/max pair for k > 2).
    const gr = STEPS.groups(g, x, [2, 2, 3, 4]);
    if (!gr) return null;
    const attrs = g.opset >= 18 ? {} : { axes: ['ints', [-1]], keepdims: ['int', 1] };
    const ins = () => (g.opset >= 18 ? [gr.name, g.intConst([-1])] : [gr.name]);
    const [mn] = g.node('ReduceMin', ins(), attrs);
    const [mx] = g.node('ReduceMax', ins(), attrs);
    const [cat] = g.node('Concat', g.chance(0.8) ? [mn, mx] : [mx, mn], { axis: ['int', -1] });
    if (gr.k === 2) return STEPS.ungroup(g, cat, x);
    const [y] = g.node('Reshape', [cat, g.intConst([1, (sizeOf(x.shape) / gr.k) * 2])]);
    return g.addVar(y, [1, (sizeOf(x.shape) / gr.k) * 2]);
  },

  groupSortSplit(g, x) {
    // GroupSort2 as Split + Min + Max + Concat, or its Relu-arithmetic form max = a + relu(b - a), min = a - relu(a - b).
    const gr = STEPS.groups(g, x, [2]);
    if (!gr) return null;
    const splitAttrs = { axis: ['int', 2] };
    const splitIns = [gr.name];
    if (g.opset >= 18) splitAttrs.num_outputs = ['int', 2];
    else if (g.chance(0.5)) splitIns.push(g.intConst([1, 1]));
    const [a, b] = g.node('Split', splitIns, splitAttrs, 2);
    let mn, mx;
    if (g.chance(0.6)) {
      [mn] = g.node('Min', [a, b]);
      [mx] = g.node('Max', [a, b]);
    } else {
      const [d1] = g.node('Sub', [b, a]);
      const [r1] = g.node('Relu', [d1]);
      [mx] = g.node('Add', [a, r1]);
      const [d2] = g.node('Sub', [a, b]);
      const [r2] = g.node('Relu', [d2]);
      [mn] = g.node('Sub', [a, r2]);
    }
    const [cat] = g.node('Concat', [mn, mx], { axis: ['int', 2] });
    return STEPS.ungroup(g, cat, x);
  },

  maxMin(g, x) {
    // MaxMin: concat(relu(x), relu(-x)) along the last axis (or its Neg-first variant).
    const [r1] = g.node('Relu', [x.name]);
    const [ng] = g.node('Neg', [x.name]);
    const [r2] = g.node('Relu', [ng]);
    const r = x.shape.length;
    const [y] = g.node('Concat', [r1, r2], { axis: ['int', -1] });
    return g.addVar(
      y,
      x.shape.map((d, i) => (i === r - 1 ? 2 * d : d)),
    );
  },

  sortTopK(g, x) {
    // FullSort / GroupSort(k) as TopK over groups of k.
    const gr = STEPS.groups(g, x, [2, 3, 4, sizeOf(x.shape)]);
    if (!gr) return null;
    const [vals] = g.node('TopK', [gr.name, g.intConst([gr.k], [1])], { axis: ['int', -1] }, 2);
    return STEPS.ungroup(g, vals, x);
  },

  soup(g, x) {
    // Random Min/Max/Add/Sub/Relu/Neg gates over slices of one anchor, concatenated: looks like an activation block,
    // but may reuse a signal (not 1-Lipschitz), which the symbolic check must notice.
    const gr = STEPS.groups(g, x, [2, 3, 4]);
    if (!gr) return null;
    const splitAttrs = { axis: ['int', 2] };
    const splitIns = [gr.name];
    if (g.opset >= 18) splitAttrs.num_outputs = ['int', gr.k];
    const pool = g.node('Split', splitIns, splitAttrs, gr.k);
    const gates = g.int(1, 4);
    for (let i = 0; i < gates; i++) {
      const op = g.pick(['Min', 'Max', 'Add', 'Sub', 'Relu', 'Neg', 'Min', 'Max']);
      const a = g.pick(pool);
      if (op === 'Relu' || op === 'Neg') pool.push(g.node(op, [a])[0]);
      else pool.push(g.node(op, [a, g.pick(pool)])[0]);
    }
    const m = g.int(1, Math.min(4, pool.length));
    const chosen = [pool[pool.length - 1], ...Array.from({ length: m - 1 }, () => g.pick(pool))];
    const [cat] = g.node('Concat', chosen, { axis: ['int', 2] });
    const shape = [1, (sizeOf(x.shape) / gr.k) * chosen.length];
    const [y] = g.node('Reshape', [cat, g.intConst(shape)]);
    return g.addVar(y, shape);
  },

  // ---------- focus-only steps (family 'new-ops'): never drawn without a focus ----------

  batchNorm(g, x) {
    // Inference BatchNormalization: y = scale * (x - mean) / sqrt(var + eps) + bias per channel (axis 1).
    if (x.shape.length < 2) return null;
    const c = x.shape[1];
    const scaleKind = g.rng();
    const scale = Array.from({ length: c }, () => {
      if (scaleKind < 0.15) return g.pick([0, 1, -1, 30]) * (g.chance(0.5) ? 1 : g.rng() * 2 - 1);
      return g.normal() * g.pick([1, 1, 0.1, 5]);
    });
    const bias = Array.from({ length: c }, () => g.normal());
    const mean = Array.from({ length: c }, () => g.normal() * g.pick([0.1, 1, 10]));
    const eps = g.pick([1e-5, 1e-5, 1e-3, 0.1, 1, 0]);
    // Variances: order 1, tiny (large gains 1/sqrt(var + eps)) or exactly 0 (then eps > 0 keeps it finite).
    const variance = Array.from({ length: c }, () => {
      const v = g.rng() < 0.2 ? g.pick([1e-4, 1e-6, 0]) : g.rng() * 4 + 0.01;
      return v === 0 && eps === 0 ? 1e-3 : v;
    });
    const attrs = {};
    if (eps !== 1e-5 || g.chance(0.2)) attrs.epsilon = ['float', eps];
    if (g.chance(0.2)) attrs.momentum = ['float', g.pick([0.9, 0.1])];
    if (g.opset >= 14 && g.chance(0.2)) attrs.training_mode = ['int', 0];
    const ins = [
      x.name,
      g.floatConst([c], scale, 'bn_scale'),
      g.floatConst([c], bias, 'bn_bias'),
      g.floatConst([c], mean, 'bn_mean'),
      g.floatConst([c], variance, 'bn_var'),
    ];
    const [y] = g.node('BatchNormalization', ins, attrs);
    return g.addVar(y, x.shape);
  },

  leakyElu(g, x) {
    // alpha of any sign and size: the slope of the negative side is alpha (LeakyRelu) or up to alpha (Elu).
    if (g.dtype === 'float64') return null; // no double kernels in ORT
    const op = g.pick(['LeakyRelu', 'Elu']);
    const alpha = g.pick([null, 0.01, 0.2, 1, 1.5, 3, 10, -0.5, -2, 0, g.rng() * 8 - 4]);
    const [y] = g.node(op, [x.name], alpha === null ? {} : { alpha: ['float', alpha] });
    return g.addVar(y, x.shape);
  },

  clip(g, x) {
    // Clip(x, min, max): attributes before opset 11, optional constant scalar inputs after ('' skips min).
    const lo = g.chance(0.75) ? (g.rng() * 2 - 1) * g.pick([0.5, 1, 3]) : null;
    let hi = g.chance(0.75) ? (g.rng() * 2 - 1) * g.pick([0.5, 1, 3]) : null;
    if (g.opset <= 11 && g.dtype === 'float64') return null; // ORT's Clip-6 and Clip-11 have no double kernel
    // min > max now and then from opset 11 (ORT's Clip-6 refuses it).
    if (lo !== null && hi !== null && (g.opset < 11 || g.chance(0.8))) hi = Math.max(hi, lo + g.pick([0, 0.1, 1]));
    const ins = [x.name];
    const attrs = {};
    if (g.opset < 11) {
      if (lo !== null) attrs.min = ['float', lo];
      if (hi !== null) attrs.max = ['float', hi];
    } else {
      if (lo !== null || hi !== null) ins.push(lo === null ? '' : g.floatConst([], [lo], 'clip_min'));
      if (hi !== null) ins.push(g.floatConst([], [hi], 'clip_max'));
    }
    const [y] = g.node('Clip', ins, attrs);
    return g.addVar(y, x.shape);
  },

  padModes(g, x) {
    // Pad in reflect, edge or wrap mode (wrap from opset 19) with pads up to several entries wide: reflect needs
    // pads < dim, wrap pads <= dim (onnxruntime), edge any size. Pads are an attribute before opset 11.
    const r = x.shape.length;
    const mode = g.pick(['reflect', 'edge', 'edge', ...(g.opset >= 19 ? ['wrap', 'wrap'] : [])]);
    const useAxes = g.opset >= 18 && g.chance(0.3);
    const axes = useAxes ? g.shuffled([...Array(r).keys()]).slice(0, g.int(1, r)) : [...Array(r).keys()];
    const pads = new Array(2 * axes.length).fill(0);
    axes.forEach((a, i) => {
      if (a === 0 && g.chance(0.8)) return; // mostly not the batch axis
      if (!g.chance(0.7)) return;
      const d = x.shape[a];
      const lim = mode === 'reflect' ? d - 1 : mode === 'wrap' ? d : g.pick([2, 5, 8]);
      pads[i] = g.int(0, lim);
      pads[i + axes.length] = g.int(0, lim);
    });
    const shape = [...x.shape];
    axes.forEach((a, i) => {
      shape[a] += pads[i] + pads[i + axes.length];
    });
    if (sizeOf(shape) > MAX_VALUE_ELEMENTS) return null;
    const attrs = { mode: ['string', mode] };
    const ins = [x.name];
    if (g.opset < 11) attrs.pads = ['ints', pads];
    else {
      ins.push(g.intConst(pads));
      if (useAxes) ins.push('', g.intConst(axes.map((a) => g.axis(a, r))));
    }
    const [y] = g.node('Pad', ins, attrs);
    return g.addVar(y, shape);
  },

  expand(g, x) {
    // Expand (opset 8): of x itself (a broadcast copy; lip folds Expand only, so it must refuse cleanly), or of a
    // constant whose expansion is then added to or multiplied with x (folded into a constant).
    if (g.opset < 8) return null;
    if (g.chance(0.15)) {
      let target = x.shape.map((d) => (d === 1 && g.chance(0.5) ? g.int(2, 3) : g.chance(0.3) ? 1 : d));
      if (g.chance(0.3)) target = [g.int(1, 2), ...target];
      const out = broadcast(x.shape, target);
      if (!out || sizeOf(out) > MAX_VALUE_ELEMENTS) return null;
      const [y] = g.node('Expand', [x.name, g.intConst(target)]);
      return g.addVar(y, out);
    }
    const small = x.shape.map((d) => (g.chance(0.5) ? 1 : d));
    const target = g.chance(0.5) ? [...x.shape] : x.shape.map((d, i) => (small[i] === 1 && g.chance(0.5) ? 1 : d));
    const op = g.pick(['Add', 'Mul']);
    const n = sizeOf(small);
    const values = op === 'Add' ? Array.from({ length: n }, () => g.rng() * 2 - 1) : g.weights(n, 1);
    const [c] = g.node('Expand', [g.floatConst(small, values, 'e'), g.intConst(target)]);
    const [y] = g.node(op, g.chance(0.5) ? [x.name, c] : [c, x.name]);
    return g.addVar(y, broadcast(x.shape, broadcast(small, target)));
  },

  castDropout(g, x) {
    // Identities in inference: Cast to the same float type, a float32/float64 round trip (the middle value is
    // not probed: its element type differs from the declared outputs'), or Dropout (ratio an attribute before
    // opset 12, an optional constant input after; a mask output now and then).
    const kind = g.pick(['cast', 'roundTrip', 'dropout', 'dropout']);
    const code = { float32: 1, float64: 11 };
    if (kind === 'cast') {
      const [y] = g.node('Cast', [x.name], { to: ['int', code[g.dtype]] });
      return g.addVar(y, x.shape);
    }
    if (kind === 'roundTrip') {
      const [mid] = g.node('Cast', [x.name], { to: ['int', code[g.dtype === 'float32' ? 'float64' : 'float32']] });
      const [y] = g.node('Cast', [mid], { to: ['int', code[g.dtype]] });
      return g.addVar(y, x.shape);
    }
    const ratio = g.pick([0.5, 0.1, 0.9, 0]);
    const ins = [x.name];
    const attrs = {};
    if (g.opset < 12) {
      if (g.chance(0.6)) attrs.ratio = ['float', ratio];
    } else if (g.chance(0.5)) ins.push(g.floatConst([], [ratio], 'ratio'));
    const [y] = g.node('Dropout', ins, attrs, g.chance(0.2) ? 2 : 1);
    return g.addVar(y, x.shape);
  },

  powL2pool(g, x) {
    // The L2 pool written with Pow: Pow(AveragePool(Pow(x, 2)), 0.5); now and then a bare Pow(x, 2) or
    // Pow(|x| + c, 0.5), which are not Lipschitz (lip must refuse).
    if (g.opset < 11) return null;
    const pow = (v, e) => g.node('Pow', [v, g.floatConst(g.chance(0.7) ? [] : [1], [e], 'exp')])[0];
    const bare = g.rng();
    if (bare < 0.15) return g.addVar(pow(x.name, 2), x.shape);
    if (bare < 0.25) {
      const [a] = g.node('Abs', [x.name]);
      const [b] = g.node('Add', [a, g.floatConst([], [g.pick([0, 0.5, 1])])]);
      return g.addVar(pow(b, 0.5), x.shape);
    }
    if (x.shape.length < 3 || x.shape.length > 5 || g.dtype === 'float64') return null; // no double AveragePool in ORT
    const p = STEPS.poolAttrs(g, x, 'AveragePool');
    if (!p) return null;
    const [pooled] = g.node('AveragePool', [pow(x.name, 2)], p.attrs);
    return g.addVar(pow(pooled, 0.5), p.shape);
  },
};

/** A random input shape of at most MAX_INPUT_ELEMENTS elements: [1, F], [1, C, L], [1, C, H, W] or rarely [1, C, D, H, W]. */
function inputShape(g) {
  for (;;) {
    const r = g.rng();
    let shape;
    if (r < 0.3) shape = [1, g.int(1, 48)];
    else if (r < 0.45) shape = [1, g.int(1, 6), g.int(1, 16)];
    else if (r < 0.97) shape = [1, g.int(1, 6), g.int(1, 9), g.int(1, 9)];
    else shape = [1, g.int(1, 2), g.int(1, 4), g.int(1, 4), g.int(1, 4)];
    if (g.corners.poolCorners && shape.length < 3) continue;
    if (g.corners.convCorners && shape.length < 3) continue;
    if (sizeOf(shape) <= MAX_INPUT_ELEMENTS) return shape;
  }
}

/**
 * Draws one graph. `rng` is a function returning floats in [0, 1) (mulberry32).
 * Options: `focus` (a key of FOCUS), `opset`, `dtype`, `steps` (count).
 * Returns a JSON-able spec for `encodeModel`.
 */
function generateGraph(rng, opts = {}) {
  const g = new Gen(rng, opts);
  const shape = inputShape(g);
  const input = g.addVar('x', shape);
  g.names.add('x');
  const declared = g.chance(0.5) ? ['N', ...shape.slice(1)] : shape;
  const allowed = g.focus ? g.focus.steps : Object.keys(STEP_WEIGHTS);
  const weights = allowed.map((s) => STEP_WEIGHTS[s] ?? FOCUS_ONLY_WEIGHTS[s]);
  const totalWeight = weights.reduce((a, w) => a + w, 0);
  const drawStep = () => {
    let t = g.rng() * totalWeight;
    for (let i = 0; i < allowed.length; i++) if ((t -= weights[i]) < 0) return allowed[i];
    return allowed[allowed.length - 1];
  };
  const count = opts.steps ?? g.int(1, 6);
  let cur = input;
  for (let s = 0; s < count; s++) {
    for (let attempt = 0; attempt < 30; attempt++) {
      const step = drawStep();
      const mark = { nodes: g.nodes.length, inits: g.inits.length, vars: g.vars.length };
      const next = STEPS[step](g, cur);
      // Scalars only as the last value (most ops need an axis).
      const rankOk = next && (next.shape.length >= 1 || (s === count - 1 && g.chance(0.3)));
      if (rankOk && sizeOf(next.shape) >= 1 && sizeOf(next.shape) <= MAX_VALUE_ELEMENTS) {
        g.steps.push(step);
        cur = next;
        break;
      }
      // Roll back whatever the failed step added.
      g.nodes.length = mark.nodes;
      g.inits.length = mark.inits;
      g.vars.length = mark.vars;
    }
  }
  if (cur === input) {
    const [y] = g.node('Identity', [input.name]);
    cur = g.addVar(y, input.shape);
    g.steps.push('identity');
  }
  // Now and then a second declared output: the bound is of the first one.
  const extra = g.vars.filter((v) => v !== cur && v !== input);
  const outputs = [cur.name];
  if (extra.length > 0 && g.chance(0.1)) outputs.push(g.pick(extra).name);
  return {
    opset: g.opset,
    dtype: g.dtype,
    focus: opts.focus ?? null,
    input: { name: 'x', shape: declared },
    nodes: g.nodes,
    inits: g.inits,
    outputs,
    /** Input-dependent float values, in creation order (the probe model reports their shapes). */
    values: g.vars.filter((v) => v !== input).map((v) => v.name),
    /** The generator's own idea of each value's shape (for debugging the generator only). */
    expectedShapes: Object.fromEntries(g.vars.map((v) => [v.name, v.shape])),
    steps: g.steps,
  };
}

// ---------- encoding ----------
const DT = onnx.TensorProto.DataType;
const ELEM = { float32: DT.FLOAT, float64: DT.DOUBLE, int64: DT.INT64 };
const AT = onnx.AttributeProto.AttributeType;

function tensorProto(name, t) {
  const n = t.data.length;
  let raw;
  if (t.dtype === 'int64') {
    raw = new Uint8Array(n * 8);
    const view = new DataView(raw.buffer);
    t.data.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  } else if (t.dtype === 'float64') {
    raw = new Uint8Array(n * 8);
    const view = new DataView(raw.buffer);
    t.data.forEach((v, i) => view.setFloat64(8 * i, v, true));
  } else {
    raw = new Uint8Array(n * 4);
    const view = new DataView(raw.buffer);
    t.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  }
  return { name, dims: t.dims, dataType: ELEM[t.dtype], rawData: raw };
}

/** int64 attribute values as protobufjs Longs (numbers lose precision beyond 2^53). */
function longOf(v) {
  const b = BigInt.asUintN(64, BigInt(v));
  return { low: Number(b & 0xffffffffn) | 0, high: Number(b >> 32n) | 0, unsigned: false };
}

function attributeProto(name, [type, v]) {
  switch (type) {
    case 'int':
      return { name, type: AT.INT, i: longOf(v) };
    case 'ints':
      return { name, type: AT.INTS, ints: v.map(longOf) };
    case 'float':
      return { name, type: AT.FLOAT, f: v };
    case 'floats':
      return { name, type: AT.FLOATS, floats: v };
    case 'string':
      return { name, type: AT.STRING, s: Buffer.from(v, 'utf8') };
    case 'tensor':
      return { name, type: AT.TENSOR, t: tensorProto('', v) };
    default:
      throw new RangeError(`attribute '${name}': unknown type '${type}'`);
  }
}

function valueInfo(name, elemType, dims) {
  const tensorType = { elemType: ELEM[elemType] };
  if (dims) tensorType.shape = { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

/** IR version of an opset (onnx/helper.py VERSION_TABLE). */
function irVersion(opset) {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/**
 * ONNX bytes of `spec`. With `probe: true` every intermediate input-dependent
 * value is also a graph output (after the declared ones), so onnxruntime
 * reports its shape, and the input's dimensions are symbolic.
 */
function encodeModel(spec, { probe = false } = {}) {
  const outputs = [...spec.outputs];
  if (probe) for (const v of spec.values) if (!outputs.includes(v)) outputs.push(v);
  const model = onnx.ModelProto.create({
    irVersion: irVersion(spec.opset),
    producerName: 'lip-fuzz',
    opsetImport: [{ domain: '', version: spec.opset }],
    graph: {
      name: 'fuzz',
      node: spec.nodes.map((n) => ({
        opType: n.op,
        name: n.name,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attributeProto(k, v)),
      })),
      initializer: spec.inits.map((t) => tensorProto(t.name, t)),
      // The probe declares every input dimension symbolic: onnxruntime's static shape inference (ONNX's) then
      // cannot disagree with its kernels (it sizes ceil_mode pools without the kernels' last-window rule).
      input: [valueInfo(spec.input.name, spec.dtype, probe ? spec.input.shape.map((_, i) => `d${i}`) : spec.input.shape)],
      output: outputs.map((o) => valueInfo(o, spec.dtype, null)),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** One line per node: `name: Op(inputs) -> outputs {attrs}`, with small constants inlined. */
function describeGraph(spec) {
  const consts = new Map();
  for (const t of spec.inits) consts.set(t.name, t);
  for (const n of spec.nodes) if (n.op === 'Constant' && n.attrs.value) consts.set(n.outputs[0], n.attrs.value[1]);
  const show = (name) => {
    const t = consts.get(name);
    if (!t) return name;
    const data = t.data.length <= 8 ? `[${t.data.map((v) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v)).join(', ')}]` : `<${t.data.length} values>`;
    return `${name}=${t.dtype}${JSON.stringify(t.dims)}${data}`;
  };
  const attr = ([k, [, v]]) => `${k}=${typeof v === 'object' && !Array.isArray(v) ? 'tensor' : JSON.stringify(v)}`;
  const lines = [`opset ${spec.opset}, ${spec.dtype} input ${JSON.stringify(spec.input.shape)}, outputs ${spec.outputs.join(', ')}`];
  for (const n of spec.nodes) {
    if (n.op === 'Constant') continue;
    const attrs = Object.keys(n.attrs).length ? ` {${Object.entries(n.attrs).map(attr).join(' ')}}` : '';
    lines.push(`  ${n.name}: ${n.op}(${n.inputs.map((i) => (i ? show(i) : "''")).join(', ')}) -> ${n.outputs.join(', ')}${attrs}`);
  }
  return lines.join('\n');
}

/** The graph seed of graph `index` in a run with seed `runSeed` (a 32-bit mix, so neighbouring runs do not overlap). */
function graphSeed(runSeed, index) {
  let h = (Math.imul(runSeed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

module.exports = {
  FOCUS,
  STEP_WEIGHTS,
  FOCUS_ONLY_WEIGHTS,
  OPSET_MIN,
  OPSET_MAX,
  MAX_INPUT_ELEMENTS,
  generateGraph,
  encodeModel,
  describeGraph,
  graphSeed,
};
