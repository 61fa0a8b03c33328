import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { appendFile, chmod, copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
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
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    await execa('git', ['init', '--quiet', '--bare', '--initial-branch=main', '.'], { cwd: tmp, env: gitEnv(), extendEnv: false });
    // Appended in one write rather than one `git config` process per key; git merges repeated sections.
    await appendFile(join(tmp, 'config'), [
      '[http]', '\treceivepack = true',
      '[receive]', '\tadvertisePushOptions = true', '\tdenyNonFastForwards = false',
      '[core]', `\thooksPath = ${configValue(this.hooksDir)}`,
      '[gc]', '\tauto = 0',
    ].join('\n') + '\n');
    try {
      await rename(tmp, dir);
    } catch (e) {
      if (!existsSync(join(dir, 'HEAD'))) throw e; // lost a race to another process: theirs is as good
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
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
    await mkdir(this.hooksDir, { recursive: true });
    const file = join(this.hooksDir, 'post-receive');
    const kind = existsSync(NATIVE_HOOK) ? 'native' : 'node';
    if (kind === 'native') await copyFile(NATIVE_HOOK, file + '.tmp');
    else await writeFile(file + '.tmp', `#!/bin/sh\nexec ${shQuote(process.execPath)} ${shQuote(HOOK_PROGRAM)}\n`);
    await chmod(file + '.tmp', 0o755);
    await rename(file + '.tmp', file);
    return kind;
  }
}

/** A git config value in double quotes, with the two characters that need it escaped. */
function configValue(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
