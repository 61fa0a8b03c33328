/**
 * A workspace folder described as a build context (src/client/context-walk.ts), on real folders: fsutil's order,
 * .dockerignore as BuildKit applies it (without listing what it excludes), the Dockerfile and .dockerignore
 * always kept, symlinks recorded, special files skipped, names a manifest cannot carry, and the hash cache.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { contextCachePath, MODE_DIR, MODE_SYMLINK, walkContext, type WalkEntry } from '../../src/client/context-walk.js';
import { fsutilOrder } from '../../src/context/git-tree.js';
import * as tree from '../../src/context/tree.js';

// What the walk asks of the filesystem: which folders it lists, and a hook run as a file is opened for hashing.
const fsSpy = vi.hoisted(() => ({ listed: [] as string[], beforeOpen: null as ((path: string) => void) | null }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...orig,
    readdir: ((path: string, opts: never) => {
      fsSpy.listed.push(String(path));
      return orig.readdir(path, opts);
    }) as typeof orig.readdir,
    open: ((path: string, ...rest: never[]) => {
      fsSpy.beforeOpen?.(String(path));
      return orig.open(path, ...rest);
    }) as typeof orig.open,
  };
});

const made: string[] = [];
afterEach(() => {
  fsSpy.beforeOpen = null;
  fsSpy.listed = [];
});
afterAll(() => {
  for (const d of made) {
    execFileSync('chmod', ['-R', 'u+rwx', d]); // the mode-000 folders, so that a non-root run can remove them
    rmSync(d, { recursive: true, force: true });
  }
});

/**
 * A folder with these files (`null` makes a folder), dated an hour back: a file written in the same instant as
 * the walk is never cached (it could change again within the same timestamp tick), and most tests are about the
 * files a developer saved a while ago.
 */
function folder(files: Record<string, string | null>): { dir: string; cache: string } {
  const top = mkdtempSync(join(tmpdir(), 'context-walk-'));
  made.push(top);
  const dir = join(top, 'ctx');
  mkdirSync(dir);
  for (const [p, content] of Object.entries(files)) {
    if (content === null) mkdirSync(join(dir, p), { recursive: true });
    else {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), content);
    }
  }
  backdate(dir);
  return { dir, cache: join(top, 'cache') };
}

function backdate(dir: string, seconds = 3600): void {
  const t = Date.now() / 1000 - seconds;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) utimesSync(join(dir, name), t, t);
}

async function walked(dir: string, opts: { dockerfile?: string; cacheDir: string; onProgress?: (files: number, bytes: number) => void }) {
  const r = await walkContext(dir, { dockerfile: 'Dockerfile', ...opts });
  if (!r.ok) throw new Error(r.problem);
  return r;
}

const paths = (es: WalkEntry[]) => es.map((e) => e.path);
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('the entries', () => {
  it("come in fsutil order (bytes order within a folder, a folder's children right after it), with Go modes and hashes", async () => {
    const { dir, cache } = folder({
      Dockerfile: 'FROM scratch\n',
      'a.txt': 'hello\n',
      'a/x.txt': 'x\n',
      'a/b/y.txt': 'y\n',
      'a-b': '-',
      B: 'upper',
      'é.txt': 'accent',
      _: 'u',
      'run.sh': '#!/bin/sh\n',
      empty: null,
    });
    chmodSync(join(dir, 'run.sh'), 0o755);
    const r = await walked(dir, { cacheDir: cache });
    expect(paths(r.entries)).toEqual(['B', 'Dockerfile', '_', 'a', 'a/b', 'a/b/y.txt', 'a/x.txt', 'a-b', 'a.txt', 'empty', 'run.sh', 'é.txt']);
    expect(paths(r.entries)).toEqual(paths(r.entries).sort(fsutilOrder));
    const by = new Map(r.entries.map((e) => [e.path, e]));
    expect(by.get('a')).toEqual({ path: 'a', mode: (MODE_DIR | 0o755) >>> 0, size: 0 });
    expect(by.get('a.txt')).toEqual({ path: 'a.txt', mode: 0o644, size: 6, sha256: sha('hello\n') });
    expect(by.get('run.sh')?.mode).toBe(0o755);
    expect(r.totalBytes).toBe(['FROM scratch\n', 'hello\n', 'x\n', 'y\n', '-', 'upper', 'accent', 'u', '#!/bin/sh\n'].join('').length);
    expect(r.hashedBytes).toBe(r.totalBytes);
    expect(r.skipped).toEqual([]);
    expect(r.dockerfile).toBe('Dockerfile');
  });

  it("carries the same mode bits as the server's context trees", () => {
    expect([MODE_DIR, MODE_SYMLINK]).toEqual([tree.MODE_DIR, tree.MODE_SYMLINK]);
  });

  it('records a symlink and its target without following it, even one that dangles or leaves the folder', async () => {
    const { dir, cache } = folder({ Dockerfile: 'FROM scratch\n', 'a/b/y.txt': 'y\n' });
    symlinkSync('a/b', join(dir, 'link'));
    symlinkSync('nowhere', join(dir, 'dangling'));
    symlinkSync('/etc', join(dir, 'out'));
    const r = await walked(dir, { cacheDir: cache });
    expect(paths(r.entries)).toEqual(['Dockerfile', 'a', 'a/b', 'a/b/y.txt', 'dangling', 'link', 'out']);
    expect(r.entries.find((e) => e.path === 'link')).toEqual({ path: 'link', mode: (MODE_SYMLINK | 0o777) >>> 0, size: 0, linkname: 'a/b' });
    expect(r.entries.find((e) => e.path === 'out')?.linkname).toBe('/etc');
    expect(fsSpy.listed.some((p) => p.endsWith('/link') || p === '/etc')).toBe(false);
  });

  it('skips FIFOs and sockets, says so, and never opens them (a FIFO would block the walk)', async () => {
    const { dir, cache } = folder({ Dockerfile: 'FROM scratch\n', 'a.txt': 'a' });
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const server: Server = createServer();
    await new Promise<void>((res) => server.listen(join(dir, 'sock'), res));
    try {
      const r = await walked(dir, { cacheDir: cache });
      expect(paths(r.entries)).toEqual(['Dockerfile', 'a.txt']);
      expect(r.skipped).toEqual([
        { path: 'pipe', kind: 'fifo' },
        { path: 'sock', kind: 'socket' },
      ]);
    } finally {
      await new Promise((res) => server.close(res));
    }
  });

  it('refuses a name that is not valid UTF-8 or holds a line break, unless .dockerignore leaves it out', async () => {
    const { dir, cache } = folder({ Dockerfile: 'FROM scratch\n', 'junk/ok': '' });
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/junk/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
    let r = await walkContext(dir, { dockerfile: 'Dockerfile', cacheDir: cache });
    expect(!r.ok && r.problem).toMatch(/^"junk\/bad-\uFFFD\uFFFD" is not valid UTF-8: rename it or add it to \.dockerignore$/);
    writeFileSync(join(dir, '.dockerignore'), 'junk/bad-*\n');
    expect((await walked(dir, { cacheDir: cache })).entries.map((e) => e.path)).toEqual(['.dockerignore', 'Dockerfile', 'junk', 'junk/ok']);

    writeFileSync(join(dir, 'two\nlines'), 'x');
    r = await walkContext(dir, { dockerfile: 'Dockerfile', cacheDir: cache });
    expect(!r.ok && r.problem).toBe('"two\\nlines" holds a line break: rename it or add it to .dockerignore');
  });
});

describe('.dockerignore', () => {
  it('leaves out what it lists, never lists an excluded folder, and keeps what an exception brings back', async () => {
    const { dir, cache } = folder({
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': '# deps\nnode_modules\n*.log\n**/*.tmp\ndata\n!data/keep.txt\nDockerfile\n.dockerignore\n',
      'node_modules/dep/index.js': 'x',
      'node_modules/secret': 's',
      'x.log': 'l',
      'src/a.ts': 'a',
      'src/b.tmp': 't',
      'src/deep/c.tmp': 't',
      'src/deep/c.ts': 'c',
      'data/big.bin': 'big',
      'data/keep.txt': 'keep',
      'data/sub/more.bin': 'm',
    });
    // As root (CI containers) a mode-000 folder is readable anyway: the listing spy is what proves it is never read.
    chmodSync(join(dir, 'node_modules/secret'), 0o000);
    chmodSync(join(dir, 'node_modules'), 0o000);
    const r = await walked(dir, { cacheDir: cache });
    expect(paths(r.entries)).toEqual(['.dockerignore', 'Dockerfile', 'data', 'data/keep.txt', 'src', 'src/a.ts', 'src/deep', 'src/deep/c.ts']);
    expect(r.entries.find((e) => e.path === 'data')?.mode).toBe((MODE_DIR | 0o755) >>> 0);
    const real = realpathSync(dir);
    expect(fsSpy.listed).not.toContain(join(real, 'node_modules'));
    // data is listed (the exception reaches into it), data/sub is not (nothing can bring a file back from there).
    expect(fsSpy.listed).toContain(join(real, 'data'));
    expect(fsSpy.listed).not.toContain(join(real, 'data/sub'));
  });

  it('with `**` keeps only the exceptions, the Dockerfile and .dockerignore', async () => {
    const { dir, cache } = folder({
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': '**\n!app\n',
      'app/main.js': 'm',
      'app/lib/u.js': 'u',
      'docs/x.md': 'x',
      'README.md': 'r',
    });
    const r = await walked(dir, { cacheDir: cache });
    expect(paths(r.entries)).toEqual(['.dockerignore', 'Dockerfile', 'app', 'app/lib', 'app/lib/u.js', 'app/main.js']);
    expect(fsSpy.listed).not.toContain(join(realpathSync(dir), 'docs'));
  });

  it('keeps a Dockerfile given with -f inside an excluded folder, with the folders above it and nothing else there', async () => {
    const { dir, cache } = folder({
      '.dockerignore': 'docker\n',
      'docker/Dockerfile.dev': 'FROM scratch\n',
      'docker/other': 'o',
      'docker/sub/x': 'x',
      'a.txt': 'a',
    });
    const r = await walked(dir, { cacheDir: cache, dockerfile: 'docker/Dockerfile.dev' });
    expect(paths(r.entries)).toEqual(['.dockerignore', 'a.txt', 'docker', 'docker/Dockerfile.dev']);
    expect(fsSpy.listed).not.toContain(join(realpathSync(dir), 'docker/sub'));
    expect(r.dockerfile).toBe('docker/Dockerfile.dev');
  });

  it('keeps the file a symlinked Dockerfile leads to, and names it as the Dockerfile', async () => {
    const { dir, cache } = folder({ '.dockerignore': 'build\n', 'build/Dockerfile.prod': 'FROM scratch\n', 'build/x': 'x' });
    symlinkSync('build/Dockerfile.prod', join(dir, 'Dockerfile'));
    const r = await walked(dir, { cacheDir: cache });
    expect(paths(r.entries)).toEqual(['.dockerignore', 'Dockerfile', 'build', 'build/Dockerfile.prod']);
    expect(r.dockerfile).toBe('build/Dockerfile.prod');
  });

  it('reports a malformed pattern by its line', async () => {
    const { dir, cache } = folder({ Dockerfile: 'FROM scratch\n', '.dockerignore': 'ok\na[b\n' });
    const r = await walkContext(dir, { dockerfile: 'Dockerfile', cacheDir: cache });
    expect(!r.ok && r.problem).toMatch(/^\.dockerignore:2: "a\[b": not a valid pattern/);
  });
});

describe('the Dockerfile', () => {
  it('missing: a problem naming the path and -f', async () => {
    const { dir, cache } = folder({ 'a.txt': 'a' });
    let r = await walkContext(dir, { dockerfile: 'Dockerfile', cacheDir: cache });
    expect(!r.ok && r.problem).toBe(
      `there is no Dockerfile at ${join(dir, 'Dockerfile')}: give the Dockerfile's path with -f (e.g. codehub-build build -f docker/Dockerfile ${dir})`,
    );
    r = await walkContext(dir, { dockerfile: 'a.txt/Dockerfile', cacheDir: cache });
    expect(!r.ok && r.problem).toMatch(/^there is no Dockerfile at .*a\.txt\/Dockerfile: give the Dockerfile's path with -f/);
  });

  it('a folder, or outside the folder: a problem', async () => {
    const { dir, cache } = folder({ sub: null });
    let r = await walkContext(dir, { dockerfile: 'sub', cacheDir: cache });
    expect(!r.ok && r.problem).toMatch(/^the Dockerfile .*sub is not a file: give the Dockerfile's path with -f$/);
    r = await walkContext(dir, { dockerfile: '../Dockerfile', cacheDir: cache });
    expect(!r.ok && r.problem).toMatch(/^the Dockerfile \.\.\/Dockerfile is not inside the folder/);
  });
});

describe('the hash cache', () => {
  // __proto__ and constructor: file names that an object keyed by path would mistake for its own machinery.
  const files = { Dockerfile: 'FROM scratch\n', 'a.txt': 'hello\n', 'src/b.txt': 'b'.repeat(1000), 'src/c.txt': 'c', ['__proto__']: 'p', constructor: 'k' };

  it('makes a second walk read nothing, and a touched file is read again', async () => {
    const { dir, cache } = folder(files);
    const first = await walked(dir, { cacheDir: cache });
    expect(first.hashedBytes).toBe(first.totalBytes);
    expect(existsSync(contextCachePath(realpathSync(dir), cache))).toBe(true);

    const progress: [number, number][] = [];
    const second = await walked(dir, { cacheDir: cache, onProgress: (f, b) => progress.push([f, b]) });
    expect(second.hashedBytes).toBe(0);
    expect(second.entries).toEqual(first.entries);
    expect(progress.at(-1)).toEqual([6, first.totalBytes]);

    // Same content, new mtime: read again (only the cache's key changed, so the hash is the same).
    const t = Date.now() / 1000 - 60;
    utimesSync(join(dir, 'src/b.txt'), t, t);
    const third = await walked(dir, { cacheDir: cache });
    expect(third.hashedBytes).toBe(1000);
    expect(third.entries).toEqual(first.entries);

    // New content of the same size: read, and its new hash given.
    writeFileSync(join(dir, 'a.txt'), 'HELLO\n');
    backdate(dir, 30);
    const fourth = await walked(dir, { cacheDir: cache });
    expect(fourth.hashedBytes).toBe(first.totalBytes); // backdate touched every file
    expect(fourth.entries.find((e) => e.path === 'a.txt')?.sha256).toBe(sha('HELLO\n'));
    expect((await walked(dir, { cacheDir: cache })).hashedBytes).toBe(0);
  });

  it('ignores a corrupt cache file, and replaces it', async () => {
    const { dir, cache } = folder(files);
    const first = await walked(dir, { cacheDir: cache });
    const file = contextCachePath(realpathSync(dir), cache);
    for (const junk of [
      '{"version":1,"folder":',
      'null',
      '{"version":1,"folder":"/elsewhere","files":{}}',
      JSON.stringify({ version: 1, folder: realpathSync(dir), files: { 'a.txt': { size: 6, mtimeMs: 1, ino: 1, sha256: 'nope' } } }),
    ]) {
      writeFileSync(file, junk);
      const r = await walked(dir, { cacheDir: cache });
      expect(r.hashedBytes).toBe(first.totalBytes);
      expect(r.entries).toEqual(first.entries);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ version: 1, folder: realpathSync(dir) });
    }
  });

  it('leaves no temp file beside it, and keeps only the walked files', async () => {
    const { dir, cache } = folder(files);
    await walked(dir, { cacheDir: cache });
    rmSync(join(dir, 'src/c.txt'));
    await walked(dir, { cacheDir: cache });
    const file = contextCachePath(realpathSync(dir), cache);
    expect(readdirSync(dirname(file))).toEqual([file.split('/').at(-1)]);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).files).sort()).toEqual(['Dockerfile', '__proto__', 'a.txt', 'constructor', 'src/b.txt']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('does not trust a file written in the same instant as the walk: it is read again next time', async () => {
    const { dir, cache } = folder(files);
    writeFileSync(join(dir, 'a.txt'), 'fresh!');
    await walked(dir, { cacheDir: cache });
    expect((await walked(dir, { cacheDir: cache })).hashedBytes).toBe(6);
  });
});

describe('a file that changes while it is read', () => {
  it('is read again once, and its new content hashed', async () => {
    const { dir, cache } = folder({ Dockerfile: 'FROM scratch\n', 'a.txt': 'before' });
    let writes = 0;
    fsSpy.beforeOpen = (p) => {
      if (p.endsWith('/a.txt') && writes++ === 0) writeFileSync(p, 'after, longer');
    };
    const r = await walked(dir, { cacheDir: cache });
    expect(r.entries.find((e) => e.path === 'a.txt')).toMatchObject({ size: 13, sha256: sha('after, longer') });
    expect(r.totalBytes).toBe(13 + 13);
  });

  it('twice: a problem', async () => {
    const { dir, cache } = folder({ Dockerfile: 'FROM scratch\n', 'a.txt': 'before' });
    fsSpy.beforeOpen = (p) => {
      if (p.endsWith('/a.txt')) writeFileSync(p, `${readFileSync(p, 'utf8')}+`);
    };
    const r = await walkContext(dir, { dockerfile: 'Dockerfile', cacheDir: cache });
    expect(!r.ok && r.problem).toBe('a.txt changed while it was read, twice: wait for what writes it to finish (or add it to .dockerignore) and run again');
  });
});
