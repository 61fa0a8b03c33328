import { and, asc, eq } from 'drizzle-orm';
import type { Db } from './db.js';
import { secrets } from './schema.js';
import { NOW } from './sql.js';

/** A repo's build secrets. Values arrive and leave sealed (see secrets/vault.ts): nothing here sees plaintext. */
export class SecretStore {
  constructor(private db: Db) {}

  /** Creates or replaces a repo's secret. */
  put(repoId: number, name: string, sealed: string): void {
    this.db
      .insert(secrets)
      .values({ repoId, name, value: sealed })
      .onConflictDoUpdate({ target: [secrets.repoId, secrets.name], set: { value: sealed, updatedAt: NOW } })
      .run();
  }

  /** The sealed value of a repo's secret, or undefined. */
  sealed(repoId: number, name: string): string | undefined {
    return this.db
      .select({ value: secrets.value })
      .from(secrets)
      .where(and(eq(secrets.repoId, repoId), eq(secrets.name, name)))
      .get()?.value;
  }

  /** A repo's secrets by name, without their values. */
  list(repoId: number): { name: string; createdAt: string; updatedAt: string }[] {
    return this.db
      .select({ name: secrets.name, createdAt: secrets.createdAt, updatedAt: secrets.updatedAt })
      .from(secrets)
      .where(eq(secrets.repoId, repoId))
      .orderBy(asc(secrets.name))
      .all();
  }

  /** Removes a repo's secret; false if it had none of that name. */
  delete(repoId: number, name: string): boolean {
    return (
      this.db
        .delete(secrets)
        .where(and(eq(secrets.repoId, repoId), eq(secrets.name, name)))
        .run().changes > 0
    );
  }
}
