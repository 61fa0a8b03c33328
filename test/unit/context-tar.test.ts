/**
 * A build context as a tar stream (src/context/tar.ts): GNU tar lists and extracts it as the tree it came from
 * (modes with setuid, symlinks, long and UTF-8 paths, PAX where ustar falls short); files stream from open() as
 * the reader pulls; a file whose bytes disagree with its size errors the stream.
 */
import { execa } from 'execa';
import { lstat, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarStream } from '../../src/context/tar.js';
import { MODE_DIR, MODE_SETUID, MODE_SYMLINK, type TreeEntry } from '../../src/context/tree.js';

const MTIME_NS = 1_700_000_000_123_456_789n;
const LONG_150 = `deep/${'d'.repeat(40)}/${'e'.repeat(40)}/${'f'.repeat(40)}/${'g'.repeat(18)}.txt`;
const LONG_300 = `pax/${'p'.repeat(90)}/${'q'.repeat(90)}/${'r'.repeat(90)}/${'s'.repeat(17)}.txt`;
const LONG_TARGET = `../${'t'.repeat(120)}`;

const dir = (path: string): TreeEntry => ({ path, mode: (MODE_DIR | 0o755) >>> 0, size: 0, mtimeNs: MTIME_NS });
const link = (path: string, linkname: string): TreeEntry => ({ path, mode: (MODE_SYMLINK | 0o777) >>> 0, size: 0, mtimeNs: MTIME_NS, linkname });

/** The files' contents, by path; their entries follow. */
const CONTENT: Record<string, string> = {
  'folder/nested.txt': 'nested\n',
  'run.sh': '#!/bin/sh\necho hi\n',
  'empty.txt': '',
  [LONG_150]: '150 chars\n',
  [LONG_300]: '300 chars, a PAX path\n',
  'café/ü.txt': 'utf-8 name\n',
  suid: 'setuid\n',
};
const MODES: Record<string, number> = { 'run.sh': 0o755, suid: (MODE_SETUID | 0o755) >>> 0 };
const file = (path: string): TreeEntry => ({ path, mode: MODES[path] ?? 0o644, size: Buffer.byteLength(CONTENT[path]!), mtimeNs: MTIME_NS });

const ENTRIES: TreeEntry[] = [
  dir('café'),
  file('café/ü.txt'),
  dir('deep'),
  dir(LONG_150.slice(0, LONG_150.lastIndexOf('/'))),
  file(LONG_150),
  file('empty.txt'),
  dir('folder'),
  file('folder/nested.txt'),
  link('link', 'folder/nested.txt'),
  link('longlink', LONG_TARGET),
  dir('pax'),
  file(LONG_300),
  file('run.sh'),
  file('suid'),
];

/** open() over CONTENT, recording what was opened. */
function opener(opened: string[] = []) {
  return async (path: string) => {
    opened.push(path);
    const c = CONTENT[path];
    if (c === undefined) throw new Error(`not a file: ${path}`);
    return Readable.from([Buffer.from(c)]);
  };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'chb-tar-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** GNU tar in a UTF-8 locale, so it neither escapes nor transcodes the names, and in UTC for the listed dates. */
const tar = (args: string[]) => execa('tar', args, { env: { LC_ALL: 'C.UTF-8', TZ: 'UTC' } });

describe('tarStream of a small tree', () => {
  let archive: string;
  let bytes: Buffer;
  const opened: string[] = [];

  beforeAll(async () => {
    bytes = await buffer(tarStream(ENTRIES, opener(opened)));
    archive = join(tmp, 'tree.tar');
    await writeFile(archive, bytes);
  });

  it('opens each regular file once, in order, and nothing else', () => {
    expect(opened).toEqual(ENTRIES.filter((e) => !(e.mode & (MODE_DIR | MODE_SYMLINK))).map((e) => e.path));
  });

  it('is whole blocks ending with two zero blocks', () => {
    expect(bytes.length % 512).toBe(0);
    expect(bytes.subarray(bytes.length - 1024).equals(Buffer.alloc(1024))).toBe(true);
  });

  it('lists in GNU tar with the paths, types, modes and owner 0/0', async () => {
    const { stdout } = await tar(['--quoting-style=literal', '-tvf', archive]);
    const lines = stdout.split('\n');
    expect(lines).toHaveLength(ENTRIES.length);
    const line = (name: string) => lines.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `)) ?? '';
    expect(line('folder/')).toMatch(/^drwxr-xr-x 0\/0 /);
    expect(line('folder/nested.txt')).toMatch(/^-rw-r--r-- 0\/0 +7 /);
    expect(line('run.sh')).toMatch(/^-rwxr-xr-x /);
    expect(line('suid')).toMatch(/^-rwsr-xr-x /);
    expect(line('empty.txt')).toMatch(/^-rw-r--r-- 0\/0 +0 /);
    expect(line('link')).toMatch(/^lrwxrwxrwx .* link -> folder\/nested\.txt$/);
    expect(line('longlink')).toContain(`longlink -> ${LONG_TARGET}`);
    expect(line('café/ü.txt')).toMatch(/^-rw-r--r-- /);
    expect(line(LONG_150)).toMatch(/^-rw-r--r-- /);
    expect(line(LONG_300)).toMatch(/^-rw-r--r-- /);
    expect(lines.every((l) => l.includes(' 2023-11-14 '))).toBe(true); // 1700000000 s, in UTC
  });

  it('extracts in GNU tar to the same contents, modes, links and times', async () => {
    const out = await mkdtemp(join(tmp, 'x-'));
    await tar(['-xpf', archive, '-C', out]);
    for (const [path, c] of Object.entries(CONTENT)) {
      expect(await readFile(join(out, path), 'utf8'), path).toBe(c);
    }
    expect((await stat(join(out, 'run.sh'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(out, 'suid'))).mode & 0o7777).toBe(0o4755);
    expect((await stat(join(out, 'folder/nested.txt'))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(out, 'folder'))).isDirectory()).toBe(true);
    expect((await lstat(join(out, 'link'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(out, 'link'))).toBe('folder/nested.txt');
    expect(await readlink(join(out, 'longlink'))).toBe(LONG_TARGET);
    expect(Math.floor((await stat(join(out, 'run.sh'))).mtimeMs / 1000)).toBe(1_700_000_000);
  });

  it('splits a 150-byte path into ustar prefix and name, and puts a 300-byte one in a PAX header', () => {
    const headerOf = (name: string) => {
      for (let off = 0; off + 512 <= bytes.length; off += 512) {
        const h = bytes.subarray(off, off + 512);
        const field = (s: number, n: number) =>
          h
            .subarray(s, s + n)
            .toString('utf8')
            .replace(/\0.*$/s, '');
        const full = field(345, 155) ? `${field(345, 155)}/${field(0, 100)}` : field(0, 100);
        if (full === name) return h;
      }
      return undefined;
    };
    expect(headerOf(LONG_150)?.toString('latin1', 156, 157)).toBe('0');
    expect(headerOf(LONG_300)).toBeUndefined();
    expect(bytes.includes(`path=${LONG_300}\n`)).toBe(true);
  });
});

describe('tarStream of a large file', () => {
  const SIZE = 3 * 1024 * 1024;
  const CHUNK = 64 * 1024;
  const content = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) content[i] = (i * 31 + (i >> 12)) & 0xff;

  it('streams the file from open() as the reader pulls, bytes intact', async () => {
    let produced = 0;
    const opened: string[] = [];
    let file: Readable | undefined;
    const open = async (path: string) => {
      opened.push(path);
      file = Readable.from(
        (function* () {
          for (let off = 0; off < SIZE; off += CHUNK) {
            produced++;
            yield content.subarray(off, off + CHUNK);
          }
        })(),
        { objectMode: false },
      );
      return file;
    };
    const entry: TreeEntry = { path: 'big.bin', mode: 0o644, size: SIZE, mtimeNs: MTIME_NS };
    const stream = tarStream([entry], open);

    const chunks: Buffer[] = [];
    const it = stream[Symbol.asyncIterator]();
    chunks.push((await it.next()).value as Buffer);
    // The reader stalls. A barrier: the file was read to its end, or the read-ahead came to rest (the tar stream
    // holds what its high-water mark asks for, and the file has filled its own buffer: nobody reads it).
    const atRest = (f: Readable) => f.readableLength >= f.readableHighWaterMark && stream.readableLength >= stream.readableHighWaterMark;
    for (let i = 0; !(file && (file.readableEnded || atRest(file))); i++) {
      if (i > 10_000) throw new Error(`the read-ahead never came to rest: ${produced} chunks produced`);
      await new Promise((r) => setImmediate(r));
    }
    // Only a few chunks are read ahead: the file is not buffered whole.
    expect(produced).toBeLessThan(SIZE / CHUNK / 4);
    for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(r.value as Buffer);

    const bytes = Buffer.concat(chunks);
    expect(opened).toEqual(['big.bin']);
    expect(bytes.length).toBe(512 + SIZE + 1024);
    expect(bytes.subarray(512, 512 + SIZE).equals(content)).toBe(true);
  });
});

describe('tarStream errors', () => {
  const entry = (size: number): TreeEntry => ({ path: 'dir/wrong.txt', mode: 0o644, size, mtimeNs: MTIME_NS });
  const open = async () => Readable.from([Buffer.from('12345')]);

  it('names the file that is shorter than its size', async () => {
    await expect(buffer(tarStream([entry(10)], open))).rejects.toThrow(/dir\/wrong\.txt/);
  });

  it('names the file that is longer than its size', async () => {
    await expect(buffer(tarStream([entry(3)], open))).rejects.toThrow(/dir\/wrong\.txt/);
  });

  it('errors on abort and destroys the file being read', async () => {
    const ac = new AbortController();
    const file = new Readable({ read() {} }); // never ends by itself
    file.push(Buffer.alloc(100));
    const stream = tarStream([entry(1000)], async () => file, { signal: ac.signal });
    const done = buffer(stream);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(done).rejects.toThrow(/abort/i);
    await new Promise((r) => setTimeout(r, 20));
    expect(file.destroyed).toBe(true);
  });
});
