import { Command } from 'commander';
import { DEFAULT_OPSET, exportCheckpoint } from '@lip/export';
import { InvalidArgumentError } from '@lip/train';

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

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export a checkpoint to one self-contained ONNX file (plain operators, Lipschitz metadata)')
    .argument('<ckpt_dir>', 'checkpoint folder written by `lip train`')
    .requiredOption('-o, --output <file>', 'the .onnx file to write (atomically)')
    .option('--opset <n>', `ONNX opset, 13 or newer (default: ${DEFAULT_OPSET})`)
    .option('--portable', 'only operators every runtime has: no Max/Min/TopK (WebGL, WebGPU)')
    .action(async (ckptDir: string, flags: ExportFlags) => {
      const result = await exportCheckpoint(ckptDir, flags.output, {
        opset: opset(flags.opset),
        portable: flags.portable === true,
      });
      const m = result.metadata;
      process.stdout.write(
        `wrote ${result.path} (${result.bytes} bytes, ${m.profile} profile, Lipschitz constant ${m.lipschitz_constant})\n`,
      );
    });
}
