import type { InventoryStore } from '../store/inventory.js';
import { NO_QUOTA } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { formatBytes } from '../units.js';
import type { GcOptions, GcReport } from './gc.js';

/** An owner's usage against their quota. */
export interface QuotaState {
  owner: string;
  bytes: number;
  /** Bytes allowed; null when the owner has no quota. */
  quota: number | null;
}

/** At or over quota: builds are recorded failed (`quota`) instead of queued, and the registry grants no push. */
export const isOver = (s: QuotaState): boolean => s.quota !== null && s.bytes >= s.quota;
/** From this share of the quota on, pushes print a warning. */
export const WARN_RATIO = 0.8;

const percent = (s: QuotaState) => `${Math.floor((s.bytes / Math.max(1, s.quota!)) * 100)} %`;

/** What the push and token checks ask: over (with the reason to show), a warning, or nothing to say. */
export type QuotaVerdict = { over: true; reason: string } | { over: false; warning: string | null };

export interface QuotaDeps {
  store: Store;
  inventory: InventoryStore;
  /** CODEHUB_QUOTA in bytes; 0 is none. */
  defaultBytes: number;
  /** A dry run of gc, for what freeing space would give (offline: from the inventory, no registry request). */
  estimate?: (opts: GcOptions) => Promise<GcReport>;
}

/**
 * Quotas: per owner, CODEHUB_QUOTA unless the user has their own (`user quota`). Usage is the inventory's
 * (kept current after each build), so a check is one SQL sum, made when builds are queued: an owner over
 * quota gets failed builds before BuildKit spends a second, with the figures and how to free space.
 */
export class Quotas {
  constructor(private deps: QuotaDeps) {}

  /** The quota in bytes that applies to `owner`, or null for none. */
  quotaOf(owner: string): number | null {
    const own = this.deps.store.accounts.userByName(owner)?.quotaBytes ?? null;
    if (own === NO_QUOTA) return null;
    const bytes = own ?? this.deps.defaultBytes;
    return bytes > 0 ? bytes : null;
  }

  state(owner: string): QuotaState {
    return { owner, bytes: this.deps.inventory.ownerBytes(owner), quota: this.quotaOf(owner) };
  }

  /** Why pushes to `owner`'s namespace are refused (the registry token server's check), or null. */
  pushRefusal(owner: string): string | null {
    const s = this.state(owner);
    return isOver(s)
      ? `${owner} is over quota: ${formatBytes(s.bytes)} of ${formatBytes(s.quota!)} (${percent(s)}); free space with codehub-build image rm, gc or a smaller retention`
      : null;
  }

  /**
   * The verdict for queuing builds of `repo` (owner/name): over quota with the figures and what `gc` or a
   * smaller retention would free, a warning from WARN_RATIO on, or nothing.
   */
  async check(repo: string): Promise<QuotaVerdict> {
    const owner = repo.slice(0, repo.indexOf('/'));
    const s = this.state(owner);
    if (s.quota === null) return { over: false, warning: null };
    if (!isOver(s)) {
      return {
        over: false,
        warning:
          s.bytes >= WARN_RATIO * s.quota
            ? `warning: ${owner} uses ${formatBytes(s.bytes)} of a ${formatBytes(s.quota)} quota (${percent(s)}); at 100 % builds fail until space is freed (codehub-build usage)`
            : null,
      };
    }
    const freed = async (opts: GcOptions) => {
      const r = await this.deps.estimate?.({ ...opts, offline: true, logs: false }).catch(() => null);
      const o = r?.owners.find((x) => x.owner === owner);
      return o ? o.before - o.after : null;
    };
    const now = await freed({ owner });
    const smaller = await freed({ repo, policy: { keep: 1, days: 0 } });
    const parts = [
      `${owner} uses ${formatBytes(s.bytes)} of a ${formatBytes(s.quota)} quota (${percent(s)}, ${formatBytes(s.bytes - s.quota)} over), so the build was not started`,
      now === null ? null : `gc would free ${formatBytes(now)} now (an operator runs codehub-build gc; the server runs it every CODEHUB_GC_INTERVAL)`,
      smaller === null
        ? null
        : `keeping only each branch's newest build of ${repo} (codehub-build repo retention ${repo} --keep 1 --days 0, then gc) would free ${formatBytes(smaller)}`,
      `or remove tags yourself (codehub-build image rm ${owner}/<image>:<tag>), or an operator raises the quota: codehub-build user quota ${owner} <size>`,
    ];
    return { over: true, reason: parts.filter(Boolean).join('; ') };
  }
}
