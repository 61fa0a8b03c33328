import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/paths.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'chb-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The migrations folder as it was before 0008 (upload builds). */
function migrationsBefore(idx: number): string {
  const out = join(dir, 'migrations');
  mkdirSync(join(out, 'meta'), { recursive: true });
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as { entries: { idx: number; tag: string }[] };
  journal.entries = journal.entries.filter((e) => e.idx < idx);
  for (const e of journal.entries) cpSync(join(MIGRATIONS_DIR, `${e.tag}.sql`), join(out, `${e.tag}.sql`));
  writeFileSync(join(out, 'meta', '_journal.json'), JSON.stringify(journal));
  return out;
}

describe('migration 0008 (upload builds)', () => {
  it('keeps every build of a database made before it, as a push, with its indexes', () => {
    const file = join(dir, 'old.db');
    const old = new Database(file);
    old.pragma('foreign_keys = ON');
    migrate(drizzle(old), { migrationsFolder: migrationsBefore(8) });
    old.prepare("INSERT INTO repos (owner, name) VALUES ('alice', 'shop')").run();
    old
      .prepare(`INSERT INTO builds (repo_id, repo, owner, ref, ref_type, ref_name, commit_sha, image, status, pusher, steps, digest)
      VALUES (1, 'alice/shop', 'alice', 'refs/heads/main', 'branch', 'main', ?, 'shop', 'succeeded', 'alice', '[]', 'sha256:abc')`)
      .run('a'.repeat(40));
    old.close();

    const db = openDb(file);
    const b = new Store(db).builds.byId(1)!;
    expect(b).toMatchObject({
      source: 'push',
      repoId: 1,
      repo: 'alice/shop',
      ref: 'refs/heads/main',
      refType: 'branch',
      refName: 'main',
      commitSha: 'a'.repeat(40),
      digest: 'sha256:abc',
      uploadId: null,
      contextBytes: null,
    });
    expect(db.$client.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    const indexes = (db.$client.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'builds'").all() as { name: string }[])
      .map((r) => r.name)
      .sort();
    expect(indexes).toEqual(['builds_commit', 'builds_digest', 'builds_line', 'builds_log_kept', 'builds_queue', 'builds_repo_id', 'builds_status_id']);
    // An upload's build has no repo, ref or commit.
    db.$client
      .prepare(
        "INSERT INTO builds (source, repo, owner, image, status, pusher, upload_id, upload_folder, context_bytes) VALUES ('upload', 'alice/web', 'alice', 'web', 'queued', 'alice', 'u1', 'web', 10)",
      )
      .run();
    expect(new Store(db).builds.byId(2)).toMatchObject({ source: 'upload', repoId: null, commitSha: null, uploadFolder: 'web', contextBytes: 10 });
    db.$client.close();
  });
});

describe('migration 0010 (secret-looking build args scrubbed)', () => {
  it('replaces their values in every stored config, and leaves them in neither the file nor its WAL', () => {
    const file = join(dir, 'args.db');
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.pragma('foreign_keys = ON');
    migrate(drizzle(old), { migrationsFolder: migrationsBefore(10) });
    const secret = 'tok-0123456789-scrub-me';
    const insert = old.prepare(
      "INSERT INTO builds (source, repo, owner, image, status, pusher, upload_id, upload_folder, config) VALUES ('upload', 'alice/web', 'alice', 'web', 'succeeded', 'alice', ?, 'web', ?)",
    );
    insert.run('u1', JSON.stringify({ name: 'web', args: { API_TOKEN: secret, MODE: 'prod', db_password: `${secret}-2`, EMPTY_TOKEN: '' }, secrets: [] }));
    insert.run('u2', JSON.stringify({ name: 'web', args: {}, secrets: [] }));
    insert.run('u3', null);
    old.close();
    expect(readFileSync(file).includes(secret)).toBe(true);

    const db = openDb(file);
    const store = new Store(db);
    expect(store.builds.byId(1)!.config).toEqual({ name: 'web', args: { API_TOKEN: '***', MODE: 'prod', db_password: '***', EMPTY_TOKEN: '' }, secrets: [] });
    expect(store.builds.byId(2)!.config).toEqual({ name: 'web', args: {}, secrets: [] });
    expect(store.builds.byId(3)!.config).toBeNull();
    for (const f of [file, `${file}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes(secret), f).toBe(false);
    db.$client.close();
  });

  it("never stores a new build's secret-looking arg in clear", () => {
    const db = openDb(':memory:');
    const store = new Store(db);
    const [b] = store.builds.insert(
      [
        {
          source: 'upload',
          repo: 'alice/web',
          owner: 'alice',
          image: 'web',
          status: 'queued',
          pusher: 'alice',
          uploadId: 'u9',
          uploadFolder: 'web',
          config: { name: 'web', args: { GITHUB_TOKEN: 'ghp_x', N: '1' } },
        },
      ],
      () => [],
    );
    expect(b!.config).toEqual({ name: 'web', args: { GITHUB_TOKEN: '***', N: '1' } });
    expect(JSON.stringify(db.$client.prepare('SELECT config FROM builds').all())).not.toContain('ghp_x');
  });
});

describe('migration 0018 (platforms of a multi-platform image)', () => {
  it('keeps the builds made before it, with no platforms, and stores them after', () => {
    const file = join(dir, 'before-platforms.db');
    const old = new Database(file);
    old.pragma('foreign_keys = ON');
    migrate(drizzle(old), { migrationsFolder: migrationsBefore(18) });
    old.prepare("INSERT INTO repos (owner, name) VALUES ('alice', 'shop')").run();
    old
      .prepare(`INSERT INTO builds (repo_id, repo, owner, ref, ref_type, ref_name, commit_sha, image, status, pusher, digest)
      VALUES (1, 'alice/shop', 'alice', 'refs/heads/main', 'branch', 'main', ?, 'shop', 'succeeded', 'alice', 'sha256:abc')`)
      .run('a'.repeat(40));
    old.close();

    const store = new Store(openDb(file));
    expect(store.builds.byId(1)).toMatchObject({ digest: 'sha256:abc', status: 'succeeded', platforms: null });
    store.builds.setPlatforms(1, [{ platform: 'linux/arm64', digest: 'sha256:def' }]);
    expect(store.builds.byId(1)!.platforms).toEqual([{ platform: 'linux/arm64', digest: 'sha256:def' }]);
    store.db.$client.close();
  });
});

describe('migration 0019 (scans per platform)', () => {
  it("keeps every image's scan and findings as linux/amd64's, the platform each was read for, and takes a second platform beside them", () => {
    const file = join(dir, 'platforms.db');
    const old = new Database(file);
    migrate(drizzle(old), { migrationsFolder: migrationsBefore(19) });
    const d = `sha256:${'a'.repeat(64)}`;
    const m = `sha256:${'b'.repeat(64)}`;
    old.prepare('INSERT INTO image_scans (digest, manifest, matched_at) VALUES (?, ?, ?)').run(d, m, '2030-01-01T00:00:00.000Z');
    old.prepare('INSERT INTO image_findings (digest, key, finding, first_seen) VALUES (?, ?, ?, ?)').run(d, 'k1', '{"v":1}', '2030-01-01T00:00:00.000Z');
    old.close();

    const db = openDb(file);
    const store = new Store(db);
    expect(store.findings.scansOf(d)).toEqual([{ platform: 'linux/amd64', manifest: m, matchedAt: '2030-01-01T00:00:00.000Z' }]);
    expect(store.findings.findings(d)).toEqual([{ platform: 'linux/amd64', key: 'k1', finding: '{"v":1}', firstSeen: '2030-01-01T00:00:00.000Z' }]);
    // The same key on another platform is its own row; matching amd64 again keeps its first time.
    store.findings.replace(d, 'linux/arm64', m, [{ key: 'k1', finding: '{"v":1}' }], '2030-02-01T00:00:00.000Z');
    expect(store.findings.replace(d, 'linux/amd64', m, [{ key: 'k1', finding: '{"v":1}' }], '2030-03-01T00:00:00.000Z')).toEqual({ added: [], removed: [] });
    expect(store.findings.findings(d).map((r) => [r.platform, r.firstSeen])).toEqual([
      ['linux/amd64', '2030-01-01T00:00:00.000Z'],
      ['linux/arm64', '2030-02-01T00:00:00.000Z'],
    ]);
    const indexes = (
      db.$client.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'image_findings' AND name NOT LIKE 'sqlite_%'").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    expect(indexes).toEqual(['image_findings_first_seen']);
    db.$client.close();
  });
});
