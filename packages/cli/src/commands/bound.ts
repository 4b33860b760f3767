import { Command } from 'commander';

export function registerBound(program: Command): void {
  program.command('bound').description('(being built)');
}
