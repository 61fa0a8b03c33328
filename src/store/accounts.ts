import { and, asc, count, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { repos, tokens, users, type User } from './schema.js';
import { DEFAULT_SCOPES, parseScopes, type Caller, type Scope, type TokenInfo } from './scopes.js';
import { slot } from './sql.js';
import { isExpired, lastUseDue } from './credential-times.js';

/**
 * True for a token with the admin scope. Scopes are stored as a comma list (`read,push,admin`), and drizzle has
 * no operator for a word of a list.
 */
const ADMIN_TOKEN = sql`instr(',' || ${tokens.scopes} || ',', ',admin,') > 0`;

/** Users and their tokens: who a request is, and the admin's user and token commands. */
export class AccountStore {
  constructor(private db: Db) {}

  private prepared: ReturnType<AccountStore['prepare']> | undefined;
  private get q() {
    return (this.prepared ??= this.prepare());
  }

  /** Every request with a token asks tokenByHash: its statements are prepared once. */
  private prepare() {
    const p = sql.placeholder;
    return {
      byHash: this.db
        .select({ user: users, tokenId: tokens.id, scopes: tokens.scopes, lastUsedAt: tokens.lastUsedAt, expiresAt: tokens.expiresAt })
        .from(tokens)
        .innerJoin(users, eq(users.id, tokens.userId))
        .where(eq(tokens.hash, p('hash')))
        .prepare(),
      touch: this.db
        .update(tokens)
        .set({ lastUsedAt: slot('at') })
        .where(eq(tokens.id, p('id')))
        .prepare(),
    };
  }

  /** Creates a user with one token hash (scopes read and push, unless given). Returns null if the name is taken. */
  createUser(name: string, tokenHash: string, scopes: readonly Scope[] = DEFAULT_SCOPES, expiresAt: string | null = null): User | null {
    return this.db.transaction((tx) => {
      const user = tx.insert(users).values({ name }).onConflictDoNothing().returning().get();
      if (!user) return null;
      tx.insert(tokens)
        .values({ userId: user.id, hash: tokenHash, scopes: scopes.join(','), expiresAt })
        .run();
      return user;
    });
  }

  userByName(name: string): User | undefined {
    return this.db.select().from(users).where(eq(users.name, name)).get();
  }

  listUsers(): (User & { tokens: number })[] {
    return this.db
      .select({
        id: users.id,
        name: users.name,
        createdAt: users.createdAt,
        quotaBytes: users.quotaBytes,
        ssoSubject: users.ssoSubject,
        tokens: count(tokens.id),
      })
      .from(users)
      .leftJoin(tokens, eq(tokens.userId, users.id))
      .groupBy(users.id)
      .orderBy(asc(users.name))
      .all();
  }

  /**
   * Removes a user with their tokens and memberships (their repos and builds stay): 'missing' if there is none,
   * 'last_admin' (nothing removed) if every admin token left is theirs. The check and the delete are one
   * immediate transaction: two removals at once, in this process or another (the CLI beside the server), take
   * the write lock one after the other, so two admins removing each other cannot leave none.
   */
  removeUser(name: string): 'removed' | 'missing' | 'last_admin' {
    return this.db.transaction(
      (tx): 'removed' | 'missing' | 'last_admin' => {
        const user = tx.select({ id: users.id }).from(users).where(eq(users.name, name)).get();
        if (!user) return 'missing';
        const admins = tx
          .select({ total: count(), theirs: sql<number>`coalesce(sum(${tokens.userId} = ${user.id}), 0)` })
          .from(tokens)
          .where(ADMIN_TOKEN)
          .get()!;
        if (admins.theirs > 0 && admins.theirs === admins.total) return 'last_admin';
        tx.delete(users).where(eq(users.id, user.id)).run();
        return 'removed';
      },
      { behavior: 'immediate' },
    );
  }

  /** Adds a token for a user; returns its id. */
  createToken(userId: number, tokenHash: string, label: string, scopes: readonly Scope[], expiresAt: string | null = null): number {
    return this.db
      .insert(tokens)
      .values({ userId, hash: tokenHash, label, scopes: scopes.join(','), expiresAt })
      .returning({ id: tokens.id })
      .get().id;
  }

  listTokens(userId: number): TokenInfo[] {
    return this.db
      .select({
        id: tokens.id,
        label: tokens.label,
        scopes: tokens.scopes,
        createdAt: tokens.createdAt,
        lastUsedAt: tokens.lastUsedAt,
        expiresAt: tokens.expiresAt,
      })
      .from(tokens)
      .where(eq(tokens.userId, userId))
      .orderBy(asc(tokens.id))
      .all()
      .map((t) => ({ ...t, scopes: parseScopes(t.scopes) }));
  }

  /**
   * Revokes a token by id: 'missing' if there is none, 'last_admin' (nothing revoked) if it is the only admin
   * token left. One immediate transaction, as removeUser.
   */
  revokeToken(id: number): 'revoked' | 'missing' | 'last_admin' {
    return this.db.transaction(
      (tx): 'revoked' | 'missing' | 'last_admin' => {
        const token = tx
          .select({ admin: sql<number>`${ADMIN_TOKEN}` })
          .from(tokens)
          .where(eq(tokens.id, id))
          .get();
        if (!token) return 'missing';
        if (token.admin && tx.select({ n: count() }).from(tokens).where(ADMIN_TOKEN).get()!.n === 1) return 'last_admin';
        tx.delete(tokens).where(eq(tokens.id, id)).run();
        return 'revoked';
      },
      { behavior: 'immediate' },
    );
  }

  userCount(): number {
    return this.db.select({ n: count() }).from(users).get()!.n;
  }

  /**
   * Who a token hash belongs to and what the token may do, or undefined; `{ expired }` (the token's id and
   * when it expired) for a token past its expiry at `now`. Records the token's last use at most once a minute,
   * so that reading the API is not a database write per request; an expired token's use is not recorded.
   */
  tokenByHash(hash: string, now = new Date()): Caller | { expired: { id: number; at: string } } | undefined {
    const row = this.q.byHash.get({ hash });
    if (!row) return undefined;
    if (row.expiresAt && isExpired(row.expiresAt, now)) return { expired: { id: row.tokenId, at: row.expiresAt } };
    if (lastUseDue(row.lastUsedAt, now)) this.q.touch.run({ at: now.toISOString(), id: row.tokenId });
    return { user: row.user, tokenId: row.tokenId, scopes: parseScopes(row.scopes) };
  }

  /** Sets a user's quota in bytes (NO_QUOTA for none, null for the server's default); false if there is no such user. */
  setQuota(name: string, bytes: number | null): boolean {
    return this.db.update(users).set({ quotaBytes: bytes }).where(eq(users.name, name)).run().changes > 0;
  }

  /** Every name that owns a registry namespace here: users, and owners of repos (a removed user's stay). */
  namespaces(): Set<string> {
    const names = this.db
      .select({ name: users.name })
      .from(users)
      .union(this.db.select({ name: repos.owner }).from(repos))
      .all();
    return new Set(names.map((r) => r.name));
  }

  /** The user single sign-on links to this subject (`<issuer> <sub>`), or undefined. */
  userBySubject(subject: string): User | undefined {
    return this.db.select().from(users).where(eq(users.ssoSubject, subject)).get();
  }

  /**
   * Makes a user of single sign-on: no token (they sign in at the provider and make tokens on the web page).
   * Null when the name or the subject is taken (another sign-in made it meanwhile).
   */
  createSsoUser(name: string, subject: string): User | null {
    return this.db.insert(users).values({ name, ssoSubject: subject }).onConflictDoNothing().returning().get() ?? null;
  }

  /** Links a user that has no subject yet to `subject`; false when the user has one already (or is gone). */
  linkSubject(userId: number, subject: string): boolean {
    return (
      this.db
        .update(users)
        .set({ ssoSubject: subject })
        .where(and(eq(users.id, userId), isNull(users.ssoSubject)))
        .run().changes > 0
    );
  }
}
