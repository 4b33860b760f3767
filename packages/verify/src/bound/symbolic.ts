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
 *
 * Expressions are integer ids into typed arrays (kind, operands): nine bytes
 * per expression and no objects, so large blocks stay cheap.
 */

export type ExprKind = 'wire' | 'min' | 'max' | 'relu' | 'reluneg' | 'neg' | 'add' | 'sub' | 'sort';

/** An expression: its id in its store. */
export type Expr = number;

const KINDS: readonly ExprKind[] = ['wire', 'min', 'max', 'relu', 'reluneg', 'neg', 'add', 'sub', 'sort'];
const WIRE = 0,
  MIN = 1,
  MAX = 2,
  RELU = 3,
  RELUNEG = 4,
  NEG = 5,
  ADD = 6,
  SUB = 7,
  SORT = 8;

/** Ids, wire indices and gate ids stay below this (consumer keys of checkBlock must fit a double exactly). */
export const MAX_STORE_EXPRESSIONS = 2 ** 24;

/**
 * Expression store. Expressions are appended, not interned: two equal
 * expressions built twice get two ids, and `checkBlock` refuses a gate
 * output used twice either way (it keeps per-gate state). Operand `a` is the
 * first operand (a wire's index, a sort output's gate), `b` the second (a
 * sort output's rank); `size` counts the expressions held.
 */
export class ExprStore {
  private kinds = new Uint8Array(1024);
  private as = new Int32Array(1024);
  private bs = new Int32Array(1024);
  private count = 0;
  private nextGate = 0;
  readonly sortGroups = new Map<number, Int32Array>();

  /** Number of expressions held. */
  get size(): number {
    return this.count;
  }

  kind(e: Expr): ExprKind {
    return KINDS[this.kinds[e]];
  }

  /** First operand (expression id; wire index for a wire, gate id for a sort output). */
  a(e: Expr): number {
    return this.as[e];
  }

  /** Second operand (expression id; rank for a sort output). */
  b(e: Expr): number {
    return this.bs[e];
  }

  private make(k: number, a: number, b: number): Expr {
    if (this.count >= MAX_STORE_EXPRESSIONS) throw new RangeError('symbolic store is full');
    const e = this.count++;
    if (e >= this.kinds.length) this.grow();
    this.kinds[e] = k;
    this.as[e] = a;
    this.bs[e] = b;
    return e;
  }

  private grow(): void {
    const n = this.kinds.length * 2;
    const k = new Uint8Array(n);
    k.set(this.kinds);
    this.kinds = k;
    const a = new Int32Array(n);
    a.set(this.as);
    this.as = a;
    const b = new Int32Array(n);
    b.set(this.bs);
    this.bs = b;
  }

  wire(i: number): Expr {
    return this.make(WIRE, i, 0);
  }

  /** The wires 0..n-1 (call once per store: wires are not interned either). */
  wires(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.wire(i);
    return out;
  }

  neg(a: Expr): Expr {
    if (this.kinds[a] === NEG) return this.as[a];
    return this.make(NEG, a, 0);
  }

  relu(a: Expr): Expr {
    if (this.kinds[a] === NEG) return this.make(RELUNEG, this.as[a], 0);
    if (this.kinds[a] === RELU || this.kinds[a] === RELUNEG) return a;
    return this.make(RELU, a, 0);
  }

  min(a: Expr, b: Expr): Expr {
    if (a === b) return a;
    return a < b ? this.make(MIN, a, b) : this.make(MIN, b, a);
  }

  max(a: Expr, b: Expr): Expr {
    if (a === b) return a;
    return a < b ? this.make(MAX, a, b) : this.make(MAX, b, a);
  }

  sub(a: Expr, b: Expr): Expr {
    // a - relu(a - c) = min(a, c)
    if (this.kinds[b] === RELU) {
      const d = this.as[b];
      if (this.kinds[d] === SUB && this.as[d] === a) return this.min(a, this.bs[d]);
    }
    return this.make(SUB, a, b);
  }

  add(a: Expr, b: Expr): Expr {
    const folded = this.foldAdd(a, b);
    if (folded >= 0) return folded;
    const back = this.foldAdd(b, a);
    if (back >= 0) return back;
    return a < b ? this.make(ADD, a, b) : this.make(ADD, b, a);
  }

  /** x + r folded into a gate, or -1. */
  private foldAdd(x: Expr, r: Expr): Expr {
    // x + relu(y - x) = max(x, y)
    if (this.kinds[r] === RELU) {
      const d = this.as[r];
      if (this.kinds[d] === SUB && this.bs[d] === x) return this.max(x, this.as[d]);
    }
    // x + (-relu(x - y)) = min(x, y)
    if (this.kinds[r] === NEG) {
      const q = this.as[r];
      if (this.kinds[q] === RELU) {
        const d = this.as[q];
        if (this.kinds[d] === SUB && this.as[d] === x) return this.min(x, this.bs[d]);
      }
    }
    return -1;
  }

  /**
   * True when `e` is an unfinished portable gate (a - b, a + b, relu(a - b),
   * -relu(a - b)) that a later op may still fold: a block cut there would not
   * be recognized.
   */
  pending(e: Expr): boolean {
    const k = this.kinds[e];
    if (k === ADD || k === SUB) return true;
    if (k === RELU) return this.kinds[this.as[e]] === SUB;
    if (k === NEG) {
      const r = this.as[e];
      return this.kinds[r] === RELU && this.kinds[this.as[r]] === SUB;
    }
    return false;
  }

  /** A sort gate over `members`; null when a member repeats (a repeated signal is not 1-Lipschitz). */
  sort(members: ArrayLike<Expr>): Expr[] | null {
    if (new Set(Array.from(members)).size !== members.length) return null;
    const gate = this.nextGate++;
    if (gate >= MAX_STORE_EXPRESSIONS) throw new RangeError('symbolic store is full');
    this.sortGroups.set(gate, Int32Array.from(members));
    return Array.from({ length: members.length }, (_, r) => this.make(SORT, gate, r));
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
  /** Expressions visited (the work of the check). */
  visited: number;
}

/** Checks that `outputs` (one expression per output element) is a 1-Lipschitz gate network. */
export function checkBlock(store: ExprStore, outputs: ArrayLike<Expr>): BlockCheck {
  // Consumer key of each expression (0: none yet): -(i + 1) for output element i,
  // (code * G + a) * G + b for a gate (G = MAX_STORE_EXPRESSIONS, exact in a double).
  const G = MAX_STORE_EXPRESSIONS;
  const consumer = new Float64Array(store.size);
  // Outputs of the gate whose first input is a, already seen (a belongs to one gate): an output
  // seen twice is an equal expression built twice, used twice.
  const seen = new Uint8Array(store.size);
  const once = (a: number, bit: number, kind: string): void => {
    if (seen[a] & bit) reason ??= `a ${kind} result is used twice`;
    seen[a] |= bit;
  };
  const visitedSorts = new Set<number>();
  const gates = new Set<string>();
  let nested = false;
  let reason: string | undefined;
  const stack: Expr[] = [];

  const consume = (e: Expr, key: number): void => {
    const prev = consumer[e];
    if (prev === 0) {
      consumer[e] = key;
      stack.push(e);
    } else if (prev !== key && reason === undefined) {
      reason = `a ${store.kind(e) === 'wire' ? 'block input element' : store.kind(e) + ' result'} is used twice`;
    }
  };

  for (let i = 0; i < outputs.length; i++) consume(outputs[i], -(i + 1));
  let visited = 0;
  while (stack.length > 0 && reason === undefined) {
    const e = stack.pop()!;
    visited++;
    const kind = store.kind(e);
    const a = store.a(e);
    switch (kind) {
      case 'wire':
        break;
      case 'min':
      case 'max': {
        const b = store.b(e);
        gates.add('compare-exchange');
        if (store.kind(a) !== 'wire' || store.kind(b) !== 'wire') nested = true;
        // min(a, b) and max(a, b) are one gate: the same key.
        once(a, kind === 'min' ? 1 : 2, kind);
        const key = (G + a) * G + b;
        consume(a, key);
        consume(b, key);
        break;
      }
      case 'relu':
      case 'reluneg':
        gates.add(kind === 'relu' ? 'relu' : 'maxmin');
        once(a, kind === 'relu' ? 4 : 8, kind);
        consume(a, (2 * G + a) * G);
        break;
      case 'neg':
        gates.add('neg');
        once(a, 16, kind);
        consume(a, (3 * G + a) * G);
        break;
      case 'sort': {
        gates.add('sort');
        if (visitedSorts.has(a)) break;
        visitedSorts.add(a);
        const key = (4 * G + a) * G;
        for (const m of store.sortGroups.get(a)!) consume(m, key);
        break;
      }
      default:
        reason = `an unfolded '${kind}' of two signals reaches the output (not a recognized min/max form)`;
    }
  }
  if (gates.has('relu') && gates.has('maxmin')) {
    gates.delete('relu');
  }
  return { ok: reason === undefined, gates, reason, nested, visited };
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
