import { Command } from 'commander';

export function registerExport(program: Command): void {
  program.command('export').description('(being built)');
}
