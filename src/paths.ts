import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (the folder with package.json), found by walking up from this module, so that it is the
 * same whether the code runs compiled from dist/src or as TypeScript from src (tests).
 */
export const PACKAGE_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

export const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'migrations');
/** The compiled post-receive hook program; the hook script in the data dir execs it. */
export const HOOK_PROGRAM = join(PACKAGE_ROOT, 'dist', 'src', 'git', 'hook-main.js');
