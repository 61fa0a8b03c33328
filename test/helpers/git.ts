import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';

/** A working repository in a temporary folder, the way a developer's workspace has one. */
export class WorkRepo {
  readonly git: SimpleGit;
  private constructor(readonly dir: string) {
    this.git = simpleGit(dir);
  }

  static async create(files: Record<string, string>): Promise<WorkRepo> {
    const r = new WorkRepo(mkdtempSync(join(tmpdir(), 'chb-work-')));
    await r.git.init(['--initial-branch=main']);
    await r.git.addConfig('user.email', 'dev@example.test').addConfig('user.name', 'Dev');
    // A unique message, so that two repos made from the same files in the same second never share a commit
    // sha (tests look builds up by sha).
    await r.commit(files, `initial ${randomUUID()}`);
    return r;
  }

  /** Writes the files (a null content deletes one), commits, and returns the new commit's sha. */
  async commit(files: Record<string, string | null>, message = 'change'): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      if (content === null) {
        await this.git.rm(path);
        continue;
      }
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      writeFileSync(join(this.dir, path), content);
      await this.git.add(path);
    }
    await this.git.commit(message, { '--allow-empty': null });
    return (await this.git.revparse(['HEAD'])).trim();
  }

  /** `git push` with the real client; returns its exit code and what it printed (remote: lines are on stderr). */
  async push(url: string, refspecs: string[], pushOptions: string[] = []): Promise<{ exitCode: number; output: string }> {
    const r = await execa('git', ['push', '--porcelain', ...pushOptions.flatMap((o) => ['-o', o]), url, ...refspecs], {
      cwd: this.dir,
      reject: false,
      env: { GIT_TERMINAL_PROMPT: '0' },
      all: true,
    });
    return { exitCode: r.exitCode ?? -1, output: r.all ?? '' };
  }
}

export const busyboxDockerfile = (extra = ''): string =>
  `FROM localhost:5000/cache/busybox:latest\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt && echo step-ran\n${extra}`;
