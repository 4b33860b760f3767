import { Command } from 'commander';
import { ModelError, ModelTooLargeError } from '@lip/core';
import { BoundCacheReport, LipschitzBound, cachedLipschitzBound, claimedLipschitz, lipschitzBound, readOnnxModel, readOnnxModelHashed } from '@lip/verify';
import { humanOutput, outputFlag, writeOutput } from '../output';

interface BoundFlags {
  json?: string;
  circular?: boolean;
  /** False with --no-cache. */
  cache: boolean;
}

/** `cached (sha256 5d41402abc4b...)`: how the output names a bound read from the bound cache. */
export function boundCacheText(c: BoundCacheReport): string {
  return `cached (sha256 ${c.sha256.slice(0, 12)}...)`;
}

/** `--no-cache` of verify and bound. */
export const NO_CACHE_HELP =
  'compute the Lipschitz bound even when the bound cache ($LIP_CACHE_DIR/bounds, else ~/.cache/lip/bounds) ' + 'holds it for this file, and store nothing';

/** Per-layer table printed by `lip bound`. */
export function formatBoundTable(r: LipschitzBound): string {
  const head = ['#', 'layer', 'op', 'factor', 'cumulative', 'method'];
  const rows = r.layers.map((l, i) => [
    String(i + 1),
    l.nodes.length > 1 ? `${l.node} (+${l.nodes.length - 1})` : l.node,
    l.op,
    l.factor.toPrecision(8),
    l.cumulative.toPrecision(8),
    l.method,
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]): string => cells.map((x, c) => (c === cells.length - 1 ? x : x.padEnd(widths[c] + 2))).join('');
  return [line(head), ...rows.map(line), '', `total  ${r.total.toPrecision(8)}  (certified upper bound, L2, per sample)`].join('\n');
}

export function registerBound(program: Command): void {
  program
    .command('bound')
    .description("a certified upper bound on the model's L2 Lipschitz constant, computed from the ONNX weights alone")
    .argument('<model>', 'the .onnx file')
    .option('--json <FILE>', "write the per-layer bounds as JSON ('-': to stdout, the table then goes to stderr)")
    .option('--circular', 'use only the circular-convolution (Sedghi) bound for convolutions (faster, looser)')
    .option('--no-cache', NO_CACHE_HELP)
    .action((file: string, flags: BoundFlags) => {
      const json = outputFlag('--json', flags.json);
      const out = humanOutput(json);
      const hashed = flags.cache ? readOnnxModelHashed(file) : null;
      const model = hashed?.model ?? readOnnxModel(file);
      let result: LipschitzBound;
      let cache: BoundCacheReport | null = null;
      try {
        const opts = { exactConv: !flags.circular };
        if (hashed) ({ bound: result, cache } = cachedLipschitzBound(model, hashed.sha256, opts));
        else result = lipschitzBound(model, opts);
      } catch (err) {
        if (!(err instanceof ModelError) || err instanceof ModelTooLargeError) throw err;
        // No global bound: say what verify and attack then do.
        throw new ModelError(
          `${err.message}. lip verify and lip attack certify nothing for this model unless you pass --lipschitz L, ` +
            'which they report as your claim, not a proof',
        );
      }
      for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
      if (cache?.note) process.stderr.write(`warning: bound cache: ${cache.note}\n`);
      out.write(`${formatBoundTable(result)}\n`);
      if (cache?.used) out.write(`bound: ${boundCacheText(cache)}\n`);
      const claimed = claimedLipschitz(model);
      let verdict: string;
      if (claimed === null) {
        verdict = 'the model declares no lipschitz_constant';
      } else if (claimed >= result.total) {
        verdict = `metadata lipschitz_constant = ${claimed}: consistent (bound <= claim)`;
      } else {
        verdict =
          `WARNING: metadata lipschitz_constant = ${claimed} is BELOW the certified bound ` +
          `${result.total.toPrecision(8)} (x${(result.total / claimed).toFixed(3)}); certificates computed with the claim are not guaranteed`;
      }
      out.write(`${verdict}\n`);
      if (json) {
        const { head: _head, ...rest } = result;
        writeOutput(
          json,
          `${JSON.stringify(
            {
              model: file,
              ...rest,
              claimed,
              consistent: claimed === null ? null : claimed >= result.total,
              boundCache: cache,
              head: result.head
                ? { node: result.head.node, classes: result.head.classes, dim: result.head.dim, bodyLipschitz: result.head.bodyLipschitz }
                : null,
            },
            null,
            2,
          )}\n`,
        );
      }
    });
}
