#!/usr/bin/env node
/**
 * Long run of the `lip bound` differential fuzzer (the fixed-seed subset is
 * test/soundness/bound_fuzz.test.ts): random small ONNX graphs over the
 * reader's operators (tools/fuzz/graphs.js), each checked by
 * tools/fuzz/oracle.js against onnxruntime (lower bound from finite
 * differences and exact difference quotients, per-layer output shapes).
 * Runs against the built dist/ (`npm run build` first).
 *
 *   node tools/fuzz-bound.js [--graphs 100000] [--seed 1] [--start 0] [--workers 1] [--focus NAME]
 *       [--out DIR] [--findings FILE] [--slow-ms 5000] [--hang-ms 60000] [--no-minimize] [--json FILE]
 *   node tools/fuzz-bound.js --replay GRAPH_SEED [--focus NAME]
 *
 * Graph i of a run is drawn from graphSeed(seed, i), so any graph is replayed
 * from its printed seed. Prints progress every 10 s, then counts per outcome
 * and per op. Every unsound, crash, shape-mismatch and slow graph is written
 * to --out as <outcome>-<graphSeed>.onnx (+ .json with the spec and result,
 * + .txt), after shrinking (tools/fuzz/minimize.js); --findings appends one
 * markdown entry per distinct failure (smallest example). A worker stuck on a
 * graph longer than --hang-ms is terminated and the graph counted as slow
 * (a hang). Exit code 1 when any graph is unsound, crashes lip or has
 * mismatched shapes; 0 otherwise.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

const { FOCUS, generateGraph, encodeModel, describeGraph, graphSeed } = require('./fuzz/graphs');

const FAILURES = ['unsound', 'crash', 'shape-mismatch'];
const SAVED = ['unsound', 'crash', 'shape-mismatch', 'slow'];
/** Files written per outcome at most (the counts go on). */
const MAX_SAVED_PER_OUTCOME = 200;

/** mulberry32 from @lip/train (the project's seeded generator). */
function rngFor(seed) {
  return require('@lip/train').mulberry32(seed);
}

function specFor(seed, focus) {
  return generateGraph(rngFor(seed), focus ? { focus } : {});
}

// ---------------- worker ----------------
if (!isMainThread) {
  const { checkGraph, opsOf } = require('./fuzz/oracle');
  const { minimizeFailure } = require('./fuzz/minimize');
  const { focus, slowMs, minimize } = workerData;
  parentPort.on('message', async ({ index, seed }) => {
    let spec;
    let result;
    try {
      spec = specFor(seed, focus);
      result = await checkGraph(spec, { seed, slowMs });
    } catch (err) {
      // A failure of the generator or the oracle itself, not of lip: reported apart.
      parentPort.postMessage({ index, seed, harnessError: String((err && err.stack) || err) });
      return;
    }
    let minimized = null;
    if (minimize && SAVED.includes(result.outcome) && result.outcome !== 'slow') {
      try {
        minimized = await minimizeFailure(spec, result.outcome, { seed, slowMs });
      } catch {
        minimized = null;
      }
    }
    parentPort.postMessage({ index, seed, result, ops: opsOf(spec), spec: SAVED.includes(result.outcome) ? spec : undefined, minimized });
  });
  return;
}

// ---------------- main ----------------
function usage(msg) {
  process.stderr.write(`fuzz-bound: ${msg}\nusage: see the header of tools/fuzz-bound.js\n`);
  process.exit(2);
}

function intOption(values, name, dflt, min) {
  if (values[name] === undefined) return dflt;
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < min) usage(`--${name} must be an integer >= ${min}, got '${values[name]}'`);
  return v;
}

function fmtNumber(x) {
  return x === null || x === undefined ? String(x) : Number(x).toPrecision(6);
}

/** Attributes that select an operator's behaviour (not its sizes): they name a failure class. */
const MODE_ATTRIBUTES = ['sorted', 'mode', 'ceil_mode', 'count_include_pad', 'auto_pad', 'transA', 'transB', 'p', 'allowzero', 'noop_with_empty_axes'];

/**
 * A short signature of a failure, to group findings: for unsound and
 * shape-mismatch graphs (already shrunk to the first failing value) the last
 * op and its mode attributes, for crashes the message without numbers.
 */
function signature(outcome, result, spec) {
  if (outcome === 'unsound' || outcome === 'shape-mismatch') {
    const producer = spec.nodes.find((n) => n.outputs.includes(spec.outputs[0]));
    const modes = MODE_ATTRIBUTES.filter((a) => producer && producer.attrs[a]).map((a) => `${a}=${producer.attrs[a][1]}`);
    return `${outcome}: ${producer ? producer.op : '?'}${modes.length ? ` ${modes.join(' ')}` : ''}`;
  }
  const msg = (result.message || '')
    .split('\n')[0]
    .replace(/-?\d+(\.\d+)?(e[-+]?\d+)?/g, '#')
    .replace(/'[^']*'/g, "'…'")
    .slice(0, 120);
  return `${outcome}: ${msg}`;
}

function findingText(entry) {
  const { seed, spec, result, file, focus } = entry;
  const lines = [
    `### ${entry.signature} (${entry.count} graph${entry.count > 1 ? 's' : ''})`,
    '',
    `- ops: ${[...new Set(spec.nodes.map((n) => n.op).filter((op) => op !== 'Constant'))].join(' -> ')}`,
    ...(entry.count > 1 ? [`- all seeds: ${entry.seeds.slice(0, 30).join(', ')}${entry.count > 30 ? ', …' : ''}`] : []),
    `- graph seed ${seed}${focus ? ` (focus ${focus})` : ''}: replay with ` +
      `\`node tools/fuzz-bound.js --replay ${seed}${focus ? ` --focus ${focus}` : ''}\`` +
      (entry.minimized ? ' (the graph below is its truncation)' : ''),
    `- lip bound: ${fmtNumber(result.bound)}; lower bound from onnxruntime: ${fmtNumber(result.lower)} ` +
      `(raw ${fmtNumber(result.raw)}, FD Jacobian norm ${fmtNumber(result.estimate)})`,
    `- ${result.message.split('\n').slice(0, 6).join('\n  ')}`,
    `- saved: ${file}`,
    '',
    '```',
    describeGraph(spec),
    '```',
    '',
  ];
  return lines.join('\n');
}

async function replay(seed, focus) {
  const { checkGraph } = require('./fuzz/oracle');
  const spec = specFor(seed, focus);
  process.stdout.write(`${describeGraph(spec)}\nsteps: ${spec.steps.join(', ')}\n`);
  const result = await checkGraph(spec, { seed });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return FAILURES.includes(result.outcome) ? 1 : 0;
}

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        graphs: { type: 'string' },
        seed: { type: 'string' },
        start: { type: 'string' },
        workers: { type: 'string' },
        focus: { type: 'string' },
        out: { type: 'string' },
        findings: { type: 'string' },
        'slow-ms': { type: 'string' },
        'hang-ms': { type: 'string' },
        'no-minimize': { type: 'boolean' },
        json: { type: 'string' },
        replay: { type: 'string' },
      },
    });
  } catch (err) {
    usage(err.message);
  }
  const v = parsed.values;
  const focus = v.focus ?? null;
  if (focus && !FOCUS[focus]) usage(`--focus must be one of ${Object.keys(FOCUS).join(', ')}, got '${focus}'`);
  if (v.replay !== undefined) return replay(intOption(v, 'replay', 0, 0), focus);

  const graphs = intOption(v, 'graphs', 1000, 1);
  const runSeed = intOption(v, 'seed', 1, 0);
  const start = intOption(v, 'start', 0, 0);
  const workers = intOption(v, 'workers', 1, 1);
  const slowMs = intOption(v, 'slow-ms', 5000, 1);
  const hangMs = intOption(v, 'hang-ms', 60000, 1000);
  const outDir = v.out ? path.resolve(v.out) : null;
  if (outDir) fs.mkdirSync(outDir, { recursive: true });

  const counts = {};
  const perOp = {};
  const saved = {};
  const findings = new Map();
  let harnessErrors = 0;
  let lipMsTotal = 0;
  let done = 0;
  let next = start;
  const end = start + graphs;
  const t0 = Date.now();

  const record = (index, seed, outcome, result, ops, spec, minimized) => {
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    for (const op of ops) {
      perOp[op] = perOp[op] ?? {};
      perOp[op][outcome] = (perOp[op][outcome] ?? 0) + 1;
    }
    lipMsTotal += result.lipMs ?? 0;
    if (!SAVED.includes(outcome) || !spec) return;
    const shown = minimized ? minimized.spec : spec;
    const shownResult = minimized ? minimized.result : result;
    let file = '(not saved: no --out)';
    saved[outcome] = (saved[outcome] ?? 0) + 1;
    if (outDir && saved[outcome] <= MAX_SAVED_PER_OUTCOME) {
      file = path.join(outDir, `${outcome}-${seed}.onnx`);
      fs.writeFileSync(file, encodeModel(shown));
      fs.writeFileSync(
        file.replace(/\.onnx$/, '.json'),
        JSON.stringify({ seed, runSeed, index, focus, result: shownResult, spec: shown, original: minimized ? { result, spec } : undefined }, null, 1),
      );
      fs.writeFileSync(file.replace(/\.onnx$/, '.txt'), `${describeGraph(shown)}\n\n${JSON.stringify(shownResult, null, 1)}\n`);
    }
    const sig = signature(outcome, shownResult, shown);
    const prev = findings.get(sig);
    if (!prev || shown.nodes.length < prev.spec.nodes.length) {
      findings.set(sig, {
        outcome,
        seed,
        spec: shown,
        result: shownResult,
        file,
        focus,
        minimized: !!minimized,
        count: (prev?.count ?? 0) + 1,
        seeds: [...(prev?.seeds ?? []), seed],
      });
    } else {
      prev.count++;
      prev.seeds.push(seed);
    }
    const line = `${outcome} graph ${seed} (index ${index}): ${shownResult.message.split('\n')[0].slice(0, 200)}`;
    process.stdout.write(`${line}\n`);
  };

  const progress = () => {
    const s = (Date.now() - t0) / 1000;
    const c = Object.entries(counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    process.stdout.write(`[${s.toFixed(0)} s] ${done}/${graphs} graphs, ${(done / s).toFixed(1)} graphs/s: ${c}\n`);
  };
  const timer = setInterval(progress, 10000);

  await new Promise((resolve) => {
    const slots = [];
    const spawn = (slot) => {
      const w = new Worker(__filename, { workerData: { focus, slowMs, minimize: !v['no-minimize'] } });
      slot.worker = w;
      slot.job = null;
      w.on('message', (msg) => {
        slot.job = null;
        done++;
        if (msg.harnessError) {
          harnessErrors++;
          const where = msg.harnessError.split('\n').slice(0, 3).join(' | ');
          process.stdout.write(`harness error on graph ${msg.seed} (index ${msg.index}): ${where}\n`);
        } else {
          record(msg.index, msg.seed, msg.result.outcome, msg.result, msg.ops, msg.spec, msg.minimized);
        }
        feed(slot);
      });
      w.on('error', (err) => {
        process.stdout.write(`worker error: ${err && err.stack}\n`);
      });
    };
    const feed = (slot) => {
      if (next >= end) {
        slot.worker.terminate();
        slot.finished = true;
        if (slots.every((s) => s.finished)) resolve();
        return;
      }
      const index = next++;
      slot.job = { index, seed: graphSeed(runSeed, index), started: Date.now() };
      slot.worker.postMessage({ index, seed: slot.job.seed });
    };
    const watchdog = setInterval(() => {
      for (const slot of slots) {
        if (!slot.job || Date.now() - slot.job.started < hangMs) continue;
        const { index, seed } = slot.job;
        slot.worker.removeAllListeners();
        slot.worker.terminate();
        done++;
        const spec = specFor(seed, focus);
        const { opsOf } = require('./fuzz/oracle');
        const hang = { outcome: 'slow', message: `hang: no result after ${hangMs} ms (worker terminated)`, lipMs: hangMs };
        record(index, seed, 'slow', hang, opsOf(spec), spec, null);
        spawn(slot);
        feed(slot);
      }
      if (slots.every((s) => s.finished)) clearInterval(watchdog);
    }, 1000);
    for (let i = 0; i < workers; i++) {
      const slot = { finished: false };
      slots.push(slot);
      spawn(slot);
      feed(slot);
    }
  });
  clearInterval(timer);
  progress();

  const seconds = (Date.now() - t0) / 1000;
  process.stdout.write(
    `\nrun seed ${runSeed}, graphs ${start}..${end - 1}${focus ? `, focus ${focus}` : ''}, ${workers} worker(s): ` +
      `${seconds.toFixed(1)} s, ${(done / seconds).toFixed(2)} graphs/s, ` +
      `lip ${(lipMsTotal / Math.max(1, done)).toFixed(2)} ms/graph on average\n`,
  );
  process.stdout.write('outcomes:\n');
  const { OUTCOMES } = require('./fuzz/oracle');
  for (const o of OUTCOMES) {
    process.stdout.write(`  ${o.padEnd(15)} ${counts[o] ?? 0}\n`);
  }
  if (harnessErrors) process.stdout.write(`  harness errors  ${harnessErrors}\n`);
  process.stdout.write('per op (graphs containing the op):\n');
  const cols = OUTCOMES;
  process.stdout.write(`  ${'op'.padEnd(18)}${cols.map((c) => c.padStart(15)).join('')}\n`);
  for (const op of Object.keys(perOp).sort()) {
    process.stdout.write(`  ${op.padEnd(18)}${cols.map((c) => String(perOp[op][c] ?? 0).padStart(15)).join('')}\n`);
  }
  if (findings.size > 0) {
    process.stdout.write(`\n${findings.size} distinct failure signature(s):\n`);
    for (const [sig, f] of findings) process.stdout.write(`  ${f.count} x ${sig} (e.g. graph ${f.seed})\n`);
  }
  if (v.findings && findings.size > 0) {
    const header =
      `\n## fuzz-bound run seed ${runSeed}, graphs ${start}..${end - 1}${focus ? `, focus ${focus}` : ''} ` +
      `(${new Date().toISOString()})\n\n` +
      `Counts: ${Object.entries(counts)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}.\n\n`;
    fs.appendFileSync(v.findings, header + [...findings].map(([sig, f]) => findingText({ ...f, signature: sig })).join('\n'));
    process.stdout.write(`findings appended to ${v.findings}\n`);
  }
  if (v.json) {
    const signatures = Object.fromEntries([...findings].map(([k, f]) => [k, { count: f.count, seeds: f.seeds }]));
    fs.writeFileSync(
      v.json,
      JSON.stringify({ runSeed, start, graphs, focus, workers, seconds, graphsPerSecond: done / seconds, counts, perOp, harnessErrors, signatures }, null, 1),
    );
  }
  return FAILURES.some((o) => (counts[o] ?? 0) > 0) || harnessErrors > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`fuzz-bound: ${(err && err.stack) || err}\n`);
    process.exit(1);
  },
);
