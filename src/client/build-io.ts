/** Where `codehub-build build` writes, and the one progress line it redraws there while it reads and uploads. */
import type { Writable } from 'node:stream';

/** Where the command writes and how it is interrupted: process's by default, a test's own when it runs it. */
export interface BuildIo {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
  /** Calls `handler` on each Ctrl-C until the returned function is called (default: SIGINT). */
  onInterrupt: (handler: () => void) => () => void;
  /** Leaves at once (a second Ctrl-C); default process.exit. */
  exit: (code: number) => void;
  /** Where the walk keeps its hash cache (context-walk.ts's default when unset). */
  cacheDir?: string;
  now: () => number;
}

/** The process's own streams, Ctrl-C and exit. */
export function defaultIo(): BuildIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => {
        process.off('SIGINT', handler);
      };
    },
    exit: (code) => process.exit(code),
    now: Date.now,
  };
}

/**
 * One progress line on stderr. On a terminal it is redrawn in place (at most every 100 ms, so a fast walk does
 * not spend its time drawing); elsewhere (a CI log, a file) a plain line at most every 2 s, the first after 2 s,
 * so a quick step prints nothing.
 */
export class Progress {
  private readonly tty: boolean;
  private readonly started: number;
  private last: number;
  private drawn = false;

  constructor(private readonly io: BuildIo) {
    this.tty = io.stderr.isTTY === true;
    this.started = io.now();
    this.last = this.tty ? 0 : this.started;
  }

  update(text: string): void {
    const now = this.io.now();
    if (now - this.last < (this.tty ? 100 : 2000)) return;
    this.last = now;
    if (this.tty) {
      this.io.stderr.write(`\r${text}\x1b[K`);
      this.drawn = true;
    } else {
      this.io.stderr.write(`${text}\n`);
    }
  }

  /** Erases the line on a terminal, so what follows starts on a clean one. */
  clear(): void {
    if (this.drawn) this.io.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}
