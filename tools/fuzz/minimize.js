'use strict';
/**
 * Shrinks a failing fuzz graph by truncation: the graph cut at each
 * intermediate value (that value becomes the only output, dead nodes and
 * constants removed) is re-checked in creation order, and the first cut that
 * fails the same way is kept. Generated graphs are mostly chains, so this
 * usually leaves the op that fails plus what feeds it.
 */
const { checkGraph } = require('./oracle');

/** The part of `spec` that computes `value`, with `value` as the only output. */
function truncateSpec(spec, value) {
  const producer = new Map();
  spec.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const keep = new Set();
  const stack = [value];
  const seen = new Set();
  while (stack.length > 0) {
    const name = stack.pop();
    if (seen.has(name)) continue;
    seen.add(name);
    const i = producer.get(name);
    if (i === undefined || keep.has(i)) continue;
    keep.add(i);
    for (const x of spec.nodes[i].inputs) if (x) stack.push(x);
  }
  const nodes = spec.nodes.filter((_, i) => keep.has(i));
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const produced = new Set(nodes.flatMap((n) => n.outputs));
  return {
    ...spec,
    nodes,
    inits: spec.inits.filter((t) => used.has(t.name)),
    outputs: [value],
    values: spec.values.filter((v) => produced.has(v)),
    steps: [...spec.steps, `truncated at ${value}`],
  };
}

/**
 * The smallest truncation of `spec` whose outcome is still `outcome` (the
 * original when none is). `opts` go to checkGraph.
 */
async function minimizeFailure(spec, outcome, opts = {}) {
  for (const v of spec.values) {
    if (v === spec.outputs[0]) break;
    const cut = truncateSpec(spec, v);
    const res = await checkGraph(cut, opts);
    if (res.outcome === outcome) return { spec: cut, result: res };
  }
  return null;
}

module.exports = { truncateSpec, minimizeFailure };
