import { BOUND_RULES, SHAPE_RULES } from '../bound';
import { OP_TABLE } from '../translate/ops';
import { SUPPORTED_OPS } from '../onnx/read';
import { FOLDED_ONLY_OPS, OP_INPUTS, OP_PARSERS, OP_REGISTRY, REGISTERED_OPS } from './registry';

const TRANSLATIONS = new Map(OP_TABLE);

describe('operator registry', () => {
  it('is the list the reader accepts, one row per op', () => {
    const rows = Object.values(OP_REGISTRY)
      .flat()
      .map(([op]) => op);
    expect(new Set(rows).size).toBe(rows.length);
    expect([...SUPPORTED_OPS].sort()).toEqual([...REGISTERED_OPS].sort());
    for (const op of rows) expect(OP_INPUTS[op]).toBeDefined();
  });

  it('has no rule, bound or translation for an op outside the registry', () => {
    const registered = new Set(REGISTERED_OPS);
    expect(Object.keys(SHAPE_RULES).filter((op) => !registered.has(op))).toEqual([]);
    expect(Object.keys(BOUND_RULES).filter((op) => !registered.has(op))).toEqual([]);
    expect([...TRANSLATIONS.keys()].filter((op) => !registered.has(op) || FOLDED_ONLY_OPS.has(op))).toEqual([]);
  });

  it.each(REGISTERED_OPS.map((op) => [op]))('%s has a parser, a shape rule, a bound rule, and a translation unless folded-only', (op) => {
    expect(typeof OP_PARSERS[op]).toBe('function');
    expect(typeof SHAPE_RULES[op]).toBe('function');
    expect(typeof BOUND_RULES[op]).toBe('function');
    if (FOLDED_ONLY_OPS.has(op)) expect(TRANSLATIONS.has(op)).toBe(false);
    else expect(typeof TRANSLATIONS.get(op)).toBe('function');
  });
});
