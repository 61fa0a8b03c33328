import { SYSTEM_ACTOR, type AuditLog } from '../auth/audit.js';
import type { Logger } from '../log.js';
import { formatBytes } from '../units.js';
import type { GarbageCollector } from './gc.js';
import type { Inventory } from './inventory.js';

export interface MaintenanceDeps {
  inventory: Inventory;
  gc: GarbageCollector;
  log: Logger;
  /** Namespaces this server serves (users and repo owners): the reconcile reads only those. */
  namespaces: () => Set<string>;
  /** CODEHUB_GC_INTERVAL; 0 turns the schedule off. */
  intervalMs: number;
  /** The first run's delay after start (default: a minute, or the interval if shorter). */
  firstDelayMs?: number;
  /** Where the scheduled gc's removals are recorded, as the server's own (SYSTEM_ACTOR). */
  audit?: AuditLog;
}

/**
 * The server's registry upkeep on a schedule: reconcile the inventory with the whole registry (usage of
 * what was pushed without a build, tags removed by hand), then gc (retention and expired logs). One run at a
 * time; a failed run is logged and the next one tries again.
 */
export class Maintenance {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private deps: MaintenanceDeps) {}

  start(): void {
    if (this.deps.intervalMs <= 0) return;
    const first = this.deps.firstDelayMs ?? Math.min(60_000, this.deps.intervalMs);
    this.timer = setTimeout(() => this.tick(), first);
    this.timer.unref();
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private tick(): void {
    this.running = this.runOnce().finally(() => {
      this.running = null;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), this.deps.intervalMs);
      this.timer.unref();
    });
  }

  /** One reconcile and gc, logged; never rejects. */
  async runOnce(): Promise<void> {
    const { log } = this.deps;
    try {
      const namespaces = this.deps.namespaces();
      const r = await this.deps.inventory.reconcile((owner) => namespaces.has(owner));
      log.info('usage reconciled with the registry', { repositories: r.repositories, tags: r.tags, requests: r.requests, ms: r.ms });
      for (const t of r.topLevel) {
        log.warn(
          "registry repository outside every namespace (pushed before such pushes were refused): its usage counts toward the user it is named after; delete its tags through the registry API with an admin token, then run the registry's gc",
          { repository: t.repository, owner: t.owner, tags: t.tags },
        );
      }
      const g = await this.deps.gc.run();
      this.deps.audit?.gcRemovals(SYSTEM_ACTOR, g.removals);
      log.info('gc run', {
        removed: g.removals.length,
        freed: formatBytes(g.bytes),
        freedBytes: g.bytes,
        kept: g.kept,
        repositories: g.repositories,
        skipped: g.skipped,
        logsExpired: g.logs.expired,
        requests: g.requests,
        ms: g.ms,
      });
    } catch (e) {
      log.warn('scheduled registry upkeep failed; the next run tries again', { err: e });
    }
  }
}
