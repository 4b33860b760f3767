#!/usr/bin/env node
import { run } from '../program';

run(process.argv).then(
  (code) => process.exit(code),
  () => process.exit(1),
);
