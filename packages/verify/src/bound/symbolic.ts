/**
 * Symbolic element tracking for the 1-Lipschitz activation blocks the
 * exporter emits (GroupSort pairs via Min/Max or Relu arithmetic, TopK sorts,
 * sorting networks, MaxMin, Relu), whatever reshapes, splits and concats
 * surround them.
 *
 * Every element of a block's input is a "wire". Ops build interned
 * expressions over wires, and algebraic identities fold the portable forms
 * back into gates:  x + relu(y - x) = max(x, y),  x - relu(x - y) = min(x, y),
 * relu(-x) = the negative port of MaxMin. The block is 1-Lipschitz (L2) when
 * its output is built from gates that are each 1-Lipschitz on their inputs
 *   compare-exchange (a, b) -> (min, max), sort (a_1..a_n) -> sorted,
 *   MaxMin a -> (relu(a), relu(-a)), negation a -> -a,
 * and every signal (wire or gate output) feeds at most one gate or one output
 * element: then the block is a composition of 1-Lipschitz maps on disjoint
 * coordinates followed by a coordinate selection.
 */

export type ExprKind = 'wire' | 'min' | 'max' | 'relu' | 'reluneg' | 'neg' | 'add' | 'sub' | 'sort';

export interface Expr {
  readonly id: number;
  readonly kind: ExprKind;
  readonly a?: Expr;
  readonly b?: Expr;
  /** wire index, or sort rank. */
  readonly index?: number;
  /** sort gate id. */
  readonly gate?: number;
}

/** Hash-consing store: equal expressions are the same object. */
export class ExprStore {
  private readonly table = new Map<string, Expr>();
  private nextId = 0;
  private nextGate = 0;
  readonly sortGroups = new Map<number, Expr[]>();

  private make(kind: ExprKind, a?: Expr, b?: Expr, index?: number, gate?: number): Expr {
    const key = `${kind}:${a ? a.id : ''}:${b ? b.id : ''}:${index ?? ''}:${gate ?? ''}`;
    let e = this.table.get(key);
    if (!e) {
      e = { id: this.nextId++, kind, a, b, index, gate };
      this.table.set(key, e);
    }
    return e;
  }

  wire(i: number): Expr {
    return this.make('wire', undefined, undefined, i);
  }

  wires(n: number): Expr[] {
    return Array.from({ length: n }, (_, i) => this.wire(i));
  }

  neg(a: Expr): Expr {
    if (a.kind === 'neg') return a.a!;
    return this.make('neg', a);
  }

  relu(a: Expr): Expr {
    if (a.kind === 'neg') return this.make('reluneg', a.a);
    if (a.kind === 'relu' || a.kind === 'reluneg') return a;
    return this.make('relu', a);
  }

  min(a: Expr, b: Expr): Expr {
    if (a === b) return a;
    return a.id < b.id ? this.make('min', a, b) : this.make('min', b, a);
  }

  max(a: Expr, b: Expr): Expr {
    if (a === b) return a;
    return a.id < b.id ? this.make('max', a, b) : this.make('max', b, a);
  }

  sub(a: Expr, b: Expr): Expr {
    // a - relu(a - c) = min(a, c)
    if (b.kind === 'relu' && b.a!.kind === 'sub' && b.a!.a === a) return this.min(a, b.a!.b!);
    return this.make('sub', a, b);
  }

  add(a: Expr, b: Expr): Expr {
    const folded = this.foldAdd(a, b) ?? this.foldAdd(b, a);
    if (folded) return folded;
    return a.id < b.id ? this.make('add', a, b) : this.make('add', b, a);
  }

  private foldAdd(x: Expr, r: Expr): Expr | null {
    // x + relu(y - x) = max(x, y)
    if (r.kind === 'relu' && r.a!.kind === 'sub' && r.a!.b === x) return this.max(x, r.a!.a!);
    // x + (-relu(x - y)) = min(x, y)
    if (r.kind === 'neg' && r.a!.kind === 'relu' && r.a!.a!.kind === 'sub' && r.a!.a!.a === x) return this.min(x, r.a!.a!.b!);
    return null;
  }

  /** A sort gate over `members`; null when a member repeats (a repeated signal is not 1-Lipschitz). */
  sort(members: Expr[]): Expr[] | null {
    if (new Set(members).size !== members.length) return null;
    const gate = this.nextGate++;
    this.sortGroups.set(gate, members);
    return members.map((_, r) => this.make('sort', undefined, undefined, r, gate));
  }
}

export interface BlockCheck {
  /** True when the outputs form a 1-Lipschitz gate network over the wires. */
  ok: boolean;
  /** Gate kinds found, for the report: 'compare-exchange', 'sort', 'maxmin', 'relu', 'neg'. */
  gates: Set<string>;
  /** Why the check failed. */
  reason?: string;
  /** True when a compare-exchange takes another gate's output (a sorting network). */
  nested: boolean;
}

/** Checks that `outputs` (one expression per output element) is a 1-Lipschitz gate network. */
export function checkBlock(store: ExprStore, outputs: readonly Expr[]): BlockCheck {
  const consumer = new Map<number, string>();
  const gates = new Set<string>();
  const visitedGates = new Set<string>();
  let nested = false;
  let reason: string | undefined;
  const stack: Expr[] = [];

  const consume = (e: Expr, key: string): void => {
    const prev = consumer.get(e.id);
    if (prev === undefined) {
      consumer.set(e.id, key);
      stack.push(e);
    } else if (prev !== key && reason === undefined) {
      reason = `a ${e.kind === 'wire' ? 'block input element' : e.kind + ' result'} is used twice`;
    }
  };
  const gateInputs = (key: string, inputs: Expr[]): void => {
    if (visitedGates.has(key)) return;
    visitedGates.add(key);
    for (const x of inputs) consume(x, key);
  };

  outputs.forEach((e, i) => consume(e, `out:${i}`));
  while (stack.length > 0 && reason === undefined) {
    const e = stack.pop()!;
    switch (e.kind) {
      case 'wire':
        break;
      case 'min':
      case 'max':
        gates.add('compare-exchange');
        if (e.a!.kind !== 'wire' || e.b!.kind !== 'wire') nested = true;
        gateInputs(`ce:${e.a!.id}:${e.b!.id}`, [e.a!, e.b!]);
        break;
      case 'relu':
      case 'reluneg':
        gates.add(e.kind === 'relu' ? 'relu' : 'maxmin');
        gateInputs(`rn:${e.a!.id}`, [e.a!]);
        break;
      case 'neg':
        gates.add('neg');
        gateInputs(`neg:${e.a!.id}`, [e.a!]);
        break;
      case 'sort':
        gates.add('sort');
        gateInputs(`sort:${e.gate}`, store.sortGroups.get(e.gate!)!);
        break;
      default:
        reason = `an unfolded '${e.kind}' of two signals reaches the output (not a recognized min/max form)`;
    }
  }
  if (gates.has('relu') && gates.has('maxmin')) {
    gates.delete('relu');
  }
  return { ok: reason === undefined, gates, reason, nested };
}

/** A readable name for a recognized block. */
export function blockName(check: BlockCheck): string {
  const names: string[] = [];
  if (check.gates.has('compare-exchange')) names.push(check.nested ? 'GroupSort (sorting network)' : 'GroupSort2');
  if (check.gates.has('sort')) names.push('GroupSort (TopK)');
  if (check.gates.has('maxmin')) names.push('MaxMin');
  if (check.gates.has('relu')) names.push('Relu');
  if (check.gates.has('neg')) names.push('Neg');
  return names.length > 0 ? names.join(' + ') : 'structure';
}
