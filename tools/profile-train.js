#!/usr/bin/env node
/**
 * npm run profile: where one training step goes, kernel by kernel, on the
 * wasm backend in ONE thread.
 *
 *   node tools/profile-train.js [--arch seed] [--batch 4096] [--steps 3] [--warmup 1] [--plain 1]
 *                               [--kernels simd|composed|both] [--data DIR] [--random] [--seed N] [--top N] [--json FILE]
 *
 * The step is the one `train()` runs with `--workers 1` (train.ts), built
 * from the library's own functions: batch <= TRAIN_CHUNK_ROWS: updateConstraints()
 * (power iteration), tf.variableGrads of the HKR loss over the model, Adam's
 * applyGradients, the [loss, acc, KR] stats read back; larger batches:
 * updateConstraints(), batchStatistics, shardGradients (Björck to freeze
 * the kernels, the chunks' forward + backward, then Björck again with its
 * gradient), Adam. With W
 * data-parallel workers each worker runs shardGradients on batch/W rows and
 * the main thread updateConstraints + Adam: this profile is the work they share.
 *
 * Steps: `--warmup` unprofiled steps (XNNPACK operator setup, heap growth),
 * `--plain` unprofiled timed steps (the wall time without the profiler), then
 * `--steps` steps under tf.profile. Kernel times are tf.profile's
 * kernelTimeMs (the wasm backend's timer: the synchronous wall time of each
 * kernel call), as self times: kernels run inside another kernel's call
 * (the Identity clones the tape keeps) are subtracted from it and counted on
 * their own. Each kernel call is also tagged with what issued it (which
 * layer, forward or gradient, normalization, loss, optimizer) by wrapping
 * the layers' call(), LipschitzLinearBase.effectiveKernel and the engine's
 * tape nodes; the tags group kernels into phases. Figures are means per step
 * over the profiled steps; "outside kernels" is the profiled step's wall time
 * minus its kernel sum (JS of the ops and the tape, tensor creation, reading
 * results back, GC).
 *
 * `--kernels`: lip's wasm SIMD kernels (simd, the default: GroupSort2 and
 * the L2 pool with their gradients, the convolution of one input channel,
 * Winograd's 3x3 convolution with its input and filter gradients, the conv
 * filter gradient, one-matrix products, Björck and the bias add, @lip/train
 * backend/kernels/), the tfjs ops they replace (composed, as
 * LIP_KERNELS=composed), or both one after the other on the same model with
 * a phase-by-phase comparison. The phase table lists lip's SIMD kernels in a
 * column of their own.
 *
 * Batches are those of epoch 1 of `lip train --seed N` on Fashion-MNIST's
 * training split (loadDataset, never downloading), or random images when the
 * dataset is not found (or with --random).
 *
 * The step is built from @lip/train internals (resolveTrainConfig,
 * shardGradients, ...), loaded from packages/train/dist by relative path
 * (see INTERNAL), so build first; everything else uses public names only.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const USAGE =
  'usage: node tools/profile-train.js [--arch seed] [--batch 4096] [--steps 3] [--warmup 1] [--plain 1] ' +
  '[--kernels simd|composed|both] [--data DIR] [--random] [--seed N] [--top N] [--json FILE]';

const KERNEL_CHOICES = { simd: ['simd'], composed: ['composed'], both: ['simd', 'composed'] };

const usageError = (message) => Object.assign(new Error(message), { usage: true });

function parseArgs(argv) {
  const args = {
    arch: 'seed',
    batch: 4096,
    steps: 3,
    warmup: 1,
    plain: 1,
    kernels: ['simd'],
    data: undefined,
    random: false,
    seed: undefined,
    top: 20,
    json: null,
  };
  const int = (name, v, min) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw usageError(`${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw usageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--arch') args.arch = next();
    else if (a === '--batch' || a === '--batch-size') args.batch = int(a, next(), 1);
    else if (a === '--steps') args.steps = int(a, next(), 1);
    else if (a === '--warmup') args.warmup = int(a, next(), 0);
    else if (a === '--plain') args.plain = int(a, next(), 0);
    else if (a === '--kernels') {
      const v = next();
      if (!Object.hasOwn(KERNEL_CHOICES, v)) throw usageError(`--kernels must be simd, composed or both, got ${v}`);
      args.kernels = KERNEL_CHOICES[v];
    } else if (a === '--data') args.data = next();
    else if (a === '--random') args.random = true;
    else if (a === '--seed') args.seed = int(a, next(), 0);
    else if (a === '--top') args.top = int(a, next(), 1);
    else if (a === '--json') args.json = path.resolve(next());
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw usageError(`unknown argument ${a}\n${USAGE}`);
  }
  return args;
}

// ------------------------------------------------------------ internals

/**
 * The step train() runs is built from @lip/train internals (not public API):
 * this tool inside the repository loads them from the built dist/ by
 * relative path, and names the one missing after a refactor.
 */
const INTERNAL = {
  config: '../packages/train/dist/training/config', // resolveTrainConfig, TRAIN_CHUNK_ROWS
  factory: '../packages/train/dist/losses/factory', // makeShareLoss
  shares: '../packages/train/dist/losses/shares', // batchStatistics (and the metric shares, tagged below)
  train: '../packages/train/dist/training/train', // setLearningRate, trainStep, chunkedTrainStep
  shardGradients: '../packages/train/dist/training/shard_gradients', // shardGradients
};
const INTERNAL_NAMES = {
  config: ['resolveTrainConfig', 'TRAIN_CHUNK_ROWS'],
  factory: ['makeShareLoss'],
  shares: ['batchStatistics'],
  train: ['setLearningRate', 'trainStep', 'chunkedTrainStep'],
  shardGradients: ['shardGradients'],
};

function internalTrainModules() {
  const out = {};
  for (const [key, file] of Object.entries(INTERNAL)) {
    let mod;
    try {
      mod = require(file);
    } catch (err) {
      throw new Error(`${path.resolve(__dirname, file)}.js does not load (${err.message.split('\n')[0]}): build first (npx tsc -b)`);
    }
    for (const name of INTERNAL_NAMES[key]) {
      if (mod[name] === undefined)
        throw new Error(`@lip/train's ${file.replace('../packages/train/dist/', 'src/')}.ts no longer exports ${name}: update tools/profile-train.js`);
      out[name] = mod[name];
    }
  }
  return out;
}

// ------------------------------------------------------------ context tags

/**
 * What issued the running kernel: { layer, dir: 'fwd'|'bwd', norm:
 * 'power'|'bjorck', section: 'loss'|'metrics'|'optimizer' }.
 */
const ctxStack = [{}];
const currentCtx = () => ctxStack[ctxStack.length - 1];
function withCtx(ctx, fn) {
  ctxStack.push(ctx);
  try {
    return fn();
  } finally {
    ctxStack.pop();
  }
}
const addCtx = (patch, fn) => withCtx({ ...currentCtx(), ...patch }, fn);

/**
 * Installs the tagging hooks: every layer's call() (its class), the
 * effective-kernel computation (Björck), the engine's tape nodes (a node's
 * gradient runs under its forward tag, marked 'bwd'), the shard metrics, and
 * the profiler (records each kernel call's tag and its own timing, in the
 * order tf.profile lists the kernels).
 */
function installHooks(tf, lip, model) {
  for (const layer of model.layers) {
    const call = layer.call;
    const name = layer.getClassName().replace(/^Lip>/, '');
    layer.call = function (...a) {
      return addCtx({ layer: name }, () => call.apply(this, a));
    };
  }
  const proto = lip.LipschitzLinearBase.prototype;
  const effectiveKernel = proto.effectiveKernel;
  proto.effectiveKernel = function (...a) {
    return addCtx({ norm: 'bjorck' }, () => effectiveKernel.apply(this, a));
  };
  // shardGradients and trainStep compute their metrics with these (looked up at call time through the re-export getters):
  // trainStep with these (internal modules, not in @lip/train's exports).
  for (const [file, fns] of [
    [INTERNAL.shares, ['accuracyShare', 'krMulticlassShare']],
    ['../packages/train/dist/metrics/accuracy', ['accuracy']],
    ['../packages/train/dist/losses/multiclass', ['krMulticlass']],
  ]) {
    const mod = require(file);
    for (const fn of fns) {
      const orig = mod[fn];
      if (typeof orig !== 'function')
        throw new Error(`@lip/train's ${file.replace('../packages/train/dist/', 'src/')}.ts no longer exports ${fn}: update tools/profile-train.js`);
      mod[fn] = (...a) => addCtx({ section: 'metrics' }, () => orig(...a));
    }
  }

  const engine = tf.engine();
  const addTapeNode = engine.addTapeNode;
  engine.addTapeNode = function (...a) {
    addTapeNode.apply(this, a);
    const tape = this.state.activeTape;
    const node = tape[tape.length - 1];
    if (node?.gradient == null) return;
    const ctx = { ...currentCtx(), dir: 'bwd' };
    const gradient = node.gradient;
    node.gradient = (dys) =>
      withCtx(ctx, () => {
        const thunks = gradient(dys);
        const wrapped = {};
        for (const k of Object.keys(thunks)) wrapped[k] = () => withCtx(ctx, thunks[k]);
        return wrapped;
      });
  };

  // A kernel can run others inside its own call (the engine clones the
  // tensors a gradient needs with Identity kernels; a customGrad forward is
  // listed around its kernels): `children` lets the caller subtract them.
  const records = [];
  const open = [];
  const profiler = engine.profiler;
  const profileKernel = profiler.profileKernel;
  profiler.profileKernel = function (kernelName, inputs, f) {
    const frame = { children: [] };
    open.push(frame);
    const start = performance.now();
    let result;
    try {
      result = profileKernel.call(this, kernelName, inputs, f);
    } finally {
      open.pop();
    }
    // Pushed when the call ends, as the engine pushes its profile entry right after: same order.
    if (open.length > 0) open[open.length - 1].children.push(records.length);
    records.push({ name: kernelName, ctx: currentCtx(), ownMs: performance.now() - start, children: frame.children });
    return result;
  };
  return records;
}

const PHASES = [
  ['forward convs', 'conv forward: Conv2D of the conv layers (simd: LipConv2DBias, the bias folded in; Winograd on 3x3 stride 1)'],
  ['conv input-gradient', 'Conv2DBackpropInput of the conv layers (simd: Winograd on 3x3 stride 1)'],
  ['conv filter-gradient', 'Conv2DBackpropFilter (lip SIMD kernels: Winograd on 3x3 stride 1, else direct; or composed: LIP_KERNELS=composed)'],
  ['GroupSort (fwd + grad)', ''],
  ['L2 pooling (fwd + grad)', ''],
  ['dense layers (fwd + grad)', 'SpectralDense matMuls with the effective kernel'],
  ['normalization: power iteration', 'updateConstraints()'],
  ['normalization: Björck (fwd + grad)', 'effective kernel and its gradient'],
  ['loss (HKR, fwd + grad)', ''],
  ['metrics (acc, KR of the step)', ''],
  ['optimizer (Adam)', ''],
  ['elementwise/other', 'biases, flatten, gradient sums, ...'],
];

function phaseOf(name, ctx) {
  if (ctx.norm === 'power') return 'normalization: power iteration';
  if (ctx.norm === 'bjorck') return 'normalization: Björck (fwd + grad)';
  if (ctx.section === 'optimizer') return 'optimizer (Adam)';
  if (ctx.section === 'loss') return 'loss (HKR, fwd + grad)';
  if (ctx.section === 'metrics') return 'metrics (acc, KR of the step)';
  const layer = ctx.layer ?? '';
  if (/Conv2D$/.test(layer)) {
    if (ctx.dir !== 'bwd' && (name === 'Conv2D' || name === 'LipConv2DBias')) return 'forward convs';
    if (ctx.dir === 'bwd' && name === 'Conv2DBackpropInput') return 'conv input-gradient';
    if (ctx.dir === 'bwd' && name === 'Conv2DBackpropFilter') return 'conv filter-gradient';
    return 'elementwise/other';
  }
  if (/GroupSort|MaxMin|FullSort/.test(layer)) return 'GroupSort (fwd + grad)';
  if (/Pool/.test(layer)) return 'L2 pooling (fwd + grad)';
  if (/Dense$/.test(layer)) return 'dense layers (fwd + grad)';
  return 'elementwise/other';
}

// ------------------------------------------------------------ the step

/**
 * One training step exactly as train() runs it in one thread (train.ts:
 * the loop body, trainStep and chunkedTrainStep).
 */
function makeStep(tf, lip, internal, s) {
  const { model, vars, optimizer, lossFn, shareLoss, ds, config } = s;
  const rowSize = ds.height * ds.width * ds.channels;
  const numClasses = ds.classNames.length;
  const buffer = { images: new Float32Array(config.batchSize * rowSize), labels: new Uint8Array(config.batchSize) };
  const oneHot = new Float32Array(config.batchSize * numClasses);
  const taggedLoss = (y, out) => addCtx({ section: 'loss' }, () => lossFn(y, out));
  const taggedShareLoss = (y, out, stats) => addCtx({ section: 'loss' }, () => shareLoss(y, out, stats));
  // train.ts's own steps run, with the power iteration and Adam tagged on these instances.
  const updateConstraints = model.updateConstraints;
  model.updateConstraints = function (...a) {
    return addCtx({ norm: 'power' }, () => updateConstraints.apply(this, a));
  };
  const applyGradients = optimizer.applyGradients;
  optimizer.applyGradients = function (...a) {
    return addCtx({ section: 'optimizer' }, () => applyGradients.apply(this, a));
  };
  const trainStep = (x, y) => internal.trainStep(model, vars, optimizer, taggedLoss, x, y);
  const chunkedTrainStep = (batch) => internal.chunkedTrainStep(model, vars, optimizer, taggedShareLoss, batch, ds, numClasses);

  // train.ts runEpochs, the loop body without workers
  return async function step(indices) {
    internal.setLearningRate(optimizer, config.lr);
    const batch = lip.sliceBatch(ds.images, ds.labels, indices, buffer);
    let stats;
    if (indices.length <= internal.TRAIN_CHUNK_ROWS) {
      const m = indices.length;
      const y = oneHot.subarray(0, m * numClasses);
      y.fill(0);
      for (let r = 0; r < m; r++) y[r * numClasses + batch.labels[r]] = 1;
      const xT = tf.tensor4d(batch.images.subarray(0, m * rowSize), [m, ds.height, ds.width, ds.channels]);
      const yT = tf.tensor2d(y, [m, numClasses]);
      stats = trainStep(xT, yT);
      tf.dispose([xT, yT]);
    } else {
      stats = chunkedTrainStep(batch);
    }
    const values = await stats.data();
    stats.dispose();
    await new Promise((resolve) => setImmediate(resolve));
    return Array.from(values);
  };
}

// ------------------------------------------------------------ output

const fmt = (x, d = 0) => Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (x) => `${(100 * x).toFixed(1)}%`;

function table(header, rows, align) {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => String(r[c]).length)));
  const line = (r) =>
    r
      .map((cell, c) => (align[c] === 'r' ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** lip's wasm SIMD kernels (backend/kernels/ in @lip/train), which `--kernels composed` replaces by tfjs ops. */
const SIMD_KERNELS = [
  'LipGroupSort2',
  'LipGroupSort2Grad',
  'LipScaledL2Pool2D',
  'LipScaledL2Pool2DGrad',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'LipConv2DBias',
  'BatchMatMul',
  'LipBjorck',
  'LipBjorckGrad',
  'LipBiasAdd',
  'LipBiasColumnSum',
];

/** The text of one run: step time, phases (with lip's SIMD kernels apart), kernels. */
function describeRun(r, batchSize, top) {
  const { wallMs, cpuMs, kernelMs, calls, outsideMs, plainMs, steps, n } = r;
  const out = [];
  out.push(
    r.choice === 'simd'
      ? "kernels: simd (lip's wasm SIMD kernels: GroupSort2, L2 pool, Winograd 3x3 convs and their gradients, conv filter gradient, matMul, Björck, bias)"
      : 'kernels: composed (tfjs ops in place of those kernels; LIP_KERNELS=composed)',
  );
  out.push(
    `steps: ${r.warmups.length} warm-up${r.warmups.length ? ` (${r.warmups.map((w) => fmt(w)).join(', ')} ms)` : ''}, ${r.plain.length} unprofiled, ${n} profiled (means per step)`,
  );
  out.push(
    `step wall ${fmt(wallMs)} ms profiled` +
      (plainMs !== null ? `, ${fmt(plainMs)} ms unprofiled` : '') +
      ` -> ${fmt((batchSize / (plainMs ?? wallMs)) * 1000)} images/s in one thread`,
  );
  out.push(`  (profiled steps: ${steps.map((s) => fmt(s.wallMs)).join(', ')} ms; process CPU ${fmt(cpuMs)} ms = ${(cpuMs / wallMs).toFixed(2)} x wall)`);
  out.push(
    `kernels ${fmt(kernelMs)} ms (${pct(kernelMs / wallMs)}) in ${fmt(calls)} calls; outside kernels ${fmt(outsideMs)} ms ` +
      `(${pct(outsideMs / wallMs)}), ${(outsideMs / calls).toFixed(3)} ms per kernel call`,
  );
  out.push(`kernel times: ${r.timerSource}`);
  out.push('');
  const simd = (p) => (r.choice === 'simd' ? p.kernels.filter((k) => SIMD_KERNELS.includes(k.name)) : []);
  out.push(
    table(
      ['phase', 'calls', 'ms/step', 'share', 'lip SIMD kernels (ms/step)', 'main other kernels (ms/step)'],
      r.phaseRows.map((p) => {
        const own = simd(p);
        const others = p.kernels.filter((k) => !own.includes(k));
        return [
          p.phase,
          p.callsPerStep ? fmt(p.callsPerStep) : '',
          fmt(p.msPerStep),
          pct(p.share),
          own.map((k) => `${k.name} ${fmt(k.msPerStep)}`).join(', '),
          others.length
            ? others
                .slice(0, 3)
                .map((k) => `${k.name} ${fmt(k.msPerStep)}`)
                .join(', ')
            : own.length
              ? ''
              : p.note,
        ];
      }),
      ['l', 'r', 'r', 'r', 'l', 'l'],
    ),
  );
  out.push('');
  const shown = r.kernelRows.slice(0, top);
  const rest = r.kernelRows.slice(top);
  const rows = shown.map((k) => [
    `${k.name}${r.choice === 'simd' && SIMD_KERNELS.includes(k.name) ? ' (SIMD)' : ''}`,
    fmt(k.callsPerStep, k.callsPerStep % 1 ? 1 : 0),
    fmt(k.msPerStep),
    pct(k.share),
    k.msPerCall.toFixed(3),
  ]);
  if (rest.length) {
    const ms = rest.reduce((a, k) => a + k.msPerStep, 0);
    const c = rest.reduce((a, k) => a + k.callsPerStep, 0);
    rows.push([`(${rest.length} other kernels)`, fmt(c), fmt(ms), pct(ms / wallMs), '']);
  }
  out.push(table(['kernel', 'calls', 'ms/step', 'share', 'ms/call'], rows, ['l', 'r', 'r', 'r', 'r']));
  return out;
}

/** Phase by phase, each run's ms/step and the ratio to the first (`--kernels both`). */
function compareRuns(results) {
  const [first, ...others] = results;
  const header = ['phase', ...results.map((r) => `${r.choice} ms/step`), ...others.map((r) => `${r.choice} / ${first.choice}`)];
  const row = (label, values) => [label, ...values.map((v) => fmt(v)), ...values.slice(1).map((v) => (values[0] > 0 ? `${(v / values[0]).toFixed(2)}x` : '-'))];
  const rows = first.phaseRows.map((p, i) =>
    row(
      p.phase,
      results.map((r) => r.phaseRows[i].msPerStep),
    ),
  );
  rows.push(
    row(
      'step (wall, unprofiled where run)',
      results.map((r) => r.plainMs ?? r.wallMs),
    ),
  );
  return [
    'comparison',
    table(
      header,
      rows,
      header.map((_, c) => (c === 0 ? 'l' : 'r')),
    ),
  ];
}

/** The JSON figures of one run. */
function runReport(r, batchSize) {
  const { wallMs, cpuMs, kernelMs, calls, outsideMs, plainMs, n } = r;
  return {
    kernelChoice: r.choice,
    timer: r.timerSource,
    warmupMs: r.warmups,
    unprofiled: r.plain,
    steps: r.steps,
    perStep: {
      wallMs,
      unprofiledWallMs: plainMs,
      imagesPerSecond: (batchSize / (plainMs ?? wallMs)) * 1000,
      cpuMs,
      kernelMs,
      kernelCalls: calls,
      outsideKernelsMs: outsideMs,
      outsideKernelsMsPerCall: outsideMs / calls,
    },
    phases: r.phaseRows,
    kernels: r.kernelRows,
    // Each kernel by input -> output shapes, slowest first (which conv layer, ...).
    kernelsByShape: [...r.byShape.entries()]
      .map(([key, e]) => ({ kernel: key, callsPerStep: e.calls / n, msPerStep: e.ms / n, msPerCall: e.ms / e.calls }))
      .sort((a, b) => b.msPerStep - a.msPerStep),
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tf = require('@tensorflow/tfjs-core');
  const tfwasm = require('@tensorflow/tfjs-backend-wasm');
  // Public names only (@lip/train's entries list every one).
  const lip = { ...require('@lip/train'), ...require('@lip/train/node') };
  const internal = internalTrainModules();

  const backend = await lip.selectBackend('wasm', { threads: 1 });
  const threads = tfwasm.getThreadsCount();
  if (threads !== 1) throw new Error(`the wasm backend runs ${threads} threads; this profile is of one`);
  const config = internal.resolveTrainConfig({ arch: args.arch, batchSize: args.batch, seed: args.seed, outDir: os.tmpdir() });

  // Data: Fashion-MNIST's training split if found, else random images.
  let ds;
  let dataNote;
  if (!args.random) {
    try {
      ds = await lip.loadDataset(config.dataset, 'train', { dataDir: args.data, download: false });
      dataNote = `${config.dataset} train (${fmt(ds.n)} images, ${ds.source}), the batches of epoch 1 with seed ${config.seed}`;
    } catch (err) {
      dataNote = `random images (${config.dataset} not found: ${String(err.message).split('\n')[0]})`;
    }
  }
  if (ds === undefined) {
    const rng = lip.mulberry32(config.seed);
    const n = Math.max(args.batch, 1024);
    const images = new Float32Array(n * 784);
    for (let i = 0; i < images.length; i++) images[i] = rng();
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) labels[i] = Math.floor(rng() * 10);
    ds = { images, labels, n, height: 28, width: 28, channels: 1, classNames: lip.FASHION_MNIST_CLASS_NAMES, source: 'random' };
    dataNote ??= 'random images (--random)';
  }

  const model = lip.buildModel(config.arch, { seed: config.seed, logger: { warn: () => undefined } });
  const optimizer = tf.train.adam(config.lr);
  const lossOpts = { alpha: config.alpha, minMargin: config.minMargin };
  const lossFn = lip.makeLoss(config.loss, lossOpts);
  const shareLoss = internal.makeShareLoss(config.loss, lossOpts);
  const vars = model.trainableWeights.map((w) => w.read());
  const records = installHooks(tf, lip, model);
  const step = makeStep(tf, lip, internal, { model, vars, optimizer, lossFn, shareLoss, ds, config });

  // Batches as train() draws them: one permutation per epoch from mulberry32(seed).
  const rng = lip.mulberry32(config.seed);
  let batches = lip.batchIndices(lip.randomPermutation(ds.n, rng), config.batchSize);
  const nextBatch = () => {
    let b = batches.next();
    if (b.done || b.value.length < config.batchSize) {
      batches = lip.batchIndices(lip.randomPermutation(ds.n, rng), config.batchSize);
      b = batches.next();
    }
    return b.value;
  };
  if (ds.n < config.batchSize) throw new Error(`--batch ${config.batchSize} is larger than the data (${ds.n} images)`);

  const loadAverage = os.loadavg();
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const chunks = Math.ceil(config.batchSize / internal.TRAIN_CHUNK_ROWS);
  const log = (s) => process.stderr.write(`${s}\n`);
  const timed = async (fn) => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    const r = await fn();
    const wallMs = performance.now() - t;
    const c = process.cpuUsage(cpu);
    return { r, wallMs, cpuMs: (c.user + c.system) / 1000 };
  };

  /** Warm-up, unprofiled and profiled steps with `choice` kernels; the figures per step. */
  const measure = async (choice) => {
    lip.installWasmKernels({ kernels: choice });
    log(`kernels: ${choice}`);
    const warmups = [];
    for (let i = 0; i < args.warmup; i++) {
      const { r, wallMs } = await timed(() => step(nextBatch()));
      warmups.push(wallMs);
      log(`warm-up step ${i + 1}: ${fmt(wallMs)} ms (batch loss ${r[0].toFixed(6)}, acc ${r[1].toFixed(4)}, KR ${r[2].toFixed(6)})`);
    }
    const plain = [];
    for (let i = 0; i < args.plain; i++) {
      const { wallMs, cpuMs } = await timed(() => step(nextBatch()));
      plain.push({ wallMs, cpuMs });
      log(`unprofiled step ${i + 1}: ${fmt(wallMs)} ms`);
    }

    const steps = [];
    const byKernel = new Map();
    const byPhase = new Map();
    const byPhaseKernel = new Map();
    const byShape = new Map();
    let timerSource = 'tf.profile kernelTimeMs (wasm backend timer)';
    for (let i = 0; i < args.steps; i++) {
      records.length = 0;
      let wallMs = 0;
      let cpuMs = 0;
      const indices = nextBatch();
      const profile = await tf.profile(async () => {
        const t = await timed(() => step(indices));
        wallMs = t.wallMs;
        cpuMs = t.cpuMs;
      });
      const kernels = profile.kernels;
      if (kernels.length !== records.length || kernels.some((k, j) => k.name !== records[j].name)) {
        throw new Error(`internal: tf.profile listed ${kernels.length} kernel calls, the hooks saw ${records.length}`);
      }
      const inclusive = kernels.map((k, j) => {
        if (typeof k.kernelTimeMs === 'number' && Number.isFinite(k.kernelTimeMs)) return k.kernelTimeMs;
        timerSource = 'own timing around each kernel call (kernelTimeMs was not a number)';
        return records[j].ownMs;
      });
      let kernelMs = 0;
      let calls = 0;
      kernels.forEach((k, j) => {
        // customGrad forwards appear as an entry around their own kernels: count the kernels only.
        if (tf.getKernel(k.name, 'wasm') == null) return;
        // Self time: without the kernels run inside this one (counted on their own).
        const ms = inclusive[j] - records[j].children.reduce((a, c) => a + inclusive[c], 0);
        const ctx = records[j].ctx;
        const phase = phaseOf(k.name, ctx);
        // In "other", say which layer ran the kernel (bias of a conv, ...).
        const label = phase === 'elementwise/other' ? `${k.name}${ctx.layer ? ` ${ctx.dir === 'bwd' ? 'grad ' : ''}in ${ctx.layer}` : ''}` : k.name;
        const shapes = `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`;
        for (const [map, key] of [
          [byKernel, k.name],
          [byPhase, phase],
          [byPhaseKernel, `${phase}\u0000${label}`],
          [byShape, shapes],
        ]) {
          const e = map.get(key) ?? { calls: 0, ms: 0 };
          e.calls++;
          e.ms += ms;
          map.set(key, e);
        }
        kernelMs += ms;
        calls++;
      });
      steps.push({ wallMs, cpuMs, kernelMs, kernelCalls: calls, peakBytes: profile.peakBytes });
      log(`profiled step ${i + 1}: ${fmt(wallMs)} ms, ${fmt(calls)} kernel calls, kernels ${fmt(kernelMs)} ms`);
    }

    const n = steps.length;
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const wallMs = mean(steps.map((s) => s.wallMs));
    const cpuMs = mean(steps.map((s) => s.cpuMs));
    const kernelMs = mean(steps.map((s) => s.kernelMs));
    const calls = mean(steps.map((s) => s.kernelCalls));
    const outsideMs = wallMs - kernelMs;
    const plainMs = plain.length ? mean(plain.map((p) => p.wallMs)) : null;

    const kernelRows = [...byKernel.entries()]
      .map(([name, e]) => ({ name, callsPerStep: e.calls / n, msPerStep: e.ms / n, share: e.ms / n / wallMs, msPerCall: e.ms / e.calls }))
      .sort((a, b) => b.msPerStep - a.msPerStep);
    const phaseKernels = (phase) =>
      [...byPhaseKernel.entries()]
        .filter(([key]) => key.startsWith(`${phase}\u0000`))
        .map(([key, e]) => ({ name: key.split('\u0000')[1], callsPerStep: e.calls / n, msPerStep: e.ms / n }))
        .sort((a, b) => b.msPerStep - a.msPerStep);
    const phaseRows = PHASES.map(([phase, note]) => {
      const e = byPhase.get(phase) ?? { calls: 0, ms: 0 };
      return { phase, note, callsPerStep: e.calls / n, msPerStep: e.ms / n, share: e.ms / n / wallMs, kernels: phaseKernels(phase) };
    });
    phaseRows.push({
      phase: 'JS outside kernels',
      note: 'step wall time minus the kernel sum',
      callsPerStep: 0,
      msPerStep: outsideMs,
      share: outsideMs / wallMs,
      kernels: [],
    });

    return { choice, warmups, plain, steps, n, wallMs, cpuMs, kernelMs, calls, outsideMs, plainMs, phaseRows, kernelRows, byShape, timerSource };
  };

  const results = [];
  for (const choice of args.kernels) results.push(await measure(choice));
  // LIP_KERNELS (or simd) again for anything after this.
  lip.installWasmKernels({ kernels: undefined });

  // ---- print
  const out = [];
  out.push(`lip profile-train: one training step of --arch ${config.arch}, batch ${config.batchSize}, loss ${config.loss}, Adam lr ${config.lr}`);
  out.push(`backend: ${backend.description}: ONE thread computes the whole batch, the per-worker work`);
  out.push(
    `  (train() --workers 1: ${config.batchSize <= internal.TRAIN_CHUNK_ROWS ? 'one chunk' : `${chunks} chunks of ${internal.TRAIN_CHUNK_ROWS} rows`}; ` +
      `with W workers each runs shardGradients on batch/W rows, the main thread updateConstraints + Adam)`,
  );
  out.push(`data: ${dataNote}`);
  out.push(`machine: ${cores} cores, load average ${loadAverage.map((l) => l.toFixed(2)).join(' ')}; ${os.cpus()[0]?.model ?? ''}`.trimEnd());
  for (const r of results) out.push('', ...describeRun(r, config.batchSize, args.top));
  if (results.length > 1) out.push('', ...compareRuns(results));
  process.stdout.write(`${out.join('\n')}\n`);

  if (args.json !== null) {
    const report = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${cores} x ${os.cpus()[0]?.model ?? 'unknown'}`,
      loadAverage,
      loadAverageEnd: os.loadavg(),
      backend: backend.description,
      threads: 1,
      arch: config.arch,
      batchSize: config.batchSize,
      chunkRows: internal.TRAIN_CHUNK_ROWS,
      chunks,
      loss: config.loss,
      lr: config.lr,
      data: dataNote,
      // The first run's figures at the top level (as before --kernels), every run in `runs`.
      ...runReport(results[0], config.batchSize),
      runs: results.map((r) => runReport(r, config.batchSize)),
    };
    fs.mkdirSync(path.dirname(args.json), { recursive: true });
    fs.writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`wrote ${args.json}\n`);
  }
  model.dispose();
  optimizer.dispose();
}

main().then(
  () => process.exit(0),
  (err) => {
    // Bad arguments (ours, or the library's InvalidArgumentError): one line, exit 2.
    const usage = err.usage === true || err.exitCode === 2;
    process.stderr.write(`profile-train: ${usage ? err.message : err.stack || err.message}\n`);
    process.exit(usage ? 2 : 1);
  },
);
