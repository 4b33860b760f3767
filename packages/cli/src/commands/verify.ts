import { Command } from 'commander';

export function registerVerify(program: Command): void {
  program.command('verify').description('(being built)');
}
