/**
 * Which Lipschitz constant, and which certificate: the one decision that
 * `lip verify` (`verifyModel`) and `lip attack` (`runAttack`) share, so the
 * attack checks exactly the certificates verify prints.
 *
 * With a certified bound B of the graph (`lipschitzBound`):
 *   L = the claim (`--lipschitz`, else the metadata `lipschitz_constant`)
 *       when it is at least B, else B (a smaller claim is reported and
 *       replaced); L = B when there is no claim.
 *   Head-aware certificates (a final linear layer) use
 *   L_body = max(certified body bound, metadata `head_body_lipschitz`), the
 *   same rule, so @lip/runtime, which certifies from the metadata, gives the
 *   same radii.
 * Without one (the bound refuses the graph: a node with no global Lipschitz
 * bound, such as the product of two activations):
 *   L = `--lipschitz`, reported as the user's claim, not a proof
 *   (`proven: false`), with multiclass certificates only; with no
 *   `--lipschitz` nothing is certified (`used: null`). The metadata claim is
 *   not taken on trust: it is the file's word, not the user's.
 */
import { InvalidArgumentError, ModelError, ModelTooLargeError } from '@lip/core';
import { BoundOptions, LinearHead, LipschitzBound, lipschitzBound } from './bound';
import { CertificateKind, Certificates, certify } from './certificates';
import { OnnxModel } from './onnx/read';

/** Where the L certificates use comes from: the file's metadata, lip's certified bound, or `--lipschitz`. */
export type LipschitzSource = 'metadata' | 'bound' | 'user';

export interface LipschitzChoice {
  /** L to certify with; null when nothing can be certified (no certified bound and no `--lipschitz`). */
  used: number | null;
  /** Where `used` comes from; null with it. */
  source: LipschitzSource | null;
  /** True when `used` is at least a certified bound of the graph: the certificates are proofs. False for a claim taken on trust. */
  proven: boolean;
  /** Metadata `lipschitz_constant`, or null. */
  claimed: number | null;
  /** `--lipschitz`, or null. */
  override: number | null;
  /** The certified bound, or null when the graph has none (see `boundError`). */
  bound: LipschitzBound | null;
  /** Why there is no certified bound (the bound's message), or null. */
  boundError: string | null;
  /** Final linear layer and the L_body head-aware certificates use; null: multiclass certificates only. */
  head: LinearHead | null;
  warnings: string[];
}

export interface ChooseLipschitzOptions {
  /** The user's L (`--lipschitz`). */
  lipschitz?: number;
  /** Per-sample input shape, for a graph that leaves input dims symbolic (`--input-shape`). */
  inputShape?: number[];
  /** Computes the certified bound. Default `lipschitzBound`; `verifyModel` passes the bound cache's (bound/cache.ts). */
  computeBound?: (model: OnnxModel, opts: BoundOptions) => LipschitzBound;
}

/** Parses the metadata `lipschitz_constant`; null when absent. */
export function claimedLipschitz(model: OnnxModel): number | null {
  return positiveMetadata(model, 'lipschitz_constant');
}

/**
 * Parses the metadata `head_body_lipschitz` (the L_body of the graph up to its
 * final linear layer, as the exporter built it); null when absent.
 */
export function claimedHeadBodyLipschitz(model: OnnxModel): number | null {
  return positiveMetadata(model, 'head_body_lipschitz');
}

function positiveMetadata(model: OnnxModel, key: string): number | null {
  const raw = model.metadata[key];
  if (raw === undefined) return null;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new ModelError(`'${model.source}': metadata ${key} must be a number > 0, got ${JSON.stringify(raw)}; re-export the model.`);
  }
  return v;
}

/** The Lipschitz constant and head to certify `model` with (see the module doc). */
export function chooseLipschitz(model: OnnxModel, opts: ChooseLipschitzOptions = {}): LipschitzChoice {
  const override = opts.lipschitz ?? null;
  if (override !== null && !(Number.isFinite(override) && override > 0)) {
    throw new InvalidArgumentError(`'lipschitz' must be a finite number > 0, got ${override}`);
  }
  const claimed = claimedLipschitz(model);
  const bodyClaim = claimedHeadBodyLipschitz(model);
  const warnings: string[] = [];
  let bound: LipschitzBound;
  try {
    bound = (opts.computeBound ?? lipschitzBound)(model, opts.inputShape ? { inputShape: opts.inputShape } : {});
  } catch (err) {
    // A model too large to analyse is also too large to run: that is fatal, not a missing bound.
    if (!(err instanceof ModelError) || err instanceof ModelTooLargeError) throw err;
    const boundError = err.message;
    const base = { claimed, override, bound: null, boundError, head: null, proven: false, warnings };
    if (override !== null) {
      warnings.push(`no certified Lipschitz bound (${boundError}); certifying with --lipschitz ${override}: YOUR CLAIM, NOT A PROOF`);
      return { ...base, used: override, source: 'user' };
    }
    const fileClaim = claimed === null ? '' : ` (the file claims lipschitz_constant = ${claimed}, which lip cannot check)`;
    warnings.push(
      `no certified Lipschitz bound (${boundError}), so nothing is certified${fileClaim}; pass --lipschitz L to ` +
        'certify with L as your own claim (reported as a claim, not a proof)',
    );
    return { ...base, used: null, source: null };
  }
  for (const w of bound.warnings) warnings.push(`bound: ${w}`);
  // Like L, L_body is the certified bound but never below the metadata claim.
  const head = bound.head && bodyClaim !== null && bodyClaim > bound.head.bodyLipschitz ? { ...bound.head, bodyLipschitz: bodyClaim } : bound.head;
  const base = { claimed, override, bound, boundError: null, head, proven: true, warnings };
  const claim = override ?? claimed;
  if (claim === null) {
    warnings.push(`'${model.source}' declares no lipschitz_constant; certifying with the bound ${bound.total.toPrecision(6)}`);
    return { ...base, used: bound.total, source: 'bound' };
  }
  if (claim < bound.total) {
    warnings.push(
      `WARNING: the ${override !== null ? '--lipschitz value' : 'model claims'} L = ${claim} but the weights ` +
        `give a certified bound of ${bound.total.toPrecision(8)} (x${(bound.total / claim).toFixed(3)}): the claim is NOT ` +
        'guaranteed; certifying with the bound instead',
    );
    return { ...base, used: bound.total, source: 'bound' };
  }
  return { ...base, used: claim, source: override !== null ? 'user' : 'metadata' };
}

/**
 * Certificates of logits `[n, classes]` under `choice`: head-aware when it has
 * a head with `classes` rows, else multiclass (binary for one logit). Null
 * when the choice certifies nothing.
 */
export function certifyLogits(choice: LipschitzChoice, logits: Float32Array | Float64Array, classes: number): Certificates | null {
  if (choice.used === null) return null;
  const head = choice.head && choice.head.classes === classes ? choice.head : null;
  return certify(logits, classes, { lipschitz: choice.used, head });
}

/** The formula of a certificate kind, as reports print it. */
export function certificateFormula(kind: CertificateKind): string {
  if (kind === 'binary') return 'binary: |f| / L';
  if (kind === 'multiclass') return 'multiclass: (top1 - top2) / (sqrt(2) * L)';
  return 'head-aware: min_j (f_y - f_j) / (||w_y - w_j|| * L_body), at least the multiclass one';
}
