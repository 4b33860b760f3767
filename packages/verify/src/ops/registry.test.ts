import { BOUND_OPS, SHAPE_RULES } from '../bound';
import { TRANSLATABLE_OPS } from '../translate/ops';
import { SUPPORTED_OPS } from '../onnx/read';
import { FOLDED_ONLY_OPS, OP_INPUTS, OP_REGISTRY, REGISTERED_OPS } from './registry';

describe('operator registry', () => {
  it('is the list the reader accepts, one row per op', () => {
    const rows = Object.values(OP_REGISTRY).flat().map(([op]) => op);
    expect(new Set(rows).size).toBe(rows.length);
    expect([...SUPPORTED_OPS].sort()).toEqual([...REGISTERED_OPS].sort());
    for (const op of rows) expect(OP_INPUTS[op]).toBeDefined();
  });

  it.each(REGISTERED_OPS.map((op) => [op]))('%s has a shape rule, a bound rule, and a translation unless folded-only', (op) => {
    expect(SHAPE_RULES[op]).toBeDefined();
    expect(BOUND_OPS).toContain(op);
    if (FOLDED_ONLY_OPS.has(op)) expect(TRANSLATABLE_OPS).not.toContain(op);
    else expect(TRANSLATABLE_OPS).toContain(op);
  });
});
