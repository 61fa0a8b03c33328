/**
 * The files of uploaded build contexts, kept by content (sha256) so that a repeat upload of a folder sends only
 * what changed (docs/research/upload-builds.md). One store per owner: a shared one would tell one user, through
 * the blobs it says it lacks, whether another uploaded a given file.
 *
 * Layout: `<root>/<owner>/<aa>/<sha256>`, `aa` the hash's first two digits (no folder of 100k names). A blob is
 * written to a temp file beside it and renamed into place only once its size and hash are right, so a blob in
 * place is always whole, and a failed or interrupted upload leaves nothing. A blob's mtime is when it was last
 * used: trim() removes the least recently used first.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { nameProblem } from '../names.js';
import { formatBytes } from '../units.js';
import { mapLimit } from '../util/map-limit.js';

const SHA256_RE = /^[0-9a-f]{64}$/;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const TEMP_PREFIX = '.tmp-';
/**
 * Temp files older than this are a crashed server's, removed by trim(). A live upload's temp file is written to
 * as it goes; a day covers any upload that still makes progress.
 */
const STALE_TEMP_MS = 24 * 3600_000;
/** Blobs stat'ed (or touched) at once when a manifest is checked. */
const STAT_CONCURRENCY = 32;

/** Something wrong with one blob; `sha256` names it. */
export class BlobError extends Error {
  constructor(
    message: string,
    readonly sha256: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
/** The owner, hash or size given is not one a blob can have (the caller's mistake, not the content's). */
export class BlobArgumentError extends BlobError {}
/** The upload sent more bytes than the blob's size; nothing more was read. */
export class BlobTooLargeError extends BlobError {}
/** The upload ended before the blob's size was reached. */
export class BlobIncompleteError extends BlobError {}
/** The bytes sent are not the content the hash names. */
export class BlobHashError extends BlobError {}
export class BlobNotFoundError extends BlobError {}

export interface TrimResult {
  /** Blobs removed, and their bytes. */
  removed: number;
  freedBytes: number;
  /** Bytes of the blobs left (protected ones included: they may keep the store over budget). */
  keptBytes: number;
}

export class BlobStore {
  /** `root` holds one folder per owner; it is made as needed. */
  constructor(readonly root: string) {}

  /** Whether the blob is in place. */
  async has(owner: string, sha256: string): Promise<boolean> {
    return present(this.file(owner, sha256), sha256);
  }

  /**
   * The hashes of `shas` the owner's store lacks, each once, in the order given. The ones it has are touched:
   * an upload that names them is about to use them.
   */
  async missing(owner: string, shas: Iterable<string>): Promise<string[]> {
    const unique = [...new Set(shas)];
    const files = unique.map((sha) => this.file(owner, sha));
    const now = new Date();
    const have = await mapLimit(files, STAT_CONCURRENCY, async (file, i) => {
      if (!(await present(file, unique[i]!))) return false;
      return utimes(file, now, now).then(
        () => true,
        (e: unknown) => (code(e) === 'ENOENT' ? false : Promise.reject(e)),
      );
    });
    return unique.filter((_, i) => !have[i]);
  }

  /** Marks blobs as just used, so that trim() keeps them longer; ones not in place are skipped. */
  async touch(owner: string, shas: string | Iterable<string>): Promise<void> {
    const files = [...new Set(typeof shas === 'string' ? [shas] : shas)].map((sha) => this.file(owner, sha));
    const now = new Date();
    await mapLimit(files, STAT_CONCURRENCY, (file) =>
      utimes(file, now, now).catch((e: unknown) => {
        if (code(e) !== 'ENOENT') throw e;
      }),
    );
  }

  /**
   * Stores the blob `sha256` of `size` bytes from `source`, hashed as it is written; 'present' (the source left
   * unread) when the store has it already. Throws BlobTooLargeError as soon as the source goes past `size`,
   * BlobIncompleteError if it ends short, BlobHashError if the content is not the hash's, the signal's reason if
   * aborted; on any failure the source is destroyed (nothing more is read from it) and the temp file removed.
   */
  async write(owner: string, sha256: string, size: number, source: Readable | AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<'written' | 'present'> {
    const file = this.file(owner, sha256);
    if (!Number.isSafeInteger(size) || size < 0) throw new BlobArgumentError(`blob ${sha256}: ${size} is not a size in bytes`, sha256);
    signal?.throwIfAborted();
    if (await present(file, sha256)) {
      await this.touch(owner, sha256);
      return 'present';
    }
    const dir = join(file, '..');
    await mkdir(dir, { recursive: true });
    // Beside the blob, so that the rename is one atomic step on one filesystem.
    const temp = join(dir, `${TEMP_PREFIX}${sha256}-${randomBytes(6).toString('hex')}`);
    const fh = await open(temp, 'wx', 0o644);
    let closed = false;
    let placed = false;
    const it = source[Symbol.asyncIterator]();
    try {
      const hash = createHash('sha256');
      let got = 0;
      for (;;) {
        const next = await untilAborted(it.next(), signal);
        if (next.done) break;
        const chunk: Uint8Array = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
        if (got + chunk.length > size) {
          throw new BlobTooLargeError(`blob ${sha256}: more than the ${size} bytes its manifest entry gives (${formatBytes(size)})`, sha256);
        }
        hash.update(chunk);
        got += chunk.length;
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
        signal?.throwIfAborted();
      }
      if (got < size) throw new BlobIncompleteError(`blob ${sha256}: the upload ended after ${got} of its ${size} bytes`, sha256);
      const actual = hash.digest('hex');
      if (actual !== sha256) throw new BlobHashError(`blob ${sha256}: the ${size} bytes sent hash to ${actual}, not to the sha256 they were sent as`, sha256);
      closed = true;
      await fh.close();
      await rename(temp, file);
      placed = true;
      return 'written';
    } catch (e) {
      stopReading(source, it);
      throw e;
    } finally {
      if (!closed) await fh.close().catch(() => {});
      if (!placed) await rm(temp, { force: true }).catch(() => {});
    }
  }

  /** A stream of the blob's content; BlobNotFoundError (before any byte) if it is not in place. */
  async open(owner: string, sha256: string): Promise<Readable> {
    const file = this.file(owner, sha256);
    try {
      const fh = await open(file, 'r');
      return fh.createReadStream();
    } catch (e) {
      throw code(e) === 'ENOENT' ? new BlobNotFoundError(`blob ${sha256} is not in ${owner}'s upload store`, sha256) : e;
    }
  }

  /** The blob's content, whole: for small blobs, or where a Buffer is all the caller takes (ContextTree.read). */
  async read(owner: string, sha256: string): Promise<Buffer> {
    try {
      return await readFile(this.file(owner, sha256));
    } catch (e) {
      throw code(e) === 'ENOENT' ? new BlobNotFoundError(`blob ${sha256} is not in ${owner}'s upload store`, sha256) : e;
    }
  }

  /**
   * Removes the owner's least recently used blobs until the rest fit in `keepBytes`, never one in `protect`
   * (what an upload still kept or a running build names: the caller must add an upload's blobs there before
   * missing() reports them present, or trim() may take them in between). Temp files a crash left are removed too.
   */
  async trim(owner: string, keepBytes: number, protect: ReadonlySet<string> = new Set()): Promise<TrimResult> {
    const ownerDir = this.ownerDir(owner);
    const blobs: { sha: string; file: string; size: number; mtimeMs: number }[] = [];
    const now = Date.now();
    for (const sub of await readdirOrEmpty(ownerDir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of await readdirOrEmpty(join(ownerDir, sub))) {
        const file = join(ownerDir, sub, name);
        const st = await stat(file).catch((e: unknown) => (code(e) === 'ENOENT' ? null : Promise.reject(e)));
        if (!st?.isFile()) continue;
        if (name.startsWith(TEMP_PREFIX)) {
          if (now - st.mtimeMs > STALE_TEMP_MS) await rm(file, { force: true });
        } else if (SHA256_RE.test(name) && name.startsWith(sub)) {
          blobs.push({ sha: name, file, size: st.size, mtimeMs: st.mtimeMs });
        }
      }
    }
    let keptBytes = blobs.reduce((n, b) => n + b.size, 0);
    let removed = 0;
    let freedBytes = 0;
    blobs.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const b of blobs) {
      if (keptBytes <= keepBytes) break;
      if (protect.has(b.sha)) continue;
      await rm(b.file, { force: true });
      removed++;
      freedBytes += b.size;
      keptBytes -= b.size;
    }
    return { removed, freedBytes, keptBytes };
  }

  /** The blob's path, once the owner and hash are known to be names that cannot leave the root. */
  private file(owner: string, sha256: string): string {
    if (typeof sha256 !== 'string' || !SHA256_RE.test(sha256))
      throw new BlobArgumentError(`${JSON.stringify(sha256)} is not a sha256 (64 lowercase hex digits)`, String(sha256));
    return join(this.ownerDir(owner, sha256), sha256.slice(0, 2), sha256);
  }

  private ownerDir(owner: string, sha256 = ''): string {
    const problem = nameProblem('owner', owner);
    if (problem) throw new BlobArgumentError(problem, sha256);
    return join(this.root, owner);
  }
}

/**
 * Whether a whole blob is at `file`. A blob of size 0 whose hash is not the empty content's is a crash's
 * (renamed before the filesystem wrote its data: blobs are not fsync'ed, since a first upload of 10k small files
 * would pay 10k flushes): it counts as missing, so that the next upload writes it again over it.
 */
async function present(file: string, sha256: string): Promise<boolean> {
  try {
    const st = await stat(file);
    return st.isFile() && (st.size > 0 || sha256 === EMPTY_SHA256);
  } catch (e) {
    if (code(e) === 'ENOENT') return false;
    throw e;
  }
}

/** `p`, or the signal's reason as soon as it aborts (`p` itself may never settle: a client that stopped sending). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Ends the source: a Node stream is destroyed at once, even mid-read; any other iterable's iterator is
 * returned (which may wait for a read in progress).
 */
function stopReading(source: Readable | AsyncIterable<Uint8Array>, it: AsyncIterator<unknown>): void {
  const s = source as Partial<Readable>;
  if (typeof s.destroy === 'function') s.destroy();
  else void Promise.resolve(it.return?.()).catch(() => {});
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (code(e) === 'ENOENT') return [];
    throw e;
  }
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}
