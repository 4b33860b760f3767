import { Command } from 'commander';

export function registerAttack(program: Command): void {
  program.command('attack').description('(being built)');
}
