/**
 * The manifest of an upload build (src/uploads/manifest.ts): what a workspace may say its context holds, every
 * problem named by entry at once, the size limit named with the context's size, and fsutil's order.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fsutilOrder } from '../../src/context/git-tree.js';
import { MODE_DIR, MODE_SYMLINK } from '../../src/context/tree.js';
import { MAX_UPLOAD_ENTRIES, validateManifest, type ManifestEntry } from '../../src/uploads/manifest.js';

const GiB = 1024 ** 3;
const limits = { maxBytes: 512 * 1024 * 1024 };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const dir = (path: string, perm = 0o755): ManifestEntry => ({ path, mode: (MODE_DIR | perm) >>> 0, size: 0 });
const file = (path: string, content = path, perm = 0o644): ManifestEntry => ({ path, mode: perm, size: Buffer.byteLength(content), sha256: sha(content) });
const link = (path: string, linkname: string): ManifestEntry => ({ path, mode: (MODE_SYMLINK | 0o777) >>> 0, size: 0, linkname });

function problems(entries: unknown[], l = limits): string[] {
  const r = validateManifest({ entries }, l);
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

describe('a valid manifest', () => {
  it("comes back in fsutil's order, with its size and each blob once", () => {
    const r = validateManifest(
      {
        entries: [
          file('a.txt', 'same'),
          file('a/x', 'same'),
          dir('a'),
          file('Dockerfile', 'FROM scratch\n'),
          link('l', '../../etc/passwd'),
          file('run.sh', '#!/bin/sh\n', 0o755),
        ],
      },
      limits,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.manifest.entries.map((e) => e.path)).toEqual(['Dockerfile', 'a', 'a/x', 'a.txt', 'l', 'run.sh']);
    expect(r.manifest.totalBytes).toBe(4 + 4 + 13 + 10);
    expect(r.manifest.blobs).toEqual([sha('FROM scratch\n'), sha('same'), sha('#!/bin/sh\n')]);
    // Any symlink target: BuildKit resolves links inside the context, and the server never follows them.
    expect(r.manifest.entries.find((e) => e.path === 'l')).toEqual(link('l', '../../etc/passwd'));
  });

  it("keeps only the known fields, and Go's setuid, setgid and sticky bits", () => {
    const setuid = 0x00800000 | 0o755;
    const sticky = (MODE_DIR | 0x00100000 | 0o777) >>> 0;
    const r = validateManifest(
      {
        entries: [
          { ...dir('tmp'), mode: sticky, extra: 1 },
          { ...file('tmp/su'), mode: setuid, mtime: 5 },
        ],
      },
      limits,
    );
    expect(r).toEqual({
      ok: true,
      manifest: {
        entries: [
          { path: 'tmp', mode: sticky, size: 0 },
          { ...file('tmp/su'), mode: setuid },
        ],
        totalBytes: 6,
        blobs: [sha('tmp/su')],
      },
    });
  });

  it('takes an empty context (the build then says there is no Dockerfile)', () => {
    expect(validateManifest({ entries: [] }, limits)).toEqual({ ok: true, manifest: { entries: [], totalBytes: 0, blobs: [] } });
  });

  it('sorts as fsutilOrder does, names with bytes around "/" and beyond ASCII included', () => {
    const names = ['a', 'a.b', 'a-b', 'a b', 'a/b', 'a/b/c', 'a/b.c', 'a0', 'B', 'é', 'e\u0301', '\u{1F600}', '\uFFFD', 'z', '_', '~'];
    const entries: ManifestEntry[] = [];
    for (const n of names)
      for (const m of names) {
        if (n.includes('/') || m.includes('/')) continue;
        entries.push(dir(n), file(`${n}/${m}`));
      }
    const unique = [...new Map(entries.map((e) => [e.path, e])).values()].reverse();
    const r = validateManifest({ entries: unique }, limits);
    if (!r.ok) throw new Error(r.problems.join('\n'));
    expect(r.manifest.entries.map((e) => e.path)).toEqual(unique.map((e) => e.path).sort(fsutilOrder));
  });
});

describe('problems, each naming its entry', () => {
  it('refuses paths that are not plain relative paths', () => {
    expect(
      problems([file('/etc/passwd'), file('a/../../x'), file('./x'), file('a//b'), file('a/'), file(''), file('a\0b'), file('a\nb'), file('x\uD800')]),
    ).toEqual([
      'entries[0] ("/etc/passwd"): the path starts with "/": paths are relative to the context folder',
      'entries[1] ("a/../../x"): the path has a ".." component',
      'entries[2] ("./x"): the path has a "." component',
      'entries[3] ("a//b"): the path has an empty component ("//" or a trailing "/")',
      'entries[4] ("a/"): the path has an empty component ("//" or a trailing "/")',
      'entries[5] (""): the path is empty',
      'entries[6] ("a\\u0000b"): the path holds a NUL byte',
      'entries[7] ("a\\nb"): the path holds a line break',
      'entries[8] ("x\\ud800"): the path is not valid Unicode',
    ]);
    expect(problems([file(`${'x'.repeat(256)}`)])[0]).toContain('a name in the path is longer than 255 bytes');
    // Every other control character too: a path is echoed into logs and terminals.
    expect(problems([file('a\x1b[2Jb'), file('bell\x07'), file('del\x7f'), file('c1\u009b'), file('tab\tx')])).toEqual([
      'entries[0] ("a\\u001b[2Jb"): the path holds the control character U+001B',
      'entries[1] ("bell\\u0007"): the path holds the control character U+0007',
      'entries[2] ("del\\x7f"): the path holds the control character U+007F',
      'entries[3] ("c1\\x9b"): the path holds the control character U+009B',
      'entries[4] ("tab\\tx"): the path holds the control character U+0009',
    ]);
  });

  it('refuses duplicates, and entries whose folder is missing or is not a folder', () => {
    expect(problems([dir('a'), file('a/x'), file('a/x', 'other'), file('b/y'), file('f'), file('f/z'), link('l', 'a'), file('l/w')])).toEqual([
      'entries[2] ("a/x"): listed twice (also entries[1])',
      'entries[3] ("b/y"): its folder "b" is not listed: list every folder above an entry',
      'entries[5] ("f/z"): "f" (entries[4]) is not a folder, so nothing can be under it',
      'entries[7] ("l/w"): "l" (entries[6]) is not a folder, so nothing can be under it',
    ]);
  });

  it("checks each kind's fields: a file's sha256, sizes, a symlink's target, the mode's type", () => {
    expect(
      problems([
        { ...file('nohash'), sha256: undefined },
        { ...file('upper'), sha256: sha('x').toUpperCase() },
        { ...file('neg'), size: -1 },
        { ...file('half'), size: 1.5 },
        { ...file('huge'), size: 2 ** 53 },
        { ...dir('d'), size: 4096 },
        { ...dir('d2'), sha256: sha('x') },
        { ...link('l', 'x'), linkname: undefined },
        { ...link('l2', 'x'), linkname: '' },
        { ...file('f'), linkname: 'x' },
        { ...file('sock'), mode: 0x01000000 | 0o755 },
        { ...file('both'), mode: (MODE_DIR | MODE_SYMLINK | 0o755) >>> 0 },
        { ...file('odd'), mode: 0x1000 },
        { ...file('neg-mode'), mode: -1 },
        'a string',
        { path: 7, mode: 0o644, size: 0, sha256: sha('') },
      ]),
    ).toEqual([
      'entries[0] ("nohash"): a file needs its sha256: 64 lowercase hex digits',
      'entries[1] ("upper"): a file needs its sha256: 64 lowercase hex digits',
      'entries[2] ("neg"): size must be a whole number of bytes, 0 or more',
      'entries[3] ("half"): size must be a whole number of bytes, 0 or more',
      'entries[4] ("huge"): size must be a whole number of bytes, 0 or more',
      'entries[5] ("d"): a folder\'s size must be 0',
      'entries[6] ("d2"): a folder has no sha256',
      'entries[7] ("l"): a symlink needs its linkname (its target)',
      'entries[8] ("l2"): a symlink needs its linkname (its target)',
      'entries[9] ("f"): a file has no linkname',
      'entries[10] ("sock"): mode 0x10001ed is a socket: a context holds only files, folders and symlinks',
      'entries[11] ("both"): mode 0x880001ed is both a folder and a symlink',
      'entries[12] ("odd"): mode 0x1000 has bits no Go FileMode of a file, folder or symlink has (0x1000)',
      'entries[13] ("neg-mode"): mode must be a Go FileMode: an integer from 0 to 2^32-1',
      'entries[14]: not an object { path, mode, size, sha256?, linkname? }',
      'entries[15]: path must be a string',
    ]);
  });

  it('names every problem of one entry in its line', () => {
    expect(problems([{ path: '/a/../b', mode: 0o644, size: -2 }])).toEqual([
      'entries[0] ("/a/../b"): the path starts with "/": paths are relative to the context folder; the path has a ".." component; size must be a whole number of bytes, 0 or more; a file needs its sha256: 64 lowercase hex digits',
    ]);
  });

  it('does not call a listed but malformed folder missing', () => {
    expect(problems([{ ...dir('a'), size: 1 }, file('a/x')])).toEqual(['entries[0] ("a"): a folder\'s size must be 0']);
  });

  it('refuses what is not a manifest, without throwing', () => {
    for (const body of [null, undefined, 'x', 42, [], { entries: 'x' }, { entries: null }, { entry: [] }]) {
      expect(validateManifest(body, limits)).toEqual({
        ok: false,
        tooLarge: false,
        problems: ['the manifest must be an object { "entries": [{ path, mode, size, sha256?, linkname? }, ...] }'],
      });
    }
  });

  it('lists the first hundred problems and counts the rest', () => {
    const p = problems(Array.from({ length: 150 }, (_, i) => file(`/f${i}`)));
    expect(p).toHaveLength(101);
    expect(p[100]).toBe('... and 50 more problems');
  });
});

describe('limits', () => {
  it("names the limit, its setting and the context's size when it is over", () => {
    const big = { ...file('big.iso'), size: Math.round(1.2 * GiB) };
    const r = validateManifest({ entries: [big, file('Dockerfile')] }, limits);
    expect(r).toEqual({
      ok: false,
      tooLarge: true,
      problems: ['the context is 1.2 GiB; the server takes at most 512 MiB (CODEHUB_MAX_UPLOAD_BYTES): add what the build does not need to .dockerignore'],
    });
    const other = validateManifest({ entries: [big] }, { maxBytes: GiB, setting: 'upload_limit' });
    expect(!other.ok && other.problems).toEqual([
      'the context is 1.2 GiB; the server takes at most 1 GiB (upload_limit): add what the build does not need to .dockerignore',
    ]);
    // Exactly at the limit is within it; folders and symlinks count nothing.
    expect(validateManifest({ entries: [{ ...file('x'), size: GiB }, dir('d'), link('l', 'x')] }, { maxBytes: GiB }).ok).toBe(true);
  });

  it('reports the size with the other problems, still as too large', () => {
    const r = validateManifest({ entries: [{ ...file('big'), size: 2 * GiB }, file('/abs')] }, limits);
    expect(r).toMatchObject({ ok: false, tooLarge: true });
    expect(!r.ok && r.problems).toHaveLength(2);
  });

  it('refuses more entries than the limit before looking at any', () => {
    expect(MAX_UPLOAD_ENTRIES).toBe(200_000);
    const r = validateManifest({ entries: Array.from({ length: 4 }, () => 'junk') }, { ...limits, maxEntries: 3 });
    expect(r).toEqual({
      ok: false,
      tooLarge: true,
      problems: ['the context has 4 entries; the server takes at most 3: add what the build does not need to .dockerignore'],
    });
  });
});
