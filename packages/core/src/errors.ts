/**
 * Typed errors. Every error a user can cause carries one clear message that
 * names the thing and the fix, and the exit code the CLI should use.
 */
export class LipError extends Error {
  /** Exit code for the CLI: 2 for bad input, 1 for internal failures. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A bad argument value: the message quotes the parameter. */
export class InvalidArgumentError extends LipError {}

/** A missing, truncated or corrupt data file. */
export class DataError extends LipError {}

/** A model file or checkpoint that cannot be read or used. */
export class ModelError extends LipError {}

/** A model whose declared sizes would make lip allocate more than its limits allow (fatal even where other ModelErrors only warn). */
export class ModelTooLargeError extends ModelError {}

/** Throws `InvalidArgumentError` built lazily from `message` when `cond` is false. */
export function assertArg(cond: unknown, message: () => string): asserts cond {
  if (!cond) throw new InvalidArgumentError(message());
}
