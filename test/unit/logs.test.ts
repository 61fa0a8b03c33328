import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { sendLog } from '../../src/logs/follow.js';
import { maskedArgNames, masker, secretValues, storableArgs, storableConfig } from '../../src/logs/mask.js';
import { escapeControls, firstControl } from '../../src/util/controls.js';
import { writeSync, ftruncateSync } from 'node:fs';
import { LogStore, type LogFileIo, type LogLine } from '../../src/logs/store.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

let logs: LogStore;
let store: Store;
let id: number;
const tick = () => new Promise((r) => setImmediate(r));

beforeEach(() => {
  logs = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logstore-')), { maxBytes: 4096 });
  store = new Store(openDb(':memory:'));
  const repoId = store.repos.ensure('alice', 'shop').id;
  id = store.builds.insert(
    [
      {
        repoId,
        repo: 'alice/shop',
        owner: 'alice',
        ref: 'refs/heads/main',
        refType: 'branch',
        refName: 'main',
        commitSha: 'a'.repeat(40),
        image: 'shop',
        status: 'queued',
        pusher: 'alice',
      },
    ],
    () => [],
  )[0]!.id;
});

describe('LogStore', () => {
  it('stores numbered, timestamped lines, and a later writer continues the numbering', async () => {
    const w = logs.writer(id);
    w.line('one');
    w.line('two\nthree');
    await w.end();
    await logs.append(id, ['four']);
    const lines = await logs.read(id);
    expect(lines.map((l) => [l.n, l.text])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
      [4, 'four'],
    ]);
    expect(lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(l.time))).toBe(true);
    expect((await logs.read(id, 2)).map((l) => l.n)).toEqual([3, 4]);
  });

  it('caps a log with one notice, keeps the closing lines, and keeps the file under the cap', async () => {
    const w = logs.writer(id);
    for (let i = 0; i < 1000; i++) w.line(`line ${i} ${'x'.repeat(50)}`);
    w.line('--- failed after 1.0s (user): exit code: 1', true);
    await w.end();
    const lines = await logs.read(id);
    expect(lines.filter((l) => l.text.startsWith('--- log truncated'))).toHaveLength(1);
    expect(lines.at(-1)!.text).toBe('--- failed after 1.0s (user): exit code: 1');
    expect(readFileSync(logs.path(id)).length).toBeLessThan(4096 + 300);
  });

  it('masks what the writer is told to, before the text reaches the file', async () => {
    const w = logs.writer(id, masker(secretValues({ npm_token: 'tok-123456' }, { NPM_AUTH: 'auth-abcdef', NODE_ENV: 'production' })));
    w.line('token tok-123456 auth auth-abcdef env production');
    w.line(`base64 ${Buffer.from('tok-123456').toString('base64')}`);
    await w.end();
    const file = readFileSync(logs.path(id), 'utf8');
    expect(file).toContain('token *** auth *** env production');
    expect(file).not.toContain('tok-123456');
    expect(file).not.toContain(Buffer.from('tok-123456').toString('base64').replace(/=+$/, ''));
  });
});

describe('LogWriter on a full disk', () => {
  /** The real calls, except that writes fail with ENOSPC while `full`, and each write stores at most `chunk` bytes. */
  function faultyIo(opts: { chunk?: number } = {}) {
    const io = {
      full: false,
      failAfter: Infinity, // bytes a write may store before the disk fills mid-write
      write(fd: number, buf: Buffer, offset: number, length: number): number {
        if (io.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        const n = Math.min(length, opts.chunk ?? length, io.failAfter);
        if (n === 0) {
          io.full = true;
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
        io.failAfter -= n;
        return writeSync(fd, buf, offset, n);
      },
      truncate: (fd: number, length: number) => ftruncateSync(fd, length),
    };
    return io satisfies LogFileIo;
  }

  it('loops over short writes, so no line is torn', async () => {
    const l = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logstore-')), { io: faultyIo({ chunk: 7 }) });
    const w = l.writer(id);
    for (let i = 0; i < 20; i++) w.line(`line ${i}`);
    await w.end();
    expect((await l.read(id)).map((x) => x.text)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i}`));
  });

  it('never throws on a failed write: records it once, cuts the file back to whole lines, announces the lines, and ends', async () => {
    const io = faultyIo();
    const l = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logstore-')), { io });
    const errors: Error[] = [];
    const live: LogLine[] = [];
    let ended = false;
    l.subscribe(
      id,
      (x) => live.push(x),
      () => {
        ended = true;
      },
    );
    const w = l.writer(id, undefined, (e) => errors.push(e));
    w.line('stored');
    await tick();
    io.failAfter = 60; // the disk fills in the middle of the next batch's second line (the first is 42 bytes)
    w.line('a line that fits');
    w.line('a line torn by the full disk');
    w.line('one more');
    await tick();
    w.line('and another, still full');
    await w.end();
    expect(ended).toBe(true);
    expect(errors).toHaveLength(1);
    expect(w.failed?.message).toContain('ENOSPC');
    expect(live.map((x) => x.n)).toEqual([1, 2, 3, 4, 5]);
    const file = readFileSync(l.path(id), 'utf8');
    expect(file.endsWith('\n')).toBe(true);
    expect((await l.read(id)).map((x) => x.text)).toEqual(['stored', 'a line that fits']);
  });

  it('once space returns, stores a placeholder for each lost line first, so line numbers match what followers saw', async () => {
    const io = faultyIo();
    const l = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logstore-')), { io });
    const w = l.writer(id);
    w.line('one');
    await tick();
    io.full = true;
    w.line('two');
    w.line('three');
    await tick();
    io.full = false;
    w.line('four');
    await w.end();
    const lines = await l.read(id);
    expect(lines.map((x) => x.n)).toEqual([1, 2, 3, 4]);
    expect(lines[1]!.text).toMatch(/^--- 2 lines of this log could not be stored \(ENOSPC/);
    expect(lines[2]!.text).toBe('');
    expect(lines[3]!.text).toBe('four');
  });

  it("carries lines a writer could not store over to the build's next writer (its next attempt)", async () => {
    const io = faultyIo();
    const l = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logstore-')), { io });
    const w1 = l.writer(id);
    w1.line('attempt 1');
    await tick();
    io.full = true;
    w1.line('lost 1');
    w1.line('lost 2');
    await w1.end();
    io.full = false;
    const w2 = l.writer(id);
    w2.line('attempt 2');
    await w2.end();
    expect((await l.read(id)).map((x) => [x.n, x.text.slice(0, 6)])).toEqual([
      [1, 'attemp'],
      [2, '--- 2 '],
      [3, ''],
      [4, 'attemp'],
    ]);
  });

  it('ends, releasing followers, when the log cannot even be opened', async () => {
    const root = mkdtempSync(join(tmpdir(), 'chb-logstore-'));
    const l = new LogStore(join(root, 'no', 'such'), {});
    // A file where the log's folder must go: mkdir fails as it would on a full disk.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(root, 'no'), '');
    const errors: Error[] = [];
    let ended = false;
    l.subscribe(
      id,
      () => {},
      () => {
        ended = true;
      },
    );
    const w = l.writer(id, undefined, (e) => errors.push(e));
    w.line('nowhere to go');
    await w.end();
    expect(ended).toBe(true);
    expect(errors).toHaveLength(1);
    await l.append(id, ['append does not throw either']);
  });
});

describe('masker', () => {
  it('masks longer values first and leaves short ones alone', () => {
    const m = masker(['abcd', 'abcdefgh', 'xy']);
    expect(m('abcdefgh abcd xy')).toBe('*** *** xy');
  });
});

describe('sendLog', () => {
  it('gives a follower every line once and in order, across a retry, until the build ends', async () => {
    const got: LogLine[] = [];
    const w1 = logs.writer(id);
    w1.line('before the follower came');
    await tick();
    store.queue.claimNext(() => 'x');
    const following = sendLog({
      logs,
      store,
      id,
      after: 0,
      follow: true,
      signal: new AbortController().signal,
      send: async (l) => {
        got.push(l);
      },
    });
    for (let i = 0; i < 50; i++) w1.line(`attempt 1 line ${i}`);
    await w1.end(); // the attempt ends but the build is not over (say, an infrastructure retry)
    await tick();
    const w2 = logs.writer(id);
    w2.line('attempt 2');
    store.queue.finish(id, { status: 'succeeded', digest: 'sha256:x' });
    await w2.end();
    const end = await following;
    expect(end?.status).toBe('succeeded');
    expect(got.map((l) => l.n)).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
    expect(got.at(-1)!.text).toBe('attempt 2');
  });

  it('resumes after a given line number, as with Last-Event-ID', async () => {
    await logs.append(id, ['a', 'b', 'c']);
    store.queue.cancel(id, 'x');
    const got: number[] = [];
    await sendLog({
      logs,
      store,
      id,
      after: 2,
      follow: true,
      signal: new AbortController().signal,
      send: async (l) => {
        got.push(l.n);
      },
    });
    expect(got).toEqual([3]);
  });
});

describe('build args at rest and values echoed into a log', () => {
  it('stores secret-looking args as *** (non-empty ones), and names the ones a runner must get back', () => {
    const args = { API_TOKEN: 'tok-123', db_password: 'pw', NPM_AUTH: 'a', MODE: 'prod', EMPTY_SECRET: '', PASSPHRASE: 'x y' };
    const stored = storableArgs(args);
    expect(stored).toEqual({ API_TOKEN: '***', db_password: '***', NPM_AUTH: '***', MODE: 'prod', EMPTY_SECRET: '', PASSPHRASE: '***' });
    expect(maskedArgNames(stored).sort()).toEqual(['API_TOKEN', 'NPM_AUTH', 'PASSPHRASE', 'db_password']);
    expect(storableConfig({ name: 'web', args, secrets: [] })).toEqual({ name: 'web', args: stored, secrets: [] });
    expect(storableConfig({ name: 'web' })).toEqual({ name: 'web' });
  });

  it('masks a value also as it appears escaped (a step name with a line break in it)', () => {
    const mask = masker(secretValues({}, { API_TOKEN: 'one\ntwo' }));
    expect(mask(`#5 RUN echo ${escapeControls('one\ntwo')}`)).toBe('#5 RUN echo ***');
    expect(mask('raw one\ntwo')).toBe('raw ***');
  });

  it('escapes every C0, DEL and C1 control character, and names the first', () => {
    expect(escapeControls('a\nb\rc\td\x1b[0m\x07\x00\x7f\x85\x9f é ✓')).toBe('a\\nb\\rc\\td\\x1b[0m\\x07\\x00\\x7f\\x85\\x9f é ✓');
    expect(firstControl('ok\x1bno')).toBe('U+001B');
    expect(firstControl('plain é')).toBeNull();
  });
});
