import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (holds package.json and drizzle/), whether running from src/ or dist/src/. */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'drizzle'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('authnzd package root not found');
    dir = parent;
  }
}

export const packageRoot = findRoot();
export const migrationsDir = (dialect: 'sqlite' | 'postgres') => path.join(packageRoot, 'drizzle', dialect);
