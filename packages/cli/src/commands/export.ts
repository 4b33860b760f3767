import { Command } from 'commander';
import { withOutputLock } from '@lip/core';
import { DEFAULT_OPSET, ExportOptions, ExportResult, checkpointToOnnx, exportCheckpoint } from '@lip/export';
import { InvalidArgumentError } from '@lip/train';
import { STDOUT_PATH, humanOutput, outputFlag, writeOutput } from '../output';

interface ExportFlags {
  output: string;
  opset?: string;
  portable?: boolean;
}

function opset(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\s*\d+\s*$/.test(raw)) throw new InvalidArgumentError(`'--opset' must be an integer, got '${raw}'`);
  return Number(raw);
}

/** `lip export -o -`: the ONNX bytes on stdout. */
async function exportToStdout(ckptDir: string, options: ExportOptions): Promise<ExportResult> {
  const { bytes, metadata } = await checkpointToOnnx(ckptDir, options);
  writeOutput(STDOUT_PATH, bytes);
  return { path: 'standard output', bytes: bytes.length, metadata };
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export a checkpoint to one self-contained ONNX file (plain operators, Lipschitz metadata)')
    .argument('<ckpt_dir>', 'checkpoint folder written by `lip train`')
    .requiredOption('-o, --output <file>', "the .onnx file to write (atomically); '-': to stdout, the summary then goes to stderr")
    .option('--opset <n>', `ONNX opset, 13 or newer (default: ${DEFAULT_OPSET})`)
    .option('--portable', 'only operators every runtime has: no Max/Min/TopK (WebGL, WebGPU)')
    .action(async (ckptDir: string, flags: ExportFlags) => {
      const output = outputFlag('--output', flags.output)!; // a required option
      const options = { opset: opset(flags.opset), portable: flags.portable === true };
      const write = () => exportCheckpoint(ckptDir, output, options);
      // One writer per file (`<file>.lock` beside it); stdout (`-o -`) is no one's to lock.
      const result =
        output === STDOUT_PATH ? await exportToStdout(ckptDir, options) : await withOutputLock(output, { what: 'output file', hint: 'use another -o' }, write);
      const m = result.metadata;
      humanOutput(output).write(`wrote ${result.path} (${result.bytes} bytes, ${m.profile} profile, Lipschitz constant ${m.lipschitz_constant})\n`);
    });
}
