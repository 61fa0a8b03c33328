/**
 * The per-owner blob store of upload builds (src/uploads/blobs.ts), on real temp folders: a blob is in place
 * only when its size and hash were right, nothing is left by a failed or interrupted upload, a source that
 * sends too much is not read further, and trim() drops the least recently used blobs an upload no longer needs.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { BlobArgumentError, BlobHashError, BlobIncompleteError, BlobNotFoundError, BlobStore, BlobTooLargeError } from '../../src/uploads/blobs.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const made: string[] = [];
let root: string;
let store: BlobStore;
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'chb-blobs-'));
  made.push(root);
  store = new BlobStore(root);
});

/** Every file under the store, relative to its root: what a failed write must not add to. */
function files(): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(root.length + 1))
    .sort();
}

/** A source of `chunks` that counts how many were taken from it. */
function counted(chunks: Buffer[]): { source: Readable; pulled: () => number } {
  let i = 0;
  const source = new Readable({
    highWaterMark: 1,
    read() {
      this.push(i < chunks.length ? chunks[i++] : null);
    },
  });
  return { source, pulled: () => i };
}

describe('writing a blob', () => {
  it('stores it under <owner>/<aa>/<sha256> when its size and hash are right, and reads it back', async () => {
    const content = 'hello, upload\n';
    const h = sha(content);
    expect(await store.write('alice', h, content.length, Readable.from([Buffer.from('hello, '), Buffer.from('upload\n')]))).toBe('written');
    expect(files()).toEqual([`alice/${h.slice(0, 2)}/${h}`]);
    expect(await store.has('alice', h)).toBe(true);
    expect((await store.read('alice', h)).toString()).toBe(content);
    expect(await text(await store.open('alice', h))).toBe(content);
    // Per owner: another owner's store does not have it.
    expect(await store.has('bob', h)).toBe(false);
  });

  it('leaves a source unread when the blob is there already', async () => {
    const h = sha('x');
    await store.write('alice', h, 1, Readable.from([Buffer.from('x')]));
    const again = counted([Buffer.from('x')]);
    expect(await store.write('alice', h, 1, again.source)).toBe('present');
    expect(again.pulled()).toBe(0);
  });

  it('takes the empty file, and an async iterable of any chunking', async () => {
    expect(await store.write('alice', sha(''), 0, Readable.from([]))).toBe('written');
    expect(await store.has('alice', sha(''))).toBe(true);
    const big = Buffer.alloc(300_000, 7);
    async function* pieces() {
      for (let o = 0; o < big.length; o += 65_536) yield big.subarray(o, o + 65_536);
    }
    expect(await store.write('alice', sha(big), big.length, pieces())).toBe('written');
    expect((await store.read('alice', sha(big))).equals(big)).toBe(true);
  });

  it("refuses content that is not the hash's, leaving nothing", async () => {
    const claimed = sha('the real thing');
    const err = await store.write('alice', claimed, 5, Readable.from([Buffer.from('bogus')])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobHashError);
    expect((err as BlobHashError).sha256).toBe(claimed);
    expect((err as Error).message).toBe(`blob ${claimed}: the 5 bytes sent hash to ${sha('bogus')}, not to the sha256 they were sent as`);
    expect(files()).toEqual([]);
    expect(await store.has('alice', claimed)).toBe(false);
  });

  it('stops reading at the first byte past the size, and leaves nothing', async () => {
    const chunk = Buffer.alloc(1000, 1);
    const src = counted(Array.from({ length: 1000 }, () => chunk));
    const err = await store.write('alice', sha('whatever'), 2500, src.source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobTooLargeError);
    expect((err as Error).message).toBe(`blob ${sha('whatever')}: more than the 2500 bytes its manifest entry gives (2.44 KiB)`);
    expect(src.source.destroyed).toBe(true);
    expect(src.pulled()).toBeLessThan(10); // three chunks, and what the stream had read ahead
    expect(files()).toEqual([]);
  });

  it('refuses an upload that ends short, leaving nothing', async () => {
    await expect(store.write('alice', sha('abcdef'), 6, Readable.from([Buffer.from('abc')]))).rejects.toThrow(BlobIncompleteError);
    await expect(store.write('alice', sha('abcdef'), 6, Readable.from([Buffer.from('abc')]))).rejects.toThrow(
      `blob ${sha('abcdef')}: the upload ended after 3 of its 6 bytes`,
    );
    expect(files()).toEqual([]);
  });

  it('leaves nothing when aborted while the source is silent, and ends the source', async () => {
    const content = 'first half, second half';
    const source = new Readable({
      read() {
        /* the client stalls after the first chunk */
      },
    });
    source.push(Buffer.from('first half, '));
    const ac = new AbortController();
    const writing = store.write('alice', sha(content), content.length, source, ac.signal);
    // The temp file exists while the upload runs.
    await waitFor(() => files().length === 1);
    expect(files()[0]).toMatch(/^alice\/[0-9a-f]{2}\/\.tmp-/);
    ac.abort();
    await expect(writing).rejects.toThrow(/aborted/);
    expect(source.destroyed).toBe(true);
    expect(files()).toEqual([]);
  });

  it('leaves nothing when the source fails (a dropped connection)', async () => {
    async function* dropped() {
      yield Buffer.from('part');
      throw new Error('socket hang up');
    }
    await expect(store.write('alice', sha('partial content'), 15, dropped())).rejects.toThrow('socket hang up');
    expect(files()).toEqual([]);
  });

  it('refuses an already aborted signal before anything', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(store.write('alice', sha('x'), 1, Readable.from([Buffer.from('x')]), ac.signal)).rejects.toThrow(/aborted/);
    expect(files()).toEqual([]);
  });

  it('writes a blob again over a zero-length one a crash left', async () => {
    const h = sha('content');
    mkdirSync(join(root, 'alice', h.slice(0, 2)), { recursive: true });
    writeFileSync(join(root, 'alice', h.slice(0, 2), h), '');
    expect(await store.has('alice', h)).toBe(false);
    expect(await store.missing('alice', [h])).toEqual([h]);
    expect(await store.write('alice', h, 7, Readable.from([Buffer.from('content')]))).toBe('written');
    expect((await store.read('alice', h)).toString()).toBe('content');
  });
});

describe('names', () => {
  it('refuses owners and hashes that could leave the root', async () => {
    for (const owner of ['..', '../bob', 'a/b', '', 'Alice', 'system']) {
      await expect(store.has(owner, sha('x'))).rejects.toThrow(BlobArgumentError);
    }
    for (const h of ['../../../etc/passwd', sha('x').toUpperCase(), sha('x').slice(1), `${sha('x')}/..`]) {
      await expect(store.has('alice', h)).rejects.toThrow(BlobArgumentError);
      await expect(store.write('alice', h, 1, Readable.from([Buffer.from('x')]))).rejects.toThrow(
        `${JSON.stringify(h)} is not a sha256 (64 lowercase hex digits)`,
      );
    }
    await expect(store.missing('alice', [sha('x'), 'nope'])).rejects.toThrow(BlobArgumentError);
    await expect(store.write('alice', sha('x'), -1, Readable.from([]))).rejects.toThrow(BlobArgumentError);
    expect(existsSync(join(root, 'etc'))).toBe(false);
    expect(files()).toEqual([]);
  });

  it('says which blob is not there', async () => {
    const h = sha('nothing');
    await expect(store.read('alice', h)).rejects.toThrow(BlobNotFoundError);
    await expect(store.open('alice', h)).rejects.toThrow(`blob ${h} is not in alice's upload store`);
  });
});

describe('which blobs an upload must send', () => {
  it('lists the missing ones once, in the order given, and touches the ones present', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((s) => sha(s)) as [string, string, string];
    await store.write('alice', a, 1, Readable.from([Buffer.from('a')]));
    const old = Date.now() / 1000 - 86_400;
    utimesSync(join(root, 'alice', a.slice(0, 2), a), old, old);
    expect(await store.missing('alice', [c, a, b, c])).toEqual([c, b]);
    expect(await store.missing('bob', [a])).toEqual([a]);
    // Named by an upload: used just now.
    const { statSync } = await import('node:fs');
    expect(Date.now() - statSync(join(root, 'alice', a.slice(0, 2), a)).mtimeMs).toBeLessThan(60_000);
  });
});

describe('trimming a store to its budget', () => {
  /** Blobs of 10 bytes, last used in the order given (the first longest ago). */
  async function blobs(...names: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const [i, n] of names.entries()) {
      const content = n.padEnd(10, '.');
      const h = sha(content);
      await store.write('alice', h, 10, Readable.from([Buffer.from(content)]));
      const t = Date.now() / 1000 - 3600 * (names.length - i);
      utimesSync(join(root, 'alice', h.slice(0, 2), h), t, t);
      out.push(h);
    }
    return out;
  }

  it('removes the least recently used first, never a protected one', async () => {
    const [oldest, old, recent, newest] = (await blobs('oldest', 'old', 'recent', 'newest')) as [string, string, string, string];
    expect(await store.trim('alice', 20, new Set([oldest]))).toEqual({ removed: 2, freedBytes: 20, keptBytes: 20 });
    expect(await store.missing('alice', [oldest, old, recent, newest])).toEqual([old, recent]);
  });

  it('counts a touch as a use', async () => {
    const [first, second, third] = (await blobs('first', 'second', 'third')) as [string, string, string];
    await store.touch('alice', first);
    await store.touch('alice', [sha('never stored')]); // nothing to touch: no error
    expect(await store.trim('alice', 10)).toEqual({ removed: 2, freedBytes: 20, keptBytes: 10 });
    expect(await store.has('alice', first)).toBe(true);
    expect(await store.has('alice', second)).toBe(false);
    expect(await store.has('alice', third)).toBe(false);
  });

  it('stays over budget rather than remove what is protected, and leaves stores under it alone', async () => {
    const hs = await blobs('a', 'b');
    expect(await store.trim('alice', 5, new Set(hs))).toEqual({ removed: 0, freedBytes: 0, keptBytes: 20 });
    expect(await store.trim('alice', 100)).toEqual({ removed: 0, freedBytes: 0, keptBytes: 20 });
    expect(await store.trim('nobody', 0)).toEqual({ removed: 0, freedBytes: 0, keptBytes: 0 });
  });

  it('removes temp files a crash left, not one an upload is writing', async () => {
    const h = await blobs('kept');
    const dir = join(root, 'alice', 'ab');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `.tmp-${'ab'.padEnd(64, '0')}-stale`), 'x');
    writeFileSync(join(dir, `.tmp-${'ab'.padEnd(64, '1')}-live`), 'x');
    const twoDays = Date.now() / 1000 - 2 * 86_400;
    utimesSync(join(dir, `.tmp-${'ab'.padEnd(64, '0')}-stale`), twoDays, twoDays);
    expect(await store.trim('alice', 100)).toEqual({ removed: 0, freedBytes: 0, keptBytes: 10 });
    expect(files()).toEqual([`alice/${h[0]!.slice(0, 2)}/${h[0]}`, `alice/ab/.tmp-${'ab'.padEnd(64, '1')}-live`].sort());
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error('timed out');
}
