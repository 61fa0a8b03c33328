import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Resident set size of a process in MB, from /proc (0 if it is gone). */
export function rssMb(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 20): { stop(): number } {
  let peak = rssMb(pid);
  const t = setInterval(() => {
    peak = Math.max(peak, rssMb(pid));
  }, everyMs);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, rssMb(pid));
    },
  };
}

/**
 * Runs a command as a user's shell would (no shell here: argument arrays), optionally with another
 * command's stdout as its stdin; resolves with its exit code and everything it printed.
 */
export function run(cmd: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdinFrom?: string[] } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd[0]!, cmd.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.on('error', () => {});
    if (opts.stdinFrom) {
      const src = spawn(opts.stdinFrom[0]!, opts.stdinFrom.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
      src.stdout.pipe(p.stdin);
    } else p.stdin.end();
  });
}
