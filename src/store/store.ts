import { sql } from 'drizzle-orm';
import { AccountStore } from './accounts.js';
import { AuditStore } from './audit.js';
import { BuildStore } from './builds.js';
import type { Db } from './db.js';
import { FindingsStore } from './findings.js';
import { LayerInventoryStore } from './layer-inventories.js';
import { PullTokenStore } from './pull-tokens.js';
import { QueueStore } from './queue.js';
import { RepoRecordStore } from './repos.js';
import { SecretStore } from './secrets.js';
import { SessionStore } from './sessions.js';
import { VulnDbStore } from './vulndb.js';

/**
 * The server's database, one aggregate per property: users and tokens, repos and their members, builds, the
 * queue, secrets, the vulnerability database (OSV records), the scan's layer and image inventories and its findings per image, the audit log, web sessions. The registry inventory, uploads, forge links and recorded heads have their own classes
 * beside (inventory.ts, uploads.ts, forges.ts, heads.ts), made from the same `db`. Methods are synchronous
 * (better-sqlite3): each is one statement or one transaction.
 */
export class Store {
  readonly accounts: AccountStore;
  readonly repos: RepoRecordStore;
  readonly builds: BuildStore;
  readonly queue: QueueStore;
  readonly secrets: SecretStore;
  readonly vulndb: VulnDbStore;
  readonly layerInventories: LayerInventoryStore;
  readonly findings: FindingsStore;
  readonly audit: AuditStore;
  readonly sessions: SessionStore;
  readonly pullTokens: PullTokenStore;

  constructor(readonly db: Db) {
    this.accounts = new AccountStore(db);
    this.repos = new RepoRecordStore(db);
    this.builds = new BuildStore(db);
    this.queue = new QueueStore(db);
    this.secrets = new SecretStore(db);
    this.vulndb = new VulnDbStore(db);
    this.layerInventories = new LayerInventoryStore(db);
    this.findings = new FindingsStore(db);
    this.audit = new AuditStore(db);
    this.sessions = new SessionStore(db);
    this.pullTokens = new PullTokenStore(db);
  }

  /**
   * Runs `fn` in one transaction (a savepoint inside another): every write in it, through any of the store's
   * classes, lands, or none does. `immediate` takes the write lock at the start rather than at the first write.
   */
  transaction<T>(fn: () => T, opts: { behavior?: 'deferred' | 'immediate' } = {}): T {
    return this.db.transaction(() => fn(), opts);
  }

  /** Whether the database file answers (the health check). */
  ping(): void {
    // Raw SQL: the cheapest statement that reaches the file, and drizzle's select needs a table.
    this.db.get(sql`SELECT 1`);
  }
}
