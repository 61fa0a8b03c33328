import { createReadStream, createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Build logs as plain text files, `<dataDir>/logs/<id % 1000>/<id>.log`: append-only, readable while they
 * are written, and kept out of SQLite so a chatty build never bloats the database or blocks its writer.
 */
export class LogStore {
  constructor(private root: string) {}

  path(id: number): string {
    return join(this.root, String(id % 1000), `${id}.log`);
  }

  /** A writer for a running build; `end()` it when the build ends. */
  writer(id: number): LogWriter {
    const file = this.path(id);
    mkdirSync(join(file, '..'), { recursive: true });
    return new LogWriter(createWriteStream(file, { flags: 'a' }));
  }

  /** Appends whole lines at once, for builds that never run (config errors, skips) and for server notes. */
  async append(id: number, lines: string[]): Promise<void> {
    const file = this.path(id);
    mkdirSync(join(file, '..'), { recursive: true });
    await appendFile(file, lines.map((l) => l + '\n').join(''));
  }

  /** The log so far as a stream, or null if nothing was written yet. */
  stream(id: number): Readable | null {
    const file = this.path(id);
    return existsSync(file) ? createReadStream(file) : null;
  }

  async read(id: number): Promise<string> {
    try {
      return await readFile(this.path(id), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw e;
    }
  }
}

export class LogWriter {
  constructor(private out: WriteStream) {}

  line(text: string): void {
    this.out.write(text + '\n');
  }

  end(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.out.once('error', reject);
      this.out.end(resolve);
    });
  }
}
