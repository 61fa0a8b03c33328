import { EventEmitter } from 'node:events';
import { closeSync, createReadStream, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
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
  /** The file calls a writer makes, replaceable so tests can fail them (a full disk, a short write). */
  io?: LogFileIo;
}

/** The three calls that write a log file; node:fs's by default. */
export interface LogFileIo {
  write(fd: number, buf: Buffer, offset: number, length: number): number;
  truncate(fd: number, length: number): void;
}

const fsIo: LogFileIo = {
  write: (fd, buf, offset, length) => writeSync(fd, buf, offset, length),
  truncate: (fd, length) => ftruncateSync(fd, length),
};

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
  /**
   * Lines announced to followers but not stored when a writer ended (its disk was full), per build: the next
   * writer of the build stores that many placeholders first, so a line's number means the same live and on disk.
   */
  private owed = new Map<number, { lines: number; reason: string }>();
  readonly maxBytes: number;
  private io: LogFileIo;

  constructor(
    private root: string,
    opts: LogStoreOptions = {},
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.io = opts.io ?? fsIo;
    this.events.setMaxListeners(0);
  }

  path(id: number): string {
    return join(this.root, String(id % 1000), `${id}.log`);
  }

  /**
   * The writer of a build's log (one at a time per build); `mask` is applied to every line before it is
   * stored. A write that fails never throws: `onError` hears of the first failure (the writer's `failed`).
   */
  writer(id: number, mask: (text: string) => string = (t) => t, onError?: (e: Error) => void): LogWriter {
    const existing = this.writers.get(id);
    if (existing) return existing;
    const owed = this.owed.get(id) ?? { lines: 0, reason: '' };
    this.owed.delete(id);
    const w = new LogWriter({
      file: this.path(id),
      maxBytes: this.maxBytes,
      mask,
      io: this.io,
      owed,
      onError,
      announce: (lines) => {
        for (const l of lines) this.events.emit(`line:${id}`, l);
      },
      onClose: (unstored, reason) => {
        if (unstored > 0) this.owed.set(id, { lines: unstored, reason });
        this.writers.delete(id);
        this.events.emit(`end:${id}`);
      },
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
    await this.each(id, after, (l) => {
      out.push(l);
    });
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

/** How a LogWriter is made (LogStore.writer). */
interface WriterOptions {
  file: string;
  maxBytes: number;
  mask: (t: string) => string;
  io: LogFileIo;
  /** Lines an earlier writer announced but could not store: placeholders for them come first. */
  owed: { lines: number; reason: string };
  announce: (lines: LogLine[]) => void;
  /** Called once, at the end, with how many announced lines the file still lacks, and why. */
  onClose: (unstored: number, reason: string) => void;
  onError?: (e: Error) => void;
}

/**
 * Appends to one build's log. Lines are batched and written synchronously on the next turn of the event
 * loop (or at once past 64 KiB), then announced: the file holds every announced line, and memory holds at
 * most one batch, whatever the build prints.
 *
 * A write that fails (a full disk) never throws out of the writer: it would be thrown from setImmediate and
 * take the whole server down. The file is cut back to its last whole line, the lines are still announced to
 * live followers, `failed` keeps the first error (the runner fails the build naming it), and once writes
 * work again a placeholder per lost line is stored first, so line numbers stay those followers saw.
 */
export class LogWriter {
  private fd = -1;
  private n = 0;
  private bytes = 0;
  /** Bytes of whole lines in the file: where a failed write is cut back to. */
  private stored = 0;
  /** Announced lines the file lacks (writes failed): stored as placeholders before the next line. */
  private unstored: number;
  private pending: LogLine[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private truncated = false;
  private ended: Promise<void> | null = null;
  /** The first write that failed, if any. */
  failed: Error | null = null;
  /** Why the lines not stored were lost, for their placeholder. */
  private lostBecause: string;

  constructor(private o: WriterOptions) {
    this.unstored = o.owed.lines;
    this.lostBecause = o.owed.reason;
    try {
      mkdirSync(join(o.file, '..'), { recursive: true });
      // A build's next attempt continues the same log: count what is there, so line numbers keep increasing.
      const existing = existsSync(o.file) ? readFileSync(o.file) : Buffer.alloc(0);
      // A torn last line (a crash mid-write before lines were cut back) is cut off rather than glued to ours.
      this.stored = existing.lastIndexOf(10) + 1;
      this.bytes = this.stored;
      for (let i = existing.indexOf(10); i >= 0 && i < this.stored; i = existing.indexOf(10, i + 1)) this.n++;
      this.fd = openSync(o.file, 'a');
      if (this.stored < existing.length) o.io.truncate(this.fd, this.stored);
    } catch (e) {
      this.fail(e as Error);
    }
    this.n += this.unstored;
  }

  /** Adds a line (newlines inside become separate lines). Past the cap only `closing` lines are kept. */
  line(text: string, closing = false): void {
    if (this.ended) return;
    for (const part of this.o.mask(text).split(/\r?\n/)) {
      const size = Buffer.byteLength(part) + 26; // time, tab and newline
      if (!closing && this.bytes + size > this.o.maxBytes) {
        if (!this.truncated) {
          this.truncated = true;
          this.push(`--- log truncated: it reached ${formatBytes(this.o.maxBytes)} (CODEHUB_LOG_MAX_BYTES); later output is dropped, the build goes on`);
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
    const text = batch.map((l) => `${l.time}\t${l.text}\n`).join('');
    this.store(this.unstored ? this.placeholders(batch[0]!.time) + text : text, this.unstored + batch.length);
    this.o.announce(batch);
  }

  /** One line saying what was lost, then an empty line for each other lost line: the numbering holds. */
  private placeholders(time: string): string {
    return (
      `${time}\t--- ${this.unstored} line${this.unstored === 1 ? '' : 's'} of this log could not be stored (${this.lostBecause})\n` +
      '\n'.repeat(this.unstored - 1)
    );
  }

  /**
   * Writes `lines` whole lines, looping over short writes. On an error the file is cut back to its last whole
   * line and the lines not stored are counted for the next write.
   */
  private store(text: string, lines: number): void {
    if (this.fd < 0) {
      this.unstored = lines;
      return;
    }
    const buf = Buffer.from(text);
    let done = 0;
    try {
      while (done < buf.length) {
        const n = this.o.io.write(this.fd, buf, done, buf.length - done);
        if (n <= 0) throw new Error(`writing ${this.o.file} stored nothing (${n} bytes of ${buf.length - done})`);
        done += n;
      }
      this.stored += buf.length;
      this.unstored = 0;
    } catch (e) {
      const whole = done > 0 ? buf.lastIndexOf(10, done - 1) + 1 : 0;
      let kept = 0;
      for (let i = buf.indexOf(10); i >= 0 && i < whole; i = buf.indexOf(10, i + 1)) kept++;
      this.cutBack(this.stored + whole);
      this.unstored = lines - kept;
      this.fail(e as Error);
    }
  }

  /** Cuts a torn line off the file; should that fail too, the file is left as is and not written again. */
  private cutBack(length: number): void {
    try {
      this.o.io.truncate(this.fd, length);
      this.stored = length;
    } catch (e) {
      this.fail(e as Error);
      this.close();
    }
  }

  private fail(e: Error): void {
    this.lostBecause = e.message;
    if (this.failed) return;
    this.failed = e;
    try {
      this.o.onError?.(e);
    } catch {
      /* a listener's own failure must not reach the event loop either */
    }
  }

  private close(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } catch {
      /* nothing more can be done with it */
    }
    this.fd = -1;
  }

  /** Writes what is pending, closes the file, and tells followers this writer is done; never rejects. */
  end(): Promise<void> {
    this.ended ??= new Promise<void>((resolve) => {
      setImmediate(() => {
        try {
          this.flush();
        } finally {
          this.close();
          this.o.onClose(this.unstored, this.lostBecause);
          resolve();
        }
      });
    });
    return this.ended;
  }
}
