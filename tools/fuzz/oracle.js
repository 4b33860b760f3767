'use strict';
/**
 * The oracle of the `lip bound` differential fuzzer: runs `lipschitzBound` on
 * a generated graph and checks it against onnxruntime alone.
 *
 *  - Lower bound: at a few random points x, a central finite-difference
 *    Jacobian J (columns (f(x + h e_i) - f(x - h e_i)) / 2h, float64
 *    accumulation), its top right singular vector v (power iteration), then
 *    exact difference quotients ||f(a) - f(b)|| / ||a - b|| along v (there
 *    and at further random points), along random directions, and between
 *    random far points. Every quotient is a
 *    true lower bound on the Lipschitz constant of input -> first output
 *    whatever the kinks (FD columns across a kink are only secants, so J's
 *    norm itself is reported as `estimate` and never asserted). Each
 *    quotient first loses the rounding allowance
 *    tau = REL_TOL * (||f(a)|| + ||f(b)||) of onnxruntime's float arithmetic.
 *  - Shapes: the probe model declares every intermediate value as an output;
 *    each row of lip's per-layer table must have the shape onnxruntime
 *    computes for the value it describes (the output of the last node of the
 *    row; for a node with several outputs, one of them), and lip's
 *    `outputShape` must be the first output's shape without the batch axis.
 *
 * Outcomes: ok, unsound (bound < lower * (1 - 1e-4)), shape-mismatch, crash
 * (lip threw something that is not a LipError), slow (lip took longer than
 * `slowMs`), refused (a clean LipError), invalid (onnxruntime rejects the
 * graph: a generator miss, counted), nonfinite (onnxruntime's outputs are not
 * finite at the sample points, so nothing can be measured), imprecise (the
 * bound is below the lower bound, but onnxruntime squared values so small
 * that their squares are subnormal, so its outputs are not trusted).
 */
const { requireEngine } = require('@lip/core');
const { lipschitzBound } = require('@lip/verify');
const { mulberry32 } = require('@lip/train');
const { encodeModel } = require('./graphs');

// onnxruntime-node when installed, else onnxruntime-web (LIP_ENGINE picks one).
const { ort } = requireEngine();

/** Soundness slack of the assertion bound >= lower * (1 - SOUNDNESS_SLACK). */
const SOUNDNESS_SLACK = 1e-4;
/** Rounding allowance relative to the output norms, per element type. */
const REL_TOL = { float32: 2e-6, float64: 1e-13 };
/** Finite-difference step (inputs are of order 1). */
const FD_STEP = { float32: 1e-3, float64: 1e-6 };
/** Half-lengths of the secants along the top singular direction. */
const SECANTS = { float32: [0.5, 0.05, 0.005], float64: [0.5, 1e-3, 1e-6] };
const POWER_ITERATIONS = 60;
/** Further random points at which each top singular direction is tried. */
const EXTRA_POINTS = 6;
const DEFAULT_SLOW_MS = 5000;

const OUTCOMES = ['ok', 'unsound', 'shape-mismatch', 'crash', 'slow', 'refused', 'invalid', 'nonfinite', 'imprecise'];
/**
 * Below this magnitude a value's square is subnormal or zero (sqrt of the
 * smallest normal, with a margin): onnxruntime's L2 reductions and Lp pools
 * then lose precision, so its outputs cannot support a lower bound.
 */
const SQUARE_UNDERFLOW = { float32: 1e-18, float64: 1e-153 };
/** Ops that square their input in onnxruntime. */
const SQUARING_OPS = new Set(['ReduceL2', 'LpPool', 'GlobalLpPool', 'Mul', 'Pow']);

/** The sample points' generator: the project's mulberry32 (@lip/train), on a 32-bit seed. */
function pointRng(seed) {
  return mulberry32(seed >>> 0);
}

function normalSampler(rng) {
  return () => Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());
}

function norm(a) {
  // Scaled, so that tiny (1e-200) and large values neither underflow nor overflow when squared.
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  if (m === 0 || !Number.isFinite(m)) return m;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] / m) ** 2;
  return m * Math.sqrt(s);
}

function diffNorm(a, b) {
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  return norm(d);
}

const isFiniteArray = (a) => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
};

/**
 * Largest singular value of the column-major `cols` (d columns of length m)
 * and its right singular vector, by power iteration on J^T J after scaling J
 * to a largest entry of 1 (so 1e-200 entries do not underflow when squared).
 */
function topSingular(cols, m, rng) {
  const d = cols.length;
  let scale = 0;
  for (const c of cols) for (let r = 0; r < m; r++) scale = Math.max(scale, Math.abs(c[r]));
  if (scale === 0 || !Number.isFinite(scale)) return { sigma: scale, v: null };
  let v = Float64Array.from({ length: d }, () => rng() - 0.5 + 1e-3);
  let sigma = 0;
  const w = new Float64Array(m);
  for (let it = 0; it < POWER_ITERATIONS; it++) {
    const nv = norm(v);
    for (let i = 0; i < d; i++) v[i] /= nv;
    w.fill(0);
    for (let i = 0; i < d; i++) {
      const c = cols[i];
      const vi = v[i] / scale;
      if (vi !== 0) for (let r = 0; r < m; r++) w[r] += c[r] * vi;
    }
    sigma = norm(w) * scale;
    const next = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      const c = cols[i];
      let s = 0;
      for (let r = 0; r < m; r++) s += (c[r] / scale) * w[r];
      next[i] = s;
    }
    if (norm(next) === 0) break;
    v = next;
  }
  const nv = norm(v);
  for (let i = 0; i < d; i++) v[i] /= nv;
  return { sigma, v };
}

/**
 * The precision of a graph's arithmetic, which sets the rounding allowance,
 * FD step and secants: its element type, or float32 when a float64 graph
 * rounds through a Cast to float32 (lip bounds the real-valued function).
 */
function precisionOf(spec) {
  const narrows = spec.nodes.some((n) => n.op === 'Cast' && n.attrs.to && Number(n.attrs.to[1]) === 1);
  return narrows ? 'float32' : spec.dtype;
}

/** Runs the first output of `session` on one sample (batch 1). */
function evaluator(session, spec) {
  const shape = spec.input.shape.map((d) => (typeof d === 'number' ? d : 1));
  const out = spec.outputs[0];
  const Arr = spec.dtype === 'float64' ? Float64Array : Float32Array;
  let runs = 0;
  const f = async (x) => {
    runs++;
    const res = await session.run({ [spec.input.name]: new ort.Tensor(spec.dtype === 'float64' ? 'float64' : 'float32', x, shape) }, [out]);
    return Float64Array.from(res[out].data);
  };
  return { f, Arr, count: () => runs };
}

/**
 * Lower bound on the Lipschitz constant of input -> first output, from
 * onnxruntime only. Returns { lower, raw, estimate, runs, nonfinite }: `lower`
 * after the rounding allowance, `raw` without it, `estimate` the largest FD
 * Jacobian norm (not a bound).
 */
async function lowerBound(session, spec, d, seed) {
  const rng = pointRng(seed ^ 0x5bd1e995);
  const normal = normalSampler(rng);
  const { f, Arr, count } = evaluator(session, spec);
  const precision = precisionOf(spec);
  const tol = REL_TOL[precision];
  let lower = 0,
    raw = 0,
    estimate = 0,
    finite = 0,
    total = 0;
  const quotient = (a, b, fa, fb) => {
    total++;
    if (!isFiniteArray(fa) || !isFiniteArray(fb)) return;
    finite++;
    const dx = diffNorm(a, b);
    if (!(dx > 0)) return;
    const df = diffNorm(fa, fb);
    raw = Math.max(raw, df / dx);
    lower = Math.max(lower, Math.max(0, df - tol * (norm(fa) + norm(fb))) / dx);
  };
  const pair = async (a, b) => quotient(a, b, await f(a), await f(b));
  const points = [Arr.from({ length: d }, normal), Arr.from({ length: d }, () => 0.1 * normal())];
  if (d <= 64) points.push(Arr.from({ length: d }, () => rng()));
  const h = FD_STEP[precision];
  const directions = [];
  for (const x of points) {
    const cols = [];
    let m = 0;
    for (let i = 0; i < d; i++) {
      const a = Arr.from(x);
      a[i] += h;
      const b = Arr.from(x);
      b[i] -= h;
      const fa = await f(a);
      const fb = await f(b);
      quotient(a, b, fa, fb);
      m = fa.length;
      const step = a[i] - b[i];
      cols.push(Float64Array.from(fa, (v, r) => (v - fb[r]) / step));
    }
    if (m === 0 || !cols.every(isFiniteArray)) continue;
    const { sigma, v } = topSingular(cols, m, rng);
    estimate = Math.max(estimate, sigma);
    if (v) directions.push(v);
    const dirs = [];
    if (v) dirs.push(...SECANTS[precision].map((t) => [v, t]));
    for (let k = 0; k < 2; k++) {
      const u = Float64Array.from({ length: d }, normal);
      const nu = norm(u);
      dirs.push([u.map((q) => q / nu), 0.01]);
    }
    for (const [dir, t] of dirs)
      await pair(
        Arr.from(x, (q, i) => q + t * dir[i]),
        Arr.from(x, (q, i) => q - t * dir[i]),
      );
  }
  // Each top direction again at other points: piecewise-linear nets stretch most where other units are active.
  for (const v of directions) {
    for (let k = 0; k < EXTRA_POINTS; k++) {
      const scale = k % 2 === 0 ? 1 : 0.1;
      const x = Float64Array.from({ length: d }, () => scale * normal());
      await pair(
        Arr.from(x, (q, i) => q + 0.05 * v[i]),
        Arr.from(x, (q, i) => q - 0.05 * v[i]),
      );
    }
  }
  for (let k = 0; k < 2; k++) await pair(Arr.from({ length: d }, normal), Arr.from({ length: d }, normal));
  return { lower, raw, estimate, runs: count(), nonfinite: finite === 0 && total > 0 };
}

const SESSION_OPTIONS = {
  executionMode: 'sequential',
  interOpNumThreads: 1,
  intraOpNumThreads: 1,
  graphOptimizationLevel: 'disabled',
  logSeverityLevel: 4,
};

function firstLine(err) {
  return String(err && err.message !== undefined ? err.message : err)
    .split('\n')[0]
    .slice(0, 400);
}

const sameShape = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Rows of lip's per-layer table whose shape differs from onnxruntime's. */
function compareShapes(spec, res, dims) {
  const issues = [];
  const byName = new Map(spec.nodes.map((n) => [n.name, n]));
  for (const layer of res.layers) {
    const last = layer.nodes[layer.nodes.length - 1] ?? layer.node;
    const node = byName.get(last);
    if (!node) {
      issues.push(`layer row '${layer.node}' (${layer.op}) names node '${last}', which is not in the graph`);
      continue;
    }
    const outs = node.outputs.filter((o) => dims.has(o));
    if (outs.length === 0) continue;
    if (!outs.some((o) => sameShape(dims.get(o), layer.outputShape))) {
      issues.push(
        `${node.op} '${node.name}' (row ${layer.op}): lip [${layer.outputShape.join(', ')}], onnxruntime ` +
          outs.map((o) => `[${dims.get(o).join(', ')}]`).join(' or '),
      );
    }
  }
  const out = dims.get(spec.outputs[0]);
  if (out && !sameShape(out.slice(1), res.outputShape)) {
    issues.push(`outputShape: lip [${res.outputShape.join(', ')}], onnxruntime [${out.slice(1).join(', ')}] ` + '(first output without the batch axis)');
  }
  return issues;
}

/**
 * Checks one graph spec. Options: `seed` (sample points), `slowMs`, `bound`
 * (the function under test, default @lip/verify's lipschitzBound; the test
 * swaps in wrong ones to show the oracle catches them). Returns
 * { outcome, bound, lower, raw, estimate, ratio, lipMs, totalMs, message, shapeIssues, lipCrashOnInvalid }.
 */
async function checkGraph(spec, opts = {}) {
  const start = Date.now();
  const slowMs = opts.slowMs ?? DEFAULT_SLOW_MS;
  const result = {
    outcome: 'ok',
    bound: null,
    lower: null,
    raw: null,
    estimate: null,
    ratio: null,
    lipMs: 0,
    totalMs: 0,
    message: '',
    shapeIssues: [],
  };
  const bytes = encodeModel(spec);
  let lip = null;
  let lipError = null;
  const t0 = Date.now();
  try {
    lip = (opts.bound ?? lipschitzBound)(bytes);
  } catch (err) {
    lipError = err;
  }
  result.lipMs = Date.now() - t0;

  let session;
  try {
    session = await ort.InferenceSession.create(encodeModel(spec, { probe: true }), SESSION_OPTIONS);
  } catch (err) {
    result.outcome = 'invalid';
    result.message = `onnxruntime: ${firstLine(err)}`;
    if (lipError && typeof lipError.exitCode !== 'number') result.lipCrashOnInvalid = firstLine(lipError);
    result.totalMs = Date.now() - start;
    return result;
  }
  try {
    const shape = spec.input.shape.map((d) => (typeof d === 'number' ? d : 1));
    const d = shape.reduce((a, q) => a * q, 1);
    const rng = pointRng(opts.seed ?? 1);
    const x0 = (spec.dtype === 'float64' ? Float64Array : Float32Array).from({ length: d }, () => rng() * 2 - 1);
    let probe;
    try {
      probe = await session.run({ [spec.input.name]: new ort.Tensor(spec.dtype, x0, shape) });
    } catch (err) {
      result.outcome = 'invalid';
      result.message = `onnxruntime run: ${firstLine(err)}`;
      if (lipError && typeof lipError.exitCode !== 'number') result.lipCrashOnInvalid = firstLine(lipError);
      return result;
    }
    const dims = new Map(Object.entries(probe).map(([k, t]) => [k, t.dims.map(Number)]));
    const tiny = SQUARE_UNDERFLOW[spec.dtype];
    const imprecise =
      spec.nodes.some((n) => SQUARING_OPS.has(n.op)) &&
      Object.values(probe).some((t) => t.type === spec.dtype && t.data.some((q) => q !== 0 && Math.abs(q) < tiny));

    if (lipError) {
      const clean = typeof lipError.exitCode === 'number';
      result.outcome = clean ? 'refused' : 'crash';
      const stack = String(lipError && lipError.stack)
        .split('\n')
        .slice(1, 6)
        .join('\n');
      result.message = clean ? firstLine(lipError) : `${lipError && lipError.name}: ${firstLine(lipError)}\n${stack}`;
      return result;
    }
    result.bound = lip.total;
    result.shapeIssues = compareShapes(spec, lip, dims);

    const outData = probe[spec.outputs[0]].data;
    if (outData.length === 0) return result;
    const lb = await lowerBound(session, spec, d, opts.seed ?? 1);
    Object.assign(result, { lower: lb.lower, raw: lb.raw, estimate: lb.estimate, runs: lb.runs });
    result.ratio = lip.total > 0 ? lb.lower / lip.total : lb.lower > 0 ? Infinity : 0;
    const unsoundRaw = !(lip.total >= lb.lower * (1 - SOUNDNESS_SLACK));
    const unsound = unsoundRaw && !imprecise;
    if (unsound) {
      result.outcome = 'unsound';
      result.message = `bound ${lip.total} < lower bound ${lb.lower} (ratio ${result.ratio})`;
    } else if (result.shapeIssues.length > 0) {
      result.outcome = 'shape-mismatch';
      result.message = result.shapeIssues.join('; ');
    } else if (lb.nonfinite) {
      result.outcome = 'nonfinite';
    } else if (imprecise && unsoundRaw) {
      result.outcome = 'imprecise';
      result.message = `bound ${lip.total} < lower bound ${lb.lower}, but onnxruntime squares values below ${tiny} (subnormal squares)`;
    } else if (result.lipMs > slowMs) {
      result.outcome = 'slow';
      result.message = `lipschitzBound took ${result.lipMs} ms`;
    }
    return result;
  } finally {
    result.totalMs = Date.now() - start;
    await session.release();
  }
}

/** Op types of a spec (without Constant), for per-op counts. */
function opsOf(spec) {
  return [...new Set(spec.nodes.map((n) => n.op).filter((op) => op !== 'Constant'))].sort();
}

module.exports = { OUTCOMES, SOUNDNESS_SLACK, checkGraph, lowerBound, opsOf, topSingular };
