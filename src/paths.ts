import { existsSync, readFileSync } from 'node:fs';
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

/** This server's version (package.json's), read once: SBOMs name it as the tool that wrote them. */
export const SERVER_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** The Node post-receive hook program: the fallback where no C compiler built the native one. */
export const HOOK_PROGRAM = join(PACKAGE_ROOT, 'dist', 'src', 'git', 'hook-main.js');
/** The native post-receive hook (native/post-receive.c, built by scripts/build-hook.sh): the same protocol, ~1 ms start-up. */
export const NATIVE_HOOK = join(PACKAGE_ROOT, 'dist', 'native', 'post-receive');
