/**
 * The layer walker (src/scan/layer-walk.ts) and the layers applied in order (src/scan/image-files.ts), on layers
 * made here with tar-stream and zlib as BuildKit writes them: selected files kept and the rest drained, whiteouts
 * and opaque folders, hostile paths, links, caps, broken and unsupported layers, a 300 MB entry read in bounded
 * memory, and a three-layer image where a file is added, replaced, then deleted.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGzip, gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { type GoBuildInfo, goBuildInfoSink } from '../../src/scan/go-buildinfo.js';
import { applyLayers, type LayerChanges } from '../../src/scan/image-files.js';
import { isJavaArchive, jarSink, type PomProperties } from '../../src/scan/jar.js';
import { type EntryInfo, type FileSink, type LayerEntry, type LayerFiles, normaliseLayerPath, walkLayer } from '../../src/scan/layer-walk.js';

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const PLAIN = 'application/vnd.oci.image.layer.v1.tar';
const FIXTURES = fileURLToPath(new URL('../fixtures/scan/', import.meta.url));
/** A real Go binary: esbuild's, as npm installed it for this platform. */
const ESBUILD = fileURLToPath(new URL(`../../node_modules/@esbuild/${process.platform}-${process.arch}/bin/esbuild`, import.meta.url));

type Spec = Partial<Header> & { name: string; content?: string | Buffer };

/** The tar of `entries`, as bytes. */
async function tarOf(entries: Spec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) => pack.entry(header, content ?? '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A gzip layer of `entries`, as a registry would stream it (in small chunks, so entries cross chunk edges). */
async function layer(entries: Spec[]): Promise<Readable> {
  return chunked(gzipSync(await tarOf(entries)));
}

function chunked(bytes: Buffer, size = 4096): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

const DPKG = 'var/lib/dpkg/status';
/** Package databases by path, as the inventory will select them. */
const selectDbs = (path: string) => path === DPKG || path === 'etc/os-release' || /(^|\/)node_modules\/[^/]+\/package\.json$/.test(path);

/** A kept file's text, or the kind of what stands at the path (undefined: nothing). */
function text(files: ReadonlyMap<string, { kind: string }>, path: string): string | undefined {
  const e = files.get(path);
  if (e && 'bytes' in e && Buffer.isBuffer(e.bytes)) return e.bytes.toString('utf8');
  return e?.kind;
}

describe('walkLayer', () => {
  it('keeps only the selected files, by normalised path, and drains the rest', async () => {
    const asked: string[] = [];
    const out = await walkLayer(
      await layer([
        { name: './', type: 'directory' },
        { name: './etc/', type: 'directory' },
        { name: './etc/os-release', content: 'ID=debian\nVERSION_ID="12"\n' },
        { name: './usr/bin/big', content: Buffer.alloc(100_000, 7), mode: 0o755 },
        { name: '/var/lib/dpkg/status', content: 'Package: libexpat1\nStatus: install ok installed\n' },
        { name: 'app//node_modules/./lodash/package.json', content: '{"name":"lodash","version":"4.17.20"}' },
        { name: 'app/node_modules/lodash/lodash.js', content: 'module.exports = {}' },
      ]),
      GZIP,
      (path) => {
        asked.push(path);
        return selectDbs(path);
      },
    );
    expect(out.complete).toBe(true);
    expect(out.problems).toEqual([]);
    expect([...out.files.keys()].sort()).toEqual(['app/node_modules/lodash/package.json', 'etc/os-release', DPKG]);
    expect(text(out.files, 'etc/os-release')).toBe('ID=debian\nVERSION_ID="12"\n');
    expect(text(out.files, DPKG)).toBe('Package: libexpat1\nStatus: install ok installed\n');
    expect(text(out.files, 'app/node_modules/lodash/package.json')).toContain('4.17.20');
    // Folders are never offered; every file is, once, by its normalised path.
    expect(asked).toEqual(['etc/os-release', 'usr/bin/big', DPKG, 'app/node_modules/lodash/package.json', 'app/node_modules/lodash/lodash.js']);
  });

  it('reads a plain tar and the Docker media type as well as OCI gzip', async () => {
    const entries = [{ name: 'etc/os-release', content: 'ID=alpine\n' }];
    const plain = await walkLayer(chunked(await tarOf(entries)), PLAIN, selectDbs);
    const docker = await walkLayer(await layer(entries), `${DOCKER_GZIP}; charset=binary`, selectDbs);
    for (const out of [plain, docker]) {
      expect(out.complete).toBe(true);
      expect(text(out.files, 'etc/os-release')).toBe('ID=alpine\n');
    }
  });

  it('records whiteouts and opaque folders, and skips AUFS bookkeeping', async () => {
    const out = await walkLayer(
      await layer([
        { name: 'var/lib/dpkg/.wh.status' },
        { name: './usr/lib/node_modules/.wh..wh..opq' },
        { name: 'usr/lib/node_modules/npm/package.json', content: '{"name":"npm","version":"10.0.0"}' },
        { name: '.wh.opt' },
        { name: '.wh..wh.plnk', type: 'directory' },
        { name: 'usr/.wh..wh.aufs' },
        { name: '.wh..wh..opq' },
      ]),
      GZIP,
      selectDbs,
    );
    expect(out.whiteouts).toEqual([DPKG, 'opt']);
    expect(out.opaque).toEqual(['usr/lib/node_modules', '']);
    expect(text(out.files, 'usr/lib/node_modules/npm/package.json')).toContain('"npm"');
    expect(out.files.size).toBe(1);
  });

  it('skips a path that climbs out of the root, naming it, and reads on', async () => {
    const asked: string[] = [];
    const out = await walkLayer(
      await layer([
        { name: '../../etc/os-release', content: 'ID=evil\n' },
        { name: 'var/../../var/lib/dpkg/status', content: 'evil' },
        { name: '../.wh.etc' },
        { name: 'etc/../etc/os-release', content: 'ID=debian\n' },
      ]),
      GZIP,
      (path) => {
        asked.push(path);
        return selectDbs(path);
      },
    );
    expect(out.complete).toBe(true);
    expect(asked).toEqual(['etc/os-release']);
    expect(text(out.files, 'etc/os-release')).toBe('ID=debian\n');
    expect(out.files.has(DPKG)).toBe(false);
    expect(out.whiteouts).toEqual([]);
    expect(out.problems).toEqual([
      '"../../etc/os-release" climbs out of the image\'s root: skipped',
      '"var/../../var/lib/dpkg/status" climbs out of the image\'s root: skipped',
      '"../.wh.etc" climbs out of the image\'s root: skipped',
    ]);
  });

  it('does not follow a symlink (it shadows the path) and gives a hard link its target as kept', async () => {
    const out = await walkLayer(
      await layer([
        { name: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
        { name: 'usr/lib/os-release', content: 'ID=debian\n' },
        { name: 'app/node_modules/a/package.json', content: '{"name":"a"}' },
        { name: 'app/node_modules/b/package.json', type: 'link', linkname: './app/node_modules/a/package.json' },
        { name: 'app/node_modules/c/package.json', type: 'link', linkname: 'app/unselected.json' },
        { name: DPKG, type: 'link', linkname: 'etc/os-release' },
      ]),
      GZIP,
      selectDbs,
    );
    expect(out.files.get('etc/os-release')).toEqual({ kind: 'shadow' });
    expect(out.files.has('usr/lib/os-release')).toBe(false);
    expect(text(out.files, 'app/node_modules/b/package.json')).toBe('{"name":"a"}');
    expect(out.files.get('app/node_modules/c/package.json')).toEqual({ kind: 'shadow' });
    // A link to a shadow (the symlink above) is a shadow, with nothing to say.
    expect(out.files.get(DPKG)).toEqual({ kind: 'shadow' });
    expect(out.problems).toEqual(['app/node_modules/c/package.json is a hard link to "app/unselected.json", which this layer did not keep: not read']);
  });

  it('does not keep a selected file over the cap, nor past the layer total, and reads the next one', async () => {
    const out = await walkLayer(
      await layer([
        { name: DPKG, content: Buffer.alloc(2048, 'a') },
        { name: 'app/node_modules/a/package.json', content: Buffer.alloc(900, 'b') },
        { name: 'app/node_modules/b/package.json', content: Buffer.alloc(900, 'c') },
        { name: 'etc/os-release', content: 'ID=debian\n' },
      ]),
      GZIP,
      selectDbs,
      { maxFileBytes: 1024, maxKeptBytes: 905 },
    );
    expect(out.complete).toBe(true);
    expect(out.files.get(DPKG)).toEqual({ kind: 'shadow' });
    expect(text(out.files, 'app/node_modules/a/package.json')).toBe('b'.repeat(900));
    expect(out.files.get('app/node_modules/b/package.json')).toEqual({ kind: 'shadow' });
    expect(out.files.get('etc/os-release')).toEqual({ kind: 'shadow' });
    expect(out.problems).toEqual([
      `${DPKG} is 2048 bytes, more than the 1024 read of one file: not read`,
      "app/node_modules/b/package.json (900 bytes) would take the layer's kept files past 905 bytes: not read",
      "etc/os-release (10 bytes) would take the layer's kept files past 905 bytes: not read",
    ]);
  });

  it('says a zstd layer and an unknown media type are not read, and consumes nothing', async () => {
    for (const [type, problem] of [
      [
        'application/vnd.oci.image.layer.v1.tar+zstd',
        'the layer is compressed with zstd (application/vnd.oci.image.layer.v1.tar+zstd), which is not supported yet',
      ],
      ['application/vnd.oci.image.config.v1+json', 'the layer\'s media type "application/vnd.oci.image.config.v1+json" is not a tar layer this scanner reads'],
    ]) {
      const stream = await layer([{ name: 'etc/os-release', content: 'ID=x\n' }]);
      const out = await walkLayer(stream, type!, selectDbs);
      expect(out.complete).toBe(false);
      expect(out.files.size).toBe(0);
      expect(out.problems).toEqual([`${problem}: nothing in it was read`]);
      expect(stream.destroyed).toBe(true);
    }
  });

  it('answers a layer that is not gzip, a tar cut short and a failing stream as incomplete, keeping what came before', async () => {
    const notGzip = await walkLayer(chunked(await tarOf([{ name: 'etc/os-release', content: 'ID=x\n' }])), GZIP, selectDbs);
    expect(notGzip.complete).toBe(false);
    expect(notGzip.problems).toEqual(['the layer is not valid gzip: incorrect header check']);

    const whole = await tarOf([
      { name: 'etc/os-release', content: 'ID=debian\n' },
      { name: DPKG, content: Buffer.alloc(10_000, 'p') },
    ]);
    const cut = await walkLayer(chunked(whole.subarray(0, 2048)), PLAIN, selectDbs);
    expect(cut.complete).toBe(false);
    expect(text(cut.files, 'etc/os-release')).toBe('ID=debian\n');
    expect(cut.files.has(DPKG)).toBe(false);
    expect(cut.problems).toHaveLength(1);
    expect(cut.problems[0]).toMatch(/^the layer is not a valid tar: /);

    const failing = Readable.from(
      (async function* () {
        yield whole.subarray(0, 1536);
        throw new Error('connection reset by the registry');
      })(),
    );
    const broken = await walkLayer(failing, PLAIN, selectDbs);
    expect(broken.complete).toBe(false);
    expect(text(broken.files, 'etc/os-release')).toBe('ID=debian\n');
    expect(broken.problems).toEqual(['the layer stream failed: connection reset by the registry']);
  });

  it('checks the bytes against the layer digest when given one, and reads nothing for a digest it cannot check', async () => {
    const bytes = gzipSync(await tarOf([{ name: 'etc/os-release', content: 'ID=debian\n' }]));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const right = await walkLayer(chunked(bytes), GZIP, selectDbs, { digest });
    expect(right.complete).toBe(true);
    expect(right.problems).toEqual([]);

    const other = `sha256:${'0'.repeat(64)}`;
    const wrong = await walkLayer(chunked(bytes), GZIP, selectDbs, { digest: other });
    expect(wrong.complete).toBe(false);
    expect(wrong.problems).toEqual([`the layer's bytes hash to ${digest}, not to its digest ${other}`]);

    const md5 = await walkLayer(chunked(bytes), GZIP, selectDbs, { digest: 'md5:abc' });
    expect(md5.complete).toBe(false);
    expect(md5.files.size).toBe(0);
    expect(md5.problems).toEqual(['the layer\'s digest "md5:abc" is not sha256:<hex> or sha512:<hex>: nothing in it was read']);
  });

  it('feeds sniffed files to their sink, drains what the sink does not want, and names a sink that throws', async () => {
    const seen: { path: string; info: EntryInfo; bytes: number }[] = [];
    const firstBytes = (path: string, info: EntryInfo): FileSink<string> => {
      const record = { path, info, bytes: 0 };
      seen.push(record);
      return {
        write(chunk) {
          record.bytes += chunk.length;
          if (path.endsWith('bad')) throw new Error('the sink broke');
          return true;
        },
        end: () => ({ found: `${path} starts ${record.bytes > 0 ? 'with bytes' : 'empty'}`, problems: path.endsWith('warn') ? ['odd, but read'] : [] }),
      };
    };
    const out = await walkLayer(
      await layer([
        { name: 'bin/tool', content: Buffer.alloc(300_000, 1), mode: 0o755 },
        { name: 'bin/warn', content: 'x', mode: 0o755 },
        { name: 'bin/bad', content: 'y', mode: 0o755 },
        { name: 'bin/readme', content: 'not executable', mode: 0o644 },
        { name: 'etc/os-release', content: 'ID=debian\n' },
      ]),
      GZIP,
      (path, info) => ((info.mode & 0o111) !== 0 ? 'sniff' : selectDbs(path)),
      { sniff: firstBytes },
    );
    expect(out.complete).toBe(true);
    expect(seen.map((s) => [s.path, s.info.type, s.info.size])).toEqual([
      ['bin/tool', 'file', 300_000],
      ['bin/warn', 'file', 1],
      ['bin/bad', 'file', 1],
    ]);
    // The sink said it had enough after its first write: it got one chunk of the 300,000 bytes, not all.
    expect(seen[0]!.bytes).toBeGreaterThan(0);
    expect(seen[0]!.bytes).toBeLessThan(300_000);
    expect(out.files.get('bin/tool')).toEqual({ kind: 'found', found: 'bin/tool starts with bytes' });
    expect(out.files.get('bin/bad')).toEqual({ kind: 'shadow' });
    expect(out.files.has('bin/readme')).toBe(false);
    expect(text(out.files, 'etc/os-release')).toBe('ID=debian\n');
    expect(out.problems).toEqual(['bin/warn: odd, but read', 'bin/bad: could not be read: the sink broke']);
  });

  it('streams a 300 MB entry through without holding it', async () => {
    const SIZE = 300 * 1024 * 1024;
    const CHUNK = Buffer.alloc(1024 * 1024, 'z');
    const pack = tar.pack();
    const gzip = createGzip({ level: 1 });
    pack.pipe(gzip);
    const base = heldBytes();
    let peak = 0;
    const writing = (async () => {
      const body = pack.entry({ name: 'var/lib/dpkg/status', size: SIZE });
      for (let sent = 0; sent < SIZE; sent += CHUNK.length) {
        peak = Math.max(peak, heldBytes() - base);
        if (!body.write(CHUNK)) await new Promise<void>((resolve) => body.once('drain', () => resolve()));
      }
      // streamx's end() takes a last chunk: an empty one adds nothing.
      body.end(Buffer.alloc(0));
      await new Promise<void>((resolve, reject) => pack.entry({ name: 'etc/os-release' }, 'ID=debian\n', (err) => (err ? reject(err) : resolve())));
      pack.finalize();
    })();
    const out = await walkLayer(gzip, GZIP, selectDbs, { maxFileBytes: 1024 * 1024 });
    await writing;
    expect(out.complete).toBe(true);
    expect(out.files.get(DPKG)).toEqual({ kind: 'shadow' });
    expect(out.problems).toEqual([`${DPKG} is ${SIZE} bytes, more than the 1048576 read of one file: not read`]);
    expect(text(out.files, 'etc/os-release')).toBe('ID=debian\n');
    // Held bytes (heap and buffers) never grew by anything near the entry's 300 MB while it streamed.
    expect(peak).toBeLessThan(100 * 1024 * 1024);
  });
});

/** What a sink found at `path`; anything else there fails the test. */
function foundIn<S>(files: ReadonlyMap<string, LayerEntry<S>>, path: string): S {
  const e = files.get(path);
  if (e?.kind !== 'found') throw new Error(`${path}: ${e?.kind ?? 'nothing'} where a finding was expected`);
  return e.found;
}

function heldBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('normaliseLayerPath', () => {
  it('drops ./, leading and doubled slashes, resolves .. inside the root, refuses .. above it', () => {
    expect(normaliseLayerPath('./usr/bin/')).toBe('usr/bin');
    expect(normaliseLayerPath('/usr//bin/.')).toBe('usr/bin');
    expect(normaliseLayerPath('usr/lib/../bin/x')).toBe('usr/bin/x');
    expect(normaliseLayerPath('./')).toBe('');
    expect(normaliseLayerPath('../etc/passwd')).toBeNull();
    expect(normaliseLayerPath('usr/../../etc/passwd')).toBeNull();
    expect(normaliseLayerPath('usr/\0/x')).toBeNull();
  });
});

const bytes = (s: string): LayerEntry<string> => ({ kind: 'bytes', bytes: Buffer.from(s) });
const changes = (digest: string, files: Record<string, LayerEntry<string>>, whiteouts: string[] = [], opaque: string[] = []): LayerChanges<string> => ({
  digest,
  files: new Map(Object.entries(files)),
  whiteouts,
  opaque,
});
const view = (image: ReturnType<typeof applyLayers<string>>) =>
  Object.fromEntries([...image].map(([path, f]) => [path, `${f.kind === 'bytes' ? f.bytes.toString() : f.found}@${f.layer}`]));

describe('applyLayers', () => {
  it('lays each layer over the ones below, keeping the digest of the layer that last wrote each file', () => {
    const image = applyLayers([
      changes('sha256:a', { 'etc/os-release': bytes('ID=debian'), [DPKG]: bytes('v1') }),
      changes('sha256:b', { [DPKG]: bytes('v2'), 'usr/bin/app': { kind: 'found', found: 'go' } }),
    ]);
    expect(view(image)).toEqual({ 'etc/os-release': 'ID=debian@sha256:a', [DPKG]: 'v2@sha256:b', 'usr/bin/app': 'go@sha256:b' });
  });

  it('removes what a whiteout names, a folder with all below it, and nothing that only shares a prefix', () => {
    const image = applyLayers([
      changes('a', {
        'app/node_modules/x/package.json': bytes('x'),
        'app/node_modules/y/package.json': bytes('y'),
        'app/node_modules2/z/package.json': bytes('z'),
        [DPKG]: bytes('d'),
      }),
      changes('b', {}, ['app/node_modules', DPKG]),
    ]);
    expect(view(image)).toEqual({ 'app/node_modules2/z/package.json': 'z@a' });
  });

  it('empties an opaque folder of the lower layers but keeps what the same layer puts in it', () => {
    const image = applyLayers([
      changes('a', { 'usr/lib/node_modules/npm/package.json': bytes('npm9'), 'usr/lib/node_modules/corepack/package.json': bytes('cp'), [DPKG]: bytes('d') }),
      changes('b', { 'usr/lib/node_modules/npm/package.json': bytes('npm10') }, [], ['usr/lib/node_modules']),
    ]);
    expect(view(image)).toEqual({ 'usr/lib/node_modules/npm/package.json': 'npm10@b', [DPKG]: 'd@a' });
  });

  it('lets a layer keep its own file that its own whiteout names, and empties everything for an opaque root', () => {
    const own = applyLayers([changes('a', { [DPKG]: bytes('old') }), changes('b', { [DPKG]: bytes('new') }, [DPKG])]);
    expect(view(own)).toEqual({ [DPKG]: 'new@b' });
    const root = applyLayers([
      changes('a', { [DPKG]: bytes('old'), 'etc/os-release': bytes('os') }),
      changes('b', { 'etc/os-release': bytes('os2') }, [], ['']),
    ]);
    expect(view(root)).toEqual({ 'etc/os-release': 'os2@b' });
  });

  it('removes what a shadow stands over and adds nothing for it', () => {
    const image = applyLayers([changes('a', { 'usr/bin/app': { kind: 'found', found: 'go' } }), changes('b', { 'usr/bin/app': { kind: 'shadow' } })]);
    expect(image.size).toBe(0);
  });
});

describe('an image of three layers, read from their tars', () => {
  it('adds, replaces, then deletes a package database, and each step names its layer', async () => {
    const tars: [string, Spec[]][] = [
      [
        'sha256:1111',
        [
          { name: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\n' },
          { name: DPKG, content: 'Package: libexpat1\nVersion: 2.5.0-1\n' },
          { name: 'app/node_modules/lodash/package.json', content: '{"name":"lodash","version":"4.17.20"}' },
        ],
      ],
      [
        'sha256:2222',
        [
          { name: DPKG, content: 'Package: libexpat1\nVersion: 2.5.0-1+deb12u1\n' },
          { name: 'app/node_modules/.wh..wh..opq' },
          { name: 'app/node_modules/lodash/package.json', content: '{"name":"lodash","version":"4.17.21"}' },
        ],
      ],
      ['sha256:3333', [{ name: 'var/lib/dpkg/.wh.status' }, { name: 'tmp/unrelated', content: 'x' }]],
    ];
    const read: (LayerFiles<never> & { digest: string })[] = [];
    for (const [digest, entries] of tars) read.push({ digest, ...(await walkLayer(await layer(entries), GZIP, selectDbs)) });

    const afterOne = applyLayers(read.slice(0, 1));
    expect(afterOne.get(DPKG)).toMatchObject({ layer: 'sha256:1111' });
    expect(text(afterOne, DPKG)).toContain('Version: 2.5.0-1\n');

    const afterTwo = applyLayers(read.slice(0, 2));
    expect(afterTwo.get(DPKG)).toMatchObject({ layer: 'sha256:2222' });
    expect(text(afterTwo, DPKG)).toContain('2.5.0-1+deb12u1');
    expect(text(afterTwo, 'app/node_modules/lodash/package.json')).toContain('4.17.21');

    const image = applyLayers(read);
    expect([...image.keys()].sort()).toEqual(['app/node_modules/lodash/package.json', 'etc/os-release']);
    expect(image.get('etc/os-release')?.layer).toBe('sha256:1111');
    expect(image.get('app/node_modules/lodash/package.json')?.layer).toBe('sha256:2222');
  });
});

describe('Go binaries and Java archives in a layer', () => {
  const sniffing = (path: string, info: EntryInfo) => (isJavaArchive(path) ? 'sniff' : info.type === 'file' && (info.mode & 0o111) !== 0 ? 'sniff' : false);
  const sinks = (path: string): FileSink<GoBuildInfo | PomProperties[]> => (isJavaArchive(path) ? jarSink() : goBuildInfoSink());

  it("reads esbuild's build info and a war's pom.properties; a later script over the binary hides it", async () => {
    const binary = readFileSync(ESBUILD);
    const war = await readFile(join(FIXTURES, 'demo.war'));
    const first = await walkLayer(
      await layer([
        { name: 'usr/local/bin/esbuild', content: binary, mode: 0o755 },
        { name: 'usr/local/bin/run.sh', content: '#!/bin/sh\nexec esbuild "$@"\n', mode: 0o755 },
        { name: 'srv/demo.war', content: war, mode: 0o644 },
      ]),
      GZIP,
      sniffing,
      { sniff: sinks },
    );
    expect(first.complete).toBe(true);
    expect(first.problems).toEqual([]);
    const info = foundIn(first.files, 'usr/local/bin/esbuild') as GoBuildInfo;
    expect(info.main?.path).toBe('github.com/evanw/esbuild');
    expect(binary.includes(Buffer.from(info.goVersion))).toBe(true);
    expect(first.files.get('usr/local/bin/run.sh')).toEqual({ kind: 'shadow' });
    const poms = foundIn(first.files, 'srv/demo.war') as PomProperties[];
    expect(poms.map((p) => p.path)).toEqual([
      'META-INF/maven/com.example/demo-app/pom.properties',
      'WEB-INF/lib/accessors-smart-2.5.2.jar!/META-INF/maven/net.minidev/accessors-smart/pom.properties',
    ]);

    const second = await walkLayer(await layer([{ name: 'usr/local/bin/esbuild', content: '#!/bin/sh\necho replaced\n', mode: 0o755 }]), GZIP, sniffing, {
      sniff: sinks,
    });
    const image = applyLayers([
      { digest: 'sha256:base', ...first },
      { digest: 'sha256:top', ...second },
    ]);
    expect([...image.keys()]).toEqual(['srv/demo.war']);
    expect(image.get('srv/demo.war')?.layer).toBe('sha256:base');
  });
});
