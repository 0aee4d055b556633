#!/usr/bin/env node
// The authnzd CLI. Runs the compiled build when present, otherwise the TypeScript sources via tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// A reader that stops reading (`authnzd user add x | head -1`) is not a failure of the command:
// what it did stands, and the lines it still had to print are dropped, not a crash with a stack.
process.stdout.on('error', (err) => {
  if (err.code !== 'EPIPE') throw err;
});

const built = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
let mod;
if (existsSync(built)) {
  mod = await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import('../src/cli/main.ts');
}
const code = await mod.run(process.argv.slice(2), mod.processIo);
if (code >= 0) process.exitCode = code;
