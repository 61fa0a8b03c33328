/**
 * A build context as a POSIX tar stream, for the builders that take one (`docker buildx build -`, dockerd's
 * /build body, buildctl after an untar). The same entries and file bytes the filesync session serves, in the
 * given order, so a context looks the same whichever way it reaches the builder.
 */
import { addAbortSignal, Readable } from 'node:stream';
import { MODE_DIR, MODE_SETGID, MODE_SETUID, MODE_STICKY, MODE_SYMLINK, type TreeEntry } from './tree.js';

const BLOCK = 512;
/** The largest value an 11-digit octal field (size, mtime) holds: 8 GiB - 1. */
const MAX_OCTAL_11 = 8 ** 11 - 1;

/**
 * The tar of `entries`: a header per entry, each regular file's bytes from `open()` padded to a block, then the
 * two zero blocks that end an archive. Pull-based: a file is opened when the reader gets to it and read only as
 * fast as the reader takes the tar, so no file is ever held whole. A file whose stream gives more or fewer bytes
 * than its entry's size errors the stream, naming it (the headers already sent promised that size). Aborting
 * `signal` errors the stream and destroys the file being read.
 */
export function tarStream(entries: TreeEntry[], open: (path: string) => Promise<Readable>, opts: { signal?: AbortSignal } = {}): Readable {
  const { signal } = opts;
  async function* blocks(): AsyncGenerator<Buffer> {
    for (const entry of entries) {
      signal?.throwIfAborted();
      const isDir = (entry.mode & MODE_DIR) !== 0;
      const isLink = !isDir && (entry.mode & MODE_SYMLINK) !== 0;
      const size = isDir || isLink ? 0 : entry.size;
      yield* headers(entry, isDir ? '5' : isLink ? '2' : '0', size);
      if (isDir || isLink) continue;

      const file = await open(entry.path);
      if (signal) addAbortSignal(signal, file);
      let got = 0;
      // Leaving the loop early (an error, the reader destroying the tar) destroys `file` too.
      for await (const chunk of file) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        got += buf.length;
        if (got > size) throw new Error(`${entry.path}: the file has more bytes than its size, ${size}`);
        yield buf;
      }
      if (got < size) throw new Error(`${entry.path}: the file ended after ${got} of its ${size} bytes`);
      if (size % BLOCK !== 0) yield Buffer.alloc(BLOCK - (size % BLOCK));
    }
    yield Buffer.alloc(2 * BLOCK);
  }
  // Byte mode, so the high-water mark counts bytes and the generator runs only while the reader wants more.
  return Readable.from(blocks(), { objectMode: false, signal });
}

/** The entry's ustar header, preceded by a PAX 'x' header for what ustar's fields cannot hold. */
function* headers(entry: TreeEntry, type: '0' | '2' | '5', size: number): Generator<Buffer> {
  const path = Buffer.from(type === '5' ? `${entry.path}/` : entry.path, 'utf8');
  const linkname = Buffer.from(entry.linkname ?? '', 'utf8');
  // Whole seconds: a PAX mtime for the fraction would cost an extra header for nearly every file.
  const mtime = clamp(Number(entry.mtimeNs / 1_000_000_000n), 0, MAX_OCTAL_11);

  const pax: [string, string][] = [];
  let split = splitPath(path);
  if (!split) {
    pax.push(['path', path.toString('utf8')]);
    split = { prefix: Buffer.alloc(0), name: truncate(path, 100) };
  }
  if (linkname.length > 100) pax.push(['linkpath', linkname.toString('utf8')]);
  if (size > MAX_OCTAL_11) pax.push(['size', String(size)]);

  if (pax.length > 0) {
    const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
    // Go's archive/tar names its PAX headers so; a reader that ignores 'x' extracts it as a plain file.
    const name = truncate(Buffer.from(`PaxHeaders.0/${entry.path.split('/').pop()}`, 'utf8'), 100);
    yield header({ name, prefix: Buffer.alloc(0), mode: 0o644, size: body.length, mtime, type: 'x', linkname: Buffer.alloc(0) });
    yield body;
    if (body.length % BLOCK !== 0) yield Buffer.alloc(BLOCK - (body.length % BLOCK));
  }
  yield header({
    ...split,
    mode: tarMode(entry.mode),
    size: size > MAX_OCTAL_11 ? 0 : size,
    mtime,
    type,
    linkname: truncate(linkname, 100),
  });
}

interface Header {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  size: number;
  mtime: number;
  type: string;
  linkname: Buffer;
}

/** One 512-byte ustar header block; uid/gid 0 and no user or group names, as a context carries no owners. */
function header(h: Header): Buffer {
  const b = Buffer.alloc(BLOCK);
  h.name.copy(b, 0);
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, 0); // uid
  octal(b, 116, 8, 0); // gid
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, h.mtime);
  b.write(h.type, 156, 'latin1');
  h.linkname.copy(b, 157);
  b.write('ustar\u000000', 257, 'latin1'); // magic "ustar\0" and version "00"
  octal(b, 329, 8, 0); // devmajor
  octal(b, 337, 8, 0); // devminor
  h.prefix.copy(b, 345);
  // The checksum is the byte sum with its own field counted as spaces, written as 6 digits, NUL, space.
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return b;
}

/** A numeric field: zero-padded octal digits filling all but the last byte, which is NUL. */
function octal(b: Buffer, offset: number, width: number, value: number): void {
  b.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, 'latin1');
}

/** tar's mode: the permission bits plus setuid/setgid/sticky, which Go keeps in high bits of its own. */
function tarMode(mode: number): number {
  return (mode & 0o777) | (mode & MODE_SETUID ? 0o4000 : 0) | (mode & MODE_SETGID ? 0o2000 : 0) | (mode & MODE_STICKY ? 0o1000 : 0);
}

/**
 * ustar's split of a path into a prefix (up to 155 bytes) and a name (1 to 100 bytes) joined by a `/`, or
 * undefined when no `/` allows one. Splitting bytes at 0x2f is safe in UTF-8: it never occurs inside a character.
 */
function splitPath(path: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (path.length <= 100) return { prefix: Buffer.alloc(0), name: path };
  for (let i = Math.min(155, path.length - 2); i > 0; i--) {
    if (path[i] !== 0x2f) continue;
    if (path.length - i - 1 > 100) return undefined; // earlier slashes leave a longer name
    return { prefix: path.subarray(0, i), name: path.subarray(i + 1) };
  }
  return undefined;
}

/** A PAX record, "<length> <key>=<value>\n", whose length counts its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const rest = Buffer.byteLength(` ${key}=${value}\n`, 'utf8');
  const digits = String(rest).length;
  let length = rest + digits;
  if (String(length).length > digits) length++; // adding the digits made one more digit
  return Buffer.from(`${length} ${key}=${value}\n`, 'utf8');
}

/** At most `max` bytes, not cutting a UTF-8 character: the ustar fallback when the real value is in PAX. */
function truncate(b: Buffer, max: number): Buffer {
  if (b.length <= max) return b;
  let n = max;
  while (n > 0 && ((b[n] ?? 0) & 0xc0) === 0x80) n--;
  return b.subarray(0, n);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
