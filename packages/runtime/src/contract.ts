/**
 * The certificate contract a lip-exported file states in its metadata
 * (`metadata_props`, written by @lip/export; docs/architecture.md):
 *
 * | key                   | value                                                        |
 * |-----------------------|--------------------------------------------------------------|
 * | `lipschitz_constant`  | L of input -> logits, a number > 0                           |
 * | `certificate`         | `multiclass: (top1 - top2) / (sqrt(2) * L)` or `binary: abs(logit) / L` |
 * | `class_names`         | JSON array of one string per logit                           |
 * | `input_range`         | JSON `[lo, hi]` of the inputs                                |
 * | `head_body_lipschitz` | L_body of input -> the final Gemm's input (with the next key)|
 * | `head_row_distances`  | JSON `[classes][classes]` of ||w_i - w_j||                   |
 *
 * Every value is checked; a malformed one is a ModelError naming the key.
 */
import { InvalidArgumentError, ModelError } from '@lip/core';
import type { CertificateParams } from './certificates';

export const CERTIFICATE_MULTICLASS = 'multiclass: (top1 - top2) / (sqrt(2) * L)';
export const CERTIFICATE_BINARY = 'binary: abs(logit) / L';

/** The checked contract of one file. */
export interface CertificateContract extends CertificateParams {
  /** Where `lipschitz` comes from: the file's `lipschitz_constant`, or the caller's `lipschitz` option. */
  lipschitzSource: 'metadata' | 'caller';
  /** One name per logit (`class_names`, else '0', '1', ...). */
  classNames: string[];
  /** `input_range`, or null when the file states none. */
  inputRange: [number, number] | null;
}

function positive(raw: string | undefined, key: string, source: string): number | null {
  if (raw === undefined) return null;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0) {
    throw new ModelError(`'${source}': metadata ${key} must be a number > 0, got ${JSON.stringify(raw)}; re-export the model`);
  }
  return v;
}

function json(raw: string, key: string, source: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new ModelError(`'${source}': metadata ${key} is not valid JSON (${JSON.stringify(raw.slice(0, 80))}); re-export the model`);
  }
}

/**
 * One name per class. A one-logit (binary) model has classes 0 and 1: its
 * `class_names` holds both, or only the logit's (class 1; class 0 is then `not <name>`).
 */
function classNamesOf(raw: string | undefined, classes: number, source: string): string[] {
  const outputs = classes === 1 ? 2 : classes;
  if (raw === undefined) return Array.from({ length: outputs }, (_, i) => String(i));
  const names = json(raw, 'class_names', source);
  const ok = Array.isArray(names) && names.every((s) => typeof s === 'string') && (names.length === outputs || names.length === classes);
  if (!ok) throw new ModelError(`'${source}': metadata class_names must be a JSON array of ${classes} strings (one per logit), got ${raw.slice(0, 120)}`);
  return names.length === outputs ? (names as string[]) : [`not ${names[0] as string}`, names[0] as string];
}

function inputRangeOf(raw: string | undefined, source: string): [number, number] | null {
  if (raw === undefined) return null;
  const r = json(raw, 'input_range', source);
  if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === 'number' && Number.isFinite(v)) || !(r[0] < r[1])) {
    throw new ModelError(`'${source}': metadata input_range must be JSON [lo, hi] with lo < hi, got ${raw.slice(0, 80)}`);
  }
  return [r[0] as number, r[1] as number];
}

function formOf(raw: string | undefined, classes: number, source: string): 'multiclass' | 'binary' {
  const form =
    raw === undefined
      ? classes === 1
        ? 'binary'
        : 'multiclass'
      : raw === CERTIFICATE_MULTICLASS
        ? 'multiclass'
        : raw === CERTIFICATE_BINARY
          ? 'binary'
          : null;
  if (form === null) {
    throw new ModelError(
      `'${source}': metadata certificate ${JSON.stringify(raw)} is not a form @lip/runtime knows ` + `('${CERTIFICATE_MULTICLASS}' or '${CERTIFICATE_BINARY}')`,
    );
  }
  if ((form === 'binary') !== (classes === 1)) {
    throw new ModelError(`'${source}': metadata certificate is ${form} but the model has ${classes} output${classes === 1 ? '' : 's'}`);
  }
  return form;
}

function headOf(meta: Record<string, string>, classes: number, source: string): CertificateContract['head'] {
  const bodyRaw = meta.head_body_lipschitz;
  const rowsRaw = meta.head_row_distances;
  if (bodyRaw === undefined && rowsRaw === undefined) return null;
  if (bodyRaw === undefined || rowsRaw === undefined) {
    throw new ModelError(
      `'${source}': metadata has ${bodyRaw === undefined ? 'head_row_distances' : 'head_body_lipschitz'} without ` +
        `${bodyRaw === undefined ? 'head_body_lipschitz' : 'head_row_distances'}; re-export the model`,
    );
  }
  const bodyLipschitz = positive(bodyRaw, 'head_body_lipschitz', source)!;
  const rows = json(rowsRaw, 'head_row_distances', source);
  const bad = (why: string): never => {
    throw new ModelError(`'${source}': metadata head_row_distances ${why}; re-export the model`);
  };
  if (classes < 2) bad('is given for a one-logit model');
  if (!Array.isArray(rows) || rows.length !== classes) bad(`must be ${classes} rows (one per class)`);
  const rowDistances = new Float64Array(classes * classes);
  (rows as unknown[]).forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== classes) bad(`row ${i} must hold ${classes} numbers`);
    (row as unknown[]).forEach((d, j) => {
      if (typeof d !== 'number' || !Number.isFinite(d) || d < 0) bad(`[${i}][${j}] must be a finite number >= 0, got ${JSON.stringify(d)}`);
      rowDistances[i * classes + j] = d as number;
    });
  });
  for (let i = 0; i < classes; i++) {
    if (rowDistances[i * classes + i] !== 0) bad(`[${i}][${i}] must be 0`);
    for (let j = 0; j < i; j++) if (rowDistances[i * classes + j] !== rowDistances[j * classes + i]) bad(`is not symmetric at [${i}][${j}]`);
  }
  return { bodyLipschitz, rowDistances };
}

/**
 * Checks the metadata of a model with `classes` logits and returns its
 * contract. The Lipschitz constant is `lipschitz` when the caller gives one,
 * else the file's `lipschitz_constant`; a file with neither is refused.
 */
export function readContract(meta: Record<string, string>, classes: number, source: string, lipschitz?: number): CertificateContract {
  if (lipschitz !== undefined && !(typeof lipschitz === 'number' && Number.isFinite(lipschitz) && lipschitz > 0)) {
    throw new InvalidArgumentError(`'lipschitz' must be a finite number > 0, got ${String(lipschitz)}`);
  }
  const claimed = positive(meta.lipschitz_constant, 'lipschitz_constant', source);
  if (lipschitz === undefined && claimed === null) {
    throw new ModelError(
      `'${source}' declares no lipschitz_constant, so it certifies nothing; export it with lip export, ` +
        'or pass { lipschitz: L } with a Lipschitz constant you can vouch for (lip bound computes one)',
    );
  }
  const form = formOf(meta.certificate, classes, source);
  return {
    form,
    lipschitz: lipschitz ?? claimed!,
    lipschitzSource: lipschitz !== undefined ? 'caller' : 'metadata',
    head: form === 'binary' ? null : headOf(meta, classes, source),
    classNames: classNamesOf(meta.class_names, classes, source),
    inputRange: inputRangeOf(meta.input_range, source),
  };
}
