import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { RepoDirs } from './git';

/**
 * Calls `onChange` (debounced) when HEAD or a ref may have moved: a commit, a checkout, a fetch, or a
 * `git push build main` (which updates refs/remotes/build/main). Node's fs.watch on the git dir rather than
 * VS Code's file watcher, whose `files.watcherExclude` and .git handling a user's settings can change. A
 * watcher that cannot start (an odd file system) is skipped: the monitor's calm poll still notices changes.
 */
export function watchRefs(dirs: RepoDirs, onChange: () => void, debounceMs = 200): { dispose(): void } {
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const watchers: FSWatcher[] = [];
  const add = (path: string, recursive: boolean, accept: (name: string) => boolean) => {
    try {
      const w = watch(path, { recursive, persistent: false }, (_event, name) => {
        if (name === null || accept(String(name))) fire();
      });
      w.on('error', () => w.close());
      watchers.push(w);
    } catch {
      /* see above: the poll covers it */
    }
  };
  // HEAD is per worktree; packed-refs and refs/ are shared by all worktrees (the same dir outside worktrees).
  // Only the top of the git dir, not recursively: objects/ changes on every commit and fetch.
  const top = (name: string) => name === 'HEAD' || name === 'packed-refs';
  add(dirs.gitDir, false, top);
  if (dirs.commonDir !== dirs.gitDir) add(dirs.commonDir, false, top);
  add(join(dirs.commonDir, 'refs'), true, (name) => !name.endsWith('.lock'));
  return {
    dispose() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
