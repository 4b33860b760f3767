import { Command } from 'commander';

export function registerTrain(program: Command): void {
  program.command('train').description('(being built)');
}
