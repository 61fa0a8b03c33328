import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { sendLog } from '../../src/logs/follow.js';
import { maskedArgNames, masker, secretValues, storableArgs, storableConfig } from '../../src/logs/mask.js';
import { escapeControls, firstControl } from '../../src/util/controls.js';
import { LogStore, type LogLine } from '../../src/logs/store.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

let logs: LogStore;
let store: Store;
let id: number;
const tick = () => new Promise((r) => setImmediate(r));

beforeEach(() => {
  logs = new LogStore(mkdtempSync(join(tmpdir(), 'chb-logstore-')), { maxBytes: 4096 });
  store = new Store(openDb(':memory:'));
  const repoId = store.ensureRepo('alice', 'shop').id;
  id = store.insertBuilds([{ repoId, repo: 'alice/shop', owner: 'alice', ref: 'refs/heads/main', refType: 'branch', refName: 'main', commitSha: 'a'.repeat(40), image: 'shop', status: 'queued', pusher: 'alice' }], () => [])[0]!.id;
});

describe('LogStore', () => {
  it('stores numbered, timestamped lines, and a later writer continues the numbering', async () => {
    const w = logs.writer(id);
    w.line('one');
    w.line('two\nthree');
    await w.end();
    await logs.append(id, ['four']);
    const lines = await logs.read(id);
    expect(lines.map((l) => [l.n, l.text])).toEqual([[1, 'one'], [2, 'two'], [3, 'three'], [4, 'four']]);
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
    store.claimNext(() => 'x');
    const following = sendLog({ logs, store, id, after: 0, follow: true, signal: new AbortController().signal, send: async (l) => { got.push(l); } });
    for (let i = 0; i < 50; i++) w1.line(`attempt 1 line ${i}`);
    await w1.end(); // the attempt ends but the build is not over (say, an infrastructure retry)
    await tick();
    const w2 = logs.writer(id);
    w2.line('attempt 2');
    store.finishBuild(id, { status: 'succeeded', digest: 'sha256:x' });
    await w2.end();
    const end = await following;
    expect(end?.status).toBe('succeeded');
    expect(got.map((l) => l.n)).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
    expect(got.at(-1)!.text).toBe('attempt 2');
  });

  it('resumes after a given line number, as with Last-Event-ID', async () => {
    await logs.append(id, ['a', 'b', 'c']);
    store.cancel(id, 'x');
    const got: number[] = [];
    await sendLog({ logs, store, id, after: 2, follow: true, signal: new AbortController().signal, send: async (l) => { got.push(l.n); } });
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
