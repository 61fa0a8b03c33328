import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    old.prepare(`INSERT INTO builds (repo_id, repo, owner, ref, ref_type, ref_name, commit_sha, image, status, pusher, steps, digest)
      VALUES (1, 'alice/shop', 'alice', 'refs/heads/main', 'branch', 'main', ?, 'shop', 'succeeded', 'alice', '[]', 'sha256:abc')`).run('a'.repeat(40));
    old.close();

    const db = openDb(file);
    const b = new Store(db).build(1)!;
    expect(b).toMatchObject({ source: 'push', repoId: 1, repo: 'alice/shop', ref: 'refs/heads/main', refType: 'branch', refName: 'main', commitSha: 'a'.repeat(40), digest: 'sha256:abc', uploadId: null, contextBytes: null });
    expect(db.$client.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
    const indexes = (db.$client.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'builds'").all() as { name: string }[]).map((r) => r.name).sort();
    expect(indexes).toEqual(['builds_commit', 'builds_digest', 'builds_line', 'builds_log_kept', 'builds_queue', 'builds_repo_id', 'builds_status_id']);
    // An upload's build has no repo, ref or commit.
    db.$client.prepare("INSERT INTO builds (source, repo, owner, image, status, pusher, upload_id, upload_folder, context_bytes) VALUES ('upload', 'alice/web', 'alice', 'web', 'queued', 'alice', 'u1', 'web', 10)").run();
    expect(new Store(db).build(2)).toMatchObject({ source: 'upload', repoId: null, commitSha: null, uploadFolder: 'web', contextBytes: 10 });
    db.$client.close();
  });
});
