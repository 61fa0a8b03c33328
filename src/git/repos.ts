import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nameProblem } from '../names.js';
import { HOOK_PROGRAM, NATIVE_HOOK } from '../paths.js';
import { BadRequestError } from '../errors.js';
import { gitEnv } from './env.js';

/**
 * The bare repositories under `<dataDir>/repos/<owner>/<repo>.git`. Every repo shares one hooks folder
 * (`core.hooksPath`), rewritten at each start, so moving the install never leaves stale hook paths behind.
 */
export class RepoStore {
  readonly root: string;
  readonly hooksDir: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'repos');
    this.hooksDir = join(dataDir, 'hooks');
  }

  /** The bare repo's folder. Throws BadRequestError for names outside the grammar, so no path can escape. */
  path(owner: string, repo: string): string {
    const problem = nameProblem('owner', owner) ?? nameProblem('repo', repo);
    if (problem) throw new BadRequestError(problem);
    return join(this.root, owner, `${repo}.git`);
  }

  exists(owner: string, repo: string): boolean {
    return existsSync(join(this.path(owner, repo), 'HEAD'));
  }

  /** Creates the bare repo if missing, set up to accept pushes with push options. Returns its path. */
  ensure(owner: string, repo: string): Promise<string> {
    const dir = this.path(owner, repo);
    if (existsSync(join(dir, 'HEAD'))) return Promise.resolve(dir);
    // Concurrent first pushes to one repo share one creation.
    let creating = this.creating.get(dir);
    if (!creating) {
      creating = this.create(dir).finally(() => this.creating.delete(dir));
      this.creating.set(dir, creating);
    }
    return creating;
  }

  private creating = new Map<string, Promise<string>>();

  private async create(dir: string): Promise<string> {
    // Init in a temporary folder and rename, so a concurrent request never sees a half-made repo.
    const tmp = `${dir}${TMP_MARK}${process.pid}-${Date.now()}`;
    try {
      await mkdir(tmp, { recursive: true });
      await execa('git', ['init', '--quiet', '--bare', '--initial-branch=main', '.'], { cwd: tmp, env: gitEnv(), extendEnv: false });
      // Appended in one write rather than one `git config` process per key; git merges repeated sections.
      await appendFile(
        join(tmp, 'config'),
        [
          '[http]',
          '\treceivepack = true',
          '[receive]',
          '\tadvertisePushOptions = true',
          '\tdenyNonFastForwards = false',
          '[core]',
          `\thooksPath = ${configValue(this.hooksDir)}`,
          '[gc]',
          '\tauto = 0',
        ].join('\n') + '\n',
      );
      await rename(tmp, dir);
    } catch (e) {
      // A failed write (a full disk) leaves nothing behind: no half-made repo, no temporary folder.
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      if (!existsSync(join(dir, 'HEAD'))) throw e; // else: lost a race to another process, and theirs is as good
    }
    return dir;
  }

  /** Every bare repo on disk, as owner and name (folders whose names are not valid are not repos here). */
  async list(): Promise<{ owner: string; repo: string }[]> {
    const out: { owner: string; repo: string }[] = [];
    for (const owner of await readdir(this.root).catch(() => [] as string[])) {
      if (nameProblem('owner', owner)) continue;
      for (const entry of await readdir(join(this.root, owner)).catch(() => [] as string[])) {
        const repo = entry.endsWith('.git') ? entry.slice(0, -4) : '';
        if (repo && !nameProblem('repo', repo) && existsSync(join(this.root, owner, entry, 'HEAD'))) out.push({ owner, repo });
      }
    }
    return out;
  }

  /** Removes the temporary folders of repo creations a crash cut off (`<repo>.git.tmp-*`); returns how many. */
  async removeLeftovers(): Promise<number> {
    let removed = 0;
    for (const owner of await readdir(this.root).catch(() => [] as string[])) {
      for (const entry of await readdir(join(this.root, owner)).catch(() => [] as string[])) {
        if (!entry.includes(TMP_MARK)) continue;
        await rm(join(this.root, owner, entry), { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Points the bare repo's HEAD at `branch`, so clones check it out. */
  async setHead(owner: string, repo: string, branch: string): Promise<void> {
    await execa('git', ['--git-dir', this.path(owner, repo), 'symbolic-ref', 'HEAD', `refs/heads/${branch}`], { env: gitEnv(), extendEnv: false });
  }

  /**
   * (Re)writes the shared post-receive hook and says which one it is: a copy of the native hook when it was
   * built (git runs it directly, about 1 ms), else a script that runs the Node hook with this Node (~120 ms
   * of start-up on every push).
   */
  async installHooks(): Promise<'native' | 'node'> {
    const file = join(this.hooksDir, 'post-receive');
    const kind = existsSync(NATIVE_HOOK) ? 'native' : 'node';
    const content = kind === 'native' ? await readFile(NATIVE_HOOK) : Buffer.from(`#!/bin/sh\nexec ${shQuote(process.execPath)} ${shQuote(HOOK_PROGRAM)}\n`);
    // The hook as it should be is left alone: a start writes nothing it need not (a full disk must not stop it).
    if (await sameExecutable(file, content)) return kind;
    try {
      await mkdir(this.hooksDir, { recursive: true });
      await writeFile(file + '.tmp', content, { mode: 0o755 });
      await chmod(file + '.tmp', 0o755);
      await rename(file + '.tmp', file);
    } catch (e) {
      await rm(file + '.tmp', { force: true }).catch(() => {});
      throw e;
    }
    return kind;
  }
}

/** What marks a repo being made (`<repo>.git.tmp-<pid>-<time>`): never a valid repo folder name. */
const TMP_MARK = '.tmp-';

/** Whether `file` is an executable holding exactly `content`. */
async function sameExecutable(file: string, content: Buffer): Promise<boolean> {
  try {
    return ((await stat(file)).mode & 0o111) === 0o111 && (await readFile(file)).equals(content);
  } catch {
    return false;
  }
}

/** A git config value in double quotes, with the two characters that need it escaped. */
function configValue(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
