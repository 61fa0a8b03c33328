import { EventEmitter } from 'node:events';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { formatBytes } from '../units.js';

/** One line of a build log: its 1-based number (the SSE event id), when it was written, and its text. */
export interface LogLine {
  n: number;
  time: string;
  text: string;
}

export interface LogStoreOptions {
  /** Bytes a build's log may hold; past it, lines are dropped after a notice (the closing lines still come). */
  maxBytes?: number;
}

export const DEFAULT_LOG_MAX_BYTES = 20 * 1024 * 1024;

/**
 * Build logs as files, `<root>/<id % 1000>/<id>.log`, one `<ISO time>\t<text>` line each: append-only,
 * durable across restarts, readable while written, and out of SQLite so a chatty build never bloats the
 * database or blocks its writer. Lines are written to the file before they are announced, so a reader that
 * subscribes and then reads the file misses nothing and sees nothing twice.
 */
export class LogStore {
  private events = new EventEmitter();
  private writers = new Map<number, LogWriter>();
  readonly maxBytes: number;

  constructor(private root: string, opts: LogStoreOptions = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.events.setMaxListeners(0);
  }

  path(id: number): string {
    return join(this.root, String(id % 1000), `${id}.log`);
  }

  /** The writer of a build's log (one at a time per build); `mask` is applied to every line before it is stored. */
  writer(id: number, mask: (text: string) => string = (t) => t): LogWriter {
    const existing = this.writers.get(id);
    if (existing) return existing;
    const w = new LogWriter(this.path(id), this.maxBytes, mask, (lines) => {
      for (const l of lines) this.events.emit(`line:${id}`, l);
    }, () => {
      this.writers.delete(id);
      this.events.emit(`end:${id}`);
    });
    this.writers.set(id, w);
    return w;
  }

  /** Appends whole lines at once, for builds that are not running (config errors, skips, cancels, recovery). */
  async append(id: number, lines: string[]): Promise<void> {
    const open = this.writers.get(id);
    if (open) {
      for (const l of lines) open.line(l);
      return;
    }
    const w = this.writer(id);
    for (const l of lines) w.line(l);
    await w.end();
  }

  /** Lines after number `after`, from the file. */
  async read(id: number, after = 0): Promise<LogLine[]> {
    const out: LogLine[] = [];
    await this.each(id, after, (l) => { out.push(l); });
    return out;
  }

  /** Calls `fn` for each line after number `after`, streaming the file rather than loading it. */
  async each(id: number, after: number, fn: (l: LogLine) => void | Promise<void>): Promise<number> {
    const file = this.path(id);
    if (!existsSync(file)) return after;
    let n = 0;
    if (statSync(file).size < 1048576) {
      // Small logs (most) in one read; large ones are streamed so memory stays bounded.
      const text = readFileSync(file, 'utf8');
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      for (const raw of lines) {
        n++;
        if (n > after) await fn(parseLine(n, raw));
      }
      return Math.max(n, after);
    }
    const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const raw of rl) {
      n++;
      if (n <= after) continue;
      await fn(parseLine(n, raw));
    }
    return Math.max(n, after);
  }

  /** The log file's size in bytes (0 if nothing was written yet). */
  size(id: number): number {
    try {
      return statSync(this.path(id)).size;
    } catch {
      return 0;
    }
  }

  /** Whether a writer is open for the build (it is running, or lines are being appended). */
  isOpen(id: number): boolean {
    return this.writers.has(id);
  }

  /** Live lines of a build as they are written, and the end of each writer; returns the unsubscribe. */
  subscribe(id: number, onLine: (l: LogLine) => void, onEnd: () => void): () => void {
    this.events.on(`line:${id}`, onLine);
    this.events.on(`end:${id}`, onEnd);
    return () => {
      this.events.off(`line:${id}`, onLine);
      this.events.off(`end:${id}`, onEnd);
    };
  }
}

function parseLine(n: number, raw: string): LogLine {
  const tab = raw.indexOf('\t');
  return tab < 0 ? { n, time: '', text: raw } : { n, time: raw.slice(0, tab), text: raw.slice(tab + 1) };
}

/**
 * Appends to one build's log. Lines are batched and written synchronously on the next turn of the event
 * loop (or at once past 64 KiB), then announced: the file always holds every announced line, and memory
 * holds at most one batch, whatever the build prints.
 */
export class LogWriter {
  private fd: number;
  private n: number;
  private bytes: number;
  private pending: LogLine[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private truncated = false;
  private ended: Promise<void> | null = null;

  constructor(file: string, private maxBytes: number, private mask: (t: string) => string,
    private announce: (lines: LogLine[]) => void, private onClose: () => void) {
    mkdirSync(join(file, '..'), { recursive: true });
    // A build's next attempt continues the same log: count what is there, so line numbers keep increasing.
    const existing = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
    this.bytes = existing.length;
    this.n = 0;
    for (let i = existing.indexOf(10); i >= 0; i = existing.indexOf(10, i + 1)) this.n++;
    this.fd = openSync(file, 'a');
  }

  /** Adds a line (newlines inside become separate lines). Past the cap only `closing` lines are kept. */
  line(text: string, closing = false): void {
    if (this.ended) return;
    for (const part of this.mask(text).split(/\r?\n/)) {
      const size = Buffer.byteLength(part) + 26; // time, tab and newline
      if (!closing && this.bytes + size > this.maxBytes) {
        if (!this.truncated) {
          this.truncated = true;
          this.push(`--- log truncated: it reached ${formatBytes(this.maxBytes)} (CODEHUB_LOG_MAX_BYTES); later output is dropped, the build goes on`);
        }
        continue;
      }
      this.push(part);
    }
  }

  private push(text: string): void {
    const l: LogLine = { n: ++this.n, time: new Date().toISOString(), text };
    const size = Buffer.byteLength(text) + l.time.length + 2;
    this.bytes += size;
    this.pending.push(l);
    this.pendingBytes += size;
    if (this.pendingBytes > 65536) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    writeSync(this.fd, batch.map((l) => `${l.time}\t${l.text}\n`).join(''));
    this.announce(batch);
  }

  /** Writes what is pending, closes the file, and tells followers this writer is done. */
  end(): Promise<void> {
    this.ended ??= new Promise<void>((resolve) => {
      setImmediate(() => {
        this.flush();
        closeSync(this.fd);
        this.onClose();
        resolve();
      });
    });
    return this.ended;
  }
}
