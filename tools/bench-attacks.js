#!/usr/bin/env node
/**
 * npm run bench:attacks: lip's attacks side by side with foolbox's, on the same
 * ONNX file and the same images, every adversarial judged by the same
 * onnxruntime session and certificates.
 *
 *   npm run bench:attacks -- [--n 200] [--attacks fmn,pgd,deepfool,hsja,cw] [--eps 0.5]
 *       [--hsja-n 20] [--cw-n 10] [--workers 1] [--model models/fashion-mnist-ortho.onnx] [--no-foolbox] [--json FILE]
 *
 * Images: the first N Fashion-MNIST test images (hsja and cw, which are slow,
 * the first --hsja-n and --cw-n of them). Each attack moves away from the
 * class onnxruntime predicts (what a certificate protects), with its defaults:
 * lip's through `runAttack` on the wasm backend with lip's kernels, as `lip
 * attack` runs them, in `--workers` threads (default 1, as foolbox; hsja:
 * onnxruntime; cw: 6 x 8000, the CLI's default), foolbox's `L2FMNAttack`, `L2ProjectedGradientDescentAttack`
 * (epsilon --eps), `L2DeepFoolAttack`, `HopSkipJumpAttack` and
 * `L2CarliniWagnerAttack(6, 8000)` through tools/foolbox_attacks.py on the
 * ONNX graph run by PyTorch (tools/onnx_torch.py), 1 thread. foolbox's
 * adversarials are re-run in onnxruntime as lip's are: an adversarial counts
 * when it changes the predicted class there.
 *
 * Table: images the model classifies correctly on which an adversarial was
 * found (success rate), median and minimum L2 distance of those adversarials,
 * certificate violations (adversarials closer than their certificate, any
 * image), and seconds (lip: `runAttack`, translation check and re-check
 * included; foolbox: the attack call). The load average is printed, since
 * other jobs on the machine slow both sides.
 *
 * foolbox runs when a Python with torch, onnx and foolbox is found: $PYTHON
 * (default /usr/bin/python3), with foolbox and eagerpy from $FOOLBOX_SRC and
 * $EAGERPY_SRC (clones of github.com/bethgelab/foolbox and
 * github.com/jonasrauber/eagerpy) or installed. Setup on Debian 12:
 *   apt-get install python3-torch python3-scipy python3-onnx
 *   git clone https://github.com/bethgelab/foolbox /opt/foolbox
 *   git clone https://github.com/jonasrauber/eagerpy /opt/eagerpy
 *   FOOLBOX_SRC=/opt/foolbox EAGERPY_SRC=/opt/eagerpy npm run bench:attacks
 * (see tools/foolbox_attacks.py). Without it, only lip's rows are printed. CI does not run this.
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const ATTACKS = ['fmn', 'pgd', 'deepfool', 'hsja', 'cw'];
const CW = { binarySearchSteps: 6, steps: 8000 };

function parseArgs(argv) {
  const args = {
    n: 200,
    attacks: ATTACKS,
    eps: 0.5,
    hsjaN: 20,
    cwN: 10,
    workers: 1,
    model: path.join(ROOT, 'models/fashion-mnist-ortho.onnx'),
    foolbox: true,
    json: null,
  };
  const count = (flag, v) => {
    const x = Number(v);
    if (!(Number.isInteger(x) && x >= 1)) throw new Error(`${flag} must be an integer >= 1, got '${v}'`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--n') args.n = count(a, next());
    else if (a === '--hsja-n') args.hsjaN = count(a, next());
    else if (a === '--cw-n') args.cwN = count(a, next());
    else if (a === '--workers') args.workers = count(a, next());
    else if (a === '--eps') {
      args.eps = Number(next());
      if (!(args.eps > 0)) throw new Error(`--eps must be a number > 0, got '${argv[i]}'`);
    } else if (a === '--attacks') {
      args.attacks = next().split(',');
      const bad = args.attacks.filter((x) => !ATTACKS.includes(x));
      if (bad.length) throw new Error(`--attacks takes a comma-separated list of ${ATTACKS.join(', ')}; unknown: ${bad.join(', ')}`);
    } else if (a === '--model') args.model = path.resolve(next());
    else if (a === '--no-foolbox') args.foolbox = false;
    else if (a === '--json') args.json = path.resolve(next());
    else throw new Error(`unknown argument ${a} (use --n, --attacks, --eps, --hsja-n, --cw-n, --workers, --model, --no-foolbox, --json)`);
  }
  return args;
}

const median = (xs) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The Python that runs foolbox, or the reason there is none. */
function findFoolbox() {
  const python = process.env.PYTHON || (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const probe = spawnSync(python, [path.join(__dirname, 'foolbox_attacks.py'), '--probe'], { encoding: 'utf8' });
  if (probe.status !== 0) return { python, error: (probe.stderr || probe.error?.message || '').trim().split('\n').pop() };
  return { python, version: JSON.parse(probe.stdout.trim().split('\n').pop()).foolbox };
}

function runFoolbox(fb, attack, file, x, preds, chw, eps) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lip-bench-attacks-'));
  try {
    const n = preds.length;
    fs.writeFileSync(path.join(dir, 'x.f32'), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    fs.writeFileSync(path.join(dir, 'y.i32'), Buffer.from(Int32Array.from(preds).buffer));
    const argv = [
      path.join(__dirname, 'foolbox_attacks.py'),
      '--model',
      file,
      '--images',
      path.join(dir, 'x.f32'),
      '--labels',
      path.join(dir, 'y.i32'),
      '--shape',
      [n, ...chw].join(','),
      '--attack',
      attack,
      '--out',
      path.join(dir, 'adv.f32'),
      '--cw-steps',
      String(CW.steps),
      '--cw-binary-search-steps',
      String(CW.binarySearchSteps),
    ];
    if (attack === 'pgd') argv.push('--eps', String(eps));
    const run = spawnSync(fb.python, argv, { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (run.status !== 0) throw new Error(`foolbox ${attack} failed:\n${(run.stderr || '').slice(-3000)}`);
    const info = JSON.parse(run.stdout.trim().split('\n').pop());
    const buf = fs.readFileSync(path.join(dir, 'adv.f32'));
    return { adv: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), seconds: info.seconds, version: info.foolbox };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The table's figures from per-image outcomes. */
function summarize(name, side, n, rows, seconds) {
  const correct = rows.filter((r) => r.correct);
  const found = correct.filter((r) => r.distance !== null);
  const dists = found.map((r) => r.distance);
  return {
    attack: name,
    side,
    n,
    correct: correct.length,
    found: found.length,
    successRate: correct.length ? found.length / correct.length : null,
    medianDistance: median(dists),
    minDistance: dists.length ? Math.min(...dists) : null,
    violations: rows.filter((r) => r.violated).length,
    seconds,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { selectBackend } = require('@lip/train');
  const { loadVerifyData, openSession, predictClasses, readOnnxModel } = require('@lip/verify');
  const { runAttack, VIOLATION_TOLERANCE } = require('@lip/verify/attacks');
  // As `lip attack`: wasm with lip's kernels (GroupSort2 SIMD), which the attack workers install too.
  await selectBackend('wasm');
  const model = readOnnxModel(args.model);
  const session = await openSession(model, { threads: 1 });
  // One channel: the NHWC images are also NCHW.
  const data = await loadVerifyData('fashion-mnist', { split: 'test', limit: args.n });
  const chw = [data.channels, data.height, data.width];
  const d = chw[0] * chw[1] * chw[2];
  const fb = args.foolbox ? findFoolbox() : { error: '--no-foolbox' };
  const loadStart = os.loadavg();
  process.stderr.write(`model ${path.relative(ROOT, args.model)}, ${args.n} test images, load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stderr.write(fb.version ? `foolbox ${fb.version} (${fb.python})\n` : `foolbox not run: ${fb.error}\n`);

  const rows = [];
  for (const attack of args.attacks) {
    const n = Math.min(args.n, attack === 'hsja' ? args.hsjaN : attack === 'cw' ? args.cwN : args.n);
    const x = data.images.slice(0, n * d);
    const labels = Array.from(data.labels.subarray(0, n));
    const indices = Array.from({ length: n }, (_, i) => i);
    const opts = { attack, workers: args.workers, ...(attack === 'pgd' ? { eps: args.eps } : {}), ...(attack === 'cw' ? CW : {}) };
    process.stderr.write(`lip ${attack} on ${n} images...\n`);
    const ours = await runAttack(model, session, x, labels, indices, chw, opts);
    const perImage = ours.results.map((r) => ({ correct: r.label === r.pred, distance: r.found ? r.distance : null, violated: r.violated }));
    rows.push(summarize(attack, args.workers > 1 ? `lip (${args.workers} workers)` : 'lip', n, perImage, ours.seconds));

    if (!fb.version) continue;
    process.stderr.write(`foolbox ${attack} on ${n} images...\n`);
    const preds = ours.results.map((r) => r.pred);
    const out = runFoolbox(fb, attack, args.model, x, preds, chw, args.eps);
    const adv = Float32Array.from(out.adv, (v) => Math.min(1, Math.max(0, v)));
    const advLogits = await session.runBatched(adv, n, chw);
    const advPreds = predictClasses(advLogits, advLogits.length / n);
    const theirs = ours.results.map((r, i) => {
      let s = 0;
      for (let p = i * d; p < (i + 1) * d; p++) s += (adv[p] - x[p]) ** 2;
      const found = advPreds[i] !== r.pred;
      const distance = found ? Math.sqrt(s) : null;
      return { correct: r.label === r.pred, distance, violated: distance !== null && distance < r.certificate - VIOLATION_TOLERANCE };
    });
    rows.push(summarize(attack, `foolbox ${out.version}`, n, theirs, out.seconds));
  }
  await session.close();
  const loadEnd = os.loadavg();

  const f4 = (v) => (v === null ? '-' : v.toFixed(4));
  const label = (r) => (r.attack === 'pgd' ? `pgd (eps ${args.eps})` : r.attack);
  const table = [
    '| attack | images | implementation | adversarials found (of correctly classified) | median distance | min distance | violations | seconds |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${label(r)} | ${r.n} | ${r.side} | ${r.found} / ${r.correct} (${r.successRate === null ? '-' : (100 * r.successRate).toFixed(1)}%) | ` +
        `${f4(r.medianDistance)} | ${f4(r.minDistance)} | ${r.violations} | ${r.seconds.toFixed(1)} |`,
    ),
  ].join('\n');
  process.stdout.write(
    `${table}\n\nload average ${loadStart.map((l) => l.toFixed(2)).join(' ')} at the start, ` +
      `${loadEnd.map((l) => l.toFixed(2)).join(' ')} at the end (1, 5, 15 min; ${os.cpus().length} cores)\n`,
  );
  if (args.json) {
    fs.writeFileSync(args.json, `${JSON.stringify({ model: args.model, n: args.n, eps: args.eps, loadStart, loadEnd, rows }, null, 2)}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench-attacks: ${err.stack || err.message}\n`);
  process.exit(1);
});
