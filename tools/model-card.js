#!/usr/bin/env node
/**
 * Writes the model card of a shipped model (`models/<name>.card.json`) from
 * the outputs of the commands that measured it, so that no figure is typed by
 * hand (models/MODEL.md quotes the card's figures):
 *
 *   node tools/model-card.js --name fashion-mnist-ortho \
 *     --checkpoint models/fashion-mnist-ortho --onnx models/fashion-mnist-ortho.onnx \
 *     --verify v.json --bound b.json --attack cw.json [--attack pgd.json ...] \
 *     --command "LIP_KERNELS=composed lip train ..." [--out models] \
 *     [--targets '{"accuracy": 0.9, "cra": {"36/255": 0.8}, "medianCertificateOverDistance": 0.8}']
 *
 * `--command` is the training command as run, environment included: the
 * wasm SIMD kernels (default) and `LIP_KERNELS=composed` round differently.
 *
 * The JSON holds: architecture, training command and settings, per-epoch
 * history and training time, data, test accuracy, certified robust accuracy,
 * the `lip bound` result, and the attack results (per image for CW).
 * `test/e2e/shipped_model.test.ts` re-runs `lip verify` and `lip bound` on the
 * ONNX file and requires the same figures.
 *
 * `--targets` records the figures the model was trained to meet (minimums):
 * the card refuses to be written when a measured figure misses one, and the
 * e2e test checks them again.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

function parseArgs(argv) {
  const out = { attack: [] };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`--${key} needs a value`);
    i++;
    if (key === 'attack') out.attack.push(value);
    else out[key] = value;
  }
  for (const k of ['name', 'checkpoint', 'onnx', 'verify', 'bound', 'command']) {
    if (!out[k]) throw new Error(`--${k} is required (see the header of tools/model-card.js)`);
  }
  return out;
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? null : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const round = (x, d = 4) => (x === null || x === undefined ? x : Number(x.toFixed(d)));

function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function layersOf(checkpoint) {
  const model = readJson(path.join(checkpoint, 'model.json'));
  const topology = model.modelTopology ?? model;
  const config = topology.model_config?.config ?? topology.config;
  return (config.layers ?? []).map((l) => {
    const c = l.config ?? {};
    const bits = [];
    if (c.filters !== undefined) bits.push(`${c.filters} filters`);
    const kernel = c.kernelSize ?? c.kernel_size;
    if (kernel !== undefined) bits.push(`${[].concat(kernel).join('x')}`);
    if (c.units !== undefined) bits.push(`${c.units} units`);
    const pool = c.poolSize ?? c.pool_size;
    if (pool !== undefined) bits.push(`${[].concat(pool).join('x')}`);
    if (c.padding !== undefined && kernel !== undefined) bits.push(`${c.padding}`);
    if ((c.useBias ?? c.use_bias) === false) bits.push('no bias');
    return `${l.class_name.replace(/^Lip>/, '')}${bits.length ? `(${bits.join(', ')})` : ''}`;
  });
}

function attackSummary(file) {
  const a = readJson(file);
  const found = a.results.filter((r) => r.found);
  const ratios = found.map((r) => r.certificate / r.distance);
  return {
    attack: a.attack,
    params: a.params,
    images: a.results.length,
    found: a.found,
    violations: a.violations,
    certificateKind: a.certificateKind,
    medianCertificate: round(median(a.results.map((r) => r.certificate))),
    medianDistance: round(median(found.map((r) => r.distance))),
    medianCertificateOverDistance: round(median(ratios)),
    minCertificateOverDistance: round(Math.min(...ratios)),
    maxCertificateOverDistance: round(Math.max(...ratios)),
    seconds: a.seconds,
    // per image for small runs (CW's 10 images); the summary above for large ones
    results:
      a.results.length > 100
        ? undefined
        : a.results.map((r) => ({
            index: r.index,
            label: r.label,
            advPred: r.advPred,
            certificate: round(r.certificate),
            distance: r.found ? round(r.distance) : null,
          })),
  };
}

/** The training augmentation as text, from `train.json`'s config. */
function augmentation(config) {
  if (!config.augment || config.augment === 'none') return 'no augmentation';
  const kind = config.augment === 'shift-flip' ? 'random shifts and horizontal flips' : 'random shifts';
  return `${kind} of up to ${config.augmentShift ?? 2} pixels (zero fill)`;
}

/** The targets (`card.targets`, minimums) the card's figures miss, as text. */
function missedTargets(card) {
  const t = card.targets;
  const missed = [];
  const check = (what, value, min) => {
    if (!(typeof value === 'number' && value >= min)) missed.push(`${what} ${value} < ${min}`);
  };
  if (t.accuracy !== undefined) check('accuracy', card.results.accuracy, t.accuracy);
  for (const [label, min] of Object.entries(t.cra ?? {})) check(`CRA ${label}`, card.results.cra[label], min);
  if (t.medianCertificateOverDistance !== undefined) {
    const cw = card.attacks.find((a) => a.attack === 'cw');
    check('CW median certificate / distance', cw?.medianCertificateOverDistance, t.medianCertificateOverDistance);
  }
  return missed;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const outDir = o.out ?? 'models';
  const train = readJson(path.join(o.checkpoint, 'train.json'));
  const verify = readJson(o.verify);
  const bound = readJson(o.bound);
  const attacks = o.attack.map(attackSummary);
  const onnxBytes = fs.readFileSync(o.onnx);
  const trainSeconds = train.epochs.reduce((s, e) => s + e.seconds, 0);
  const card = {
    name: o.name,
    onnx: path.relative(outDir, o.onnx),
    onnxSha256: crypto.createHash('sha256').update(onnxBytes).digest('hex'),
    checkpoint: path.relative(outDir, o.checkpoint),
    architecture: { name: train.config.arch, layers: layersOf(o.checkpoint) },
    training: {
      command: o.command,
      config: Object.fromEntries(Object.entries(train.config).filter(([k]) => !['outDir', 'dataDir', 'backend'].includes(k))),
      epochs: train.epochs.map((e) => ({ epoch: e.epoch, loss: round(e.loss), val_acc: round(e.val_acc), lr: e.lr, seconds: round(e.seconds, 1) })),
      seconds: round(trainSeconds, 1),
      machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`,
    },
    data: {
      dataset: 'fashion-mnist',
      train: 'train split, 60,000 images',
      test: 'test split, 10,000 images',
      scaling: `pixels / 255, ${augmentation(train.config)}`,
    },
    results: {
      images: verify.n,
      accuracy: verify.accuracy,
      cra: Object.fromEntries(verify.cra.map((c) => [c.label, c.value])),
      medianCertificate: round(verify.medianCertificate),
      meanCertificate: round(verify.meanCertificate),
      certificate: verify.certificateKind,
      lipschitzClaimed: verify.lipschitzClaimed,
      lipschitzBound: bound.total,
    },
    attacks,
  };
  if (o.targets) {
    card.targets = JSON.parse(o.targets);
    const missed = missedTargets(card);
    if (missed.length > 0) throw new Error(`the model misses its targets: ${missed.join('; ')}`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  writeAtomic(path.join(outDir, `${o.name}.card.json`), `${JSON.stringify(card, null, 2)}\n`);
  process.stdout.write(`wrote ${path.join(outDir, `${o.name}.card.json`)}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`error: ${err.message}\n`);
  process.exit(2);
}
