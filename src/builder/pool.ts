import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { SettingsError } from '../settings.js';
import { BuildctlDriver } from './buildctl.js';
import { BuildxDriver } from './buildx.js';
import { dockerSocket, EngineDriver } from './dockerd.js';
import type { BuilderDriver, HealthReport } from './driver.js';

export interface BuilderSpec {
  /** `local`, a buildx builder name, `tcp://host:port` (buildx remote) or `buildctl+tcp://host:port`. */
  target: string;
  capacity: number;
}

/** A CODEHUB_BUILDERS entry that cannot be used; a settings error, reported as such at start. */
export class BuilderSpecError extends SettingsError {}

/**
 * Parses CODEHUB_BUILDERS: comma-separated entries, each optionally `=N` for how many builds it runs at
 * once (default `defaultCapacity`). Empty means the local docker driver.
 */
export function parseBuilders(list: string[], defaultCapacity: number): BuilderSpec[] {
  if (list.length === 0) return [{ target: 'local', capacity: defaultCapacity }];
  return list.map((entry) => {
    const m = /^(.+?)(?:=(\d+))?$/.exec(entry.trim());
    const target = m?.[1] ?? '';
    const capacity = m?.[2] === undefined ? defaultCapacity : Number(m[2]);
    if (!Number.isInteger(capacity) || capacity < 1) throw new BuilderSpecError(`CODEHUB_BUILDERS entry ${JSON.stringify(entry)}: capacity must be 1 or more`);
    if (/^(buildctl\+)?tcp:\/\/[^/\s]+:\d+$/.test(target) || /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(target)) return { target, capacity };
    throw new BuilderSpecError(`CODEHUB_BUILDERS entry ${JSON.stringify(entry)} is not a builder name, tcp://host:port or buildctl+tcp://host:port`);
  });
}

/**
 * `local` is dockerd's BuildKit over the Engine API (buildx on the same daemon for builds with secrets), or
 * buildx alone when DOCKER_HOST is not a unix socket; any other name is a buildx builder (`default` is
 * buildx's own name for the local docker driver).
 */
export function driverFor(spec: BuilderSpec): BuilderDriver {
  if (spec.target === 'local') return dockerSocket() ? new EngineDriver({ fallback: new BuildxDriver() }) : new BuildxDriver();
  if (spec.target.startsWith('buildctl+')) return new BuildctlDriver(spec.target.slice('buildctl+'.length));
  if (spec.target.startsWith('tcp://')) return new BuildxDriver({ remote: spec.target });
  return new BuildxDriver({ builder: spec.target });
}

interface Member {
  driver: BuilderDriver;
  capacity: number;
  running: number;
  /** null until the first health check answers. */
  health: HealthReport | null;
}

export interface BuilderStatus {
  name: string;
  healthy: boolean;
  detail: string;
  running: number;
  capacity: number;
}

/**
 * The builders and how busy and healthy each is. Builds of a repo go to the same builder while it is healthy
 * and has room (rendezvous hashing: the builder with the highest hash of repo and builder name), for
 * BuildKit cache locality; otherwise to the next in that repo's order. A builder is used only after a
 * health check passed, and is checked again every `intervalMs` and whenever a build on it fails for
 * infrastructure reasons.
 */
export class BuilderPool {
  private members: Member[];
  private timer: NodeJS.Timeout | null = null;
  private checking = new Map<Member, Promise<void>>();

  constructor(drivers: { driver: BuilderDriver; capacity: number }[], private log: Logger, private onChange: () => void = () => {}, private intervalMs = 5000) {
    this.members = drivers.map((d) => ({ ...d, running: 0, health: null }));
  }

  /** Starts the periodic health checks (the first round runs now, in the background). */
  start(): void {
    void this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  checkAll(): Promise<void> {
    return Promise.all(this.members.map((m) => this.check(m))).then(() => {});
  }

  /** Re-checks a builder now (e.g. after an infrastructure failure on it). */
  recheck(name: string): Promise<void> {
    const m = this.members.find((x) => x.driver.name === name);
    return m ? this.check(m) : Promise.resolve();
  }

  private check(m: Member): Promise<void> {
    const pending = this.checking.get(m);
    if (pending) return pending;
    const p = m.driver.health().catch((e: Error) => ({ ok: false, detail: e.message })).then((h) => {
      const was = m.health?.ok;
      m.health = h;
      if (was !== h.ok) {
        this.log[h.ok ? 'info' : 'warn'](h.ok ? 'builder healthy' : 'builder unhealthy', { builder: m.driver.name, detail: h.detail });
        if (h.ok) this.onChange();
      }
    }).finally(() => this.checking.delete(m));
    this.checking.set(m, p);
    return p;
  }

  /** True if some healthy builder has room for one more build. */
  hasRoom(): boolean {
    return this.members.some((m) => m.health?.ok && m.running < m.capacity);
  }

  /**
   * Reserves a slot on the builder this repo should build on: its first healthy builder with room, in the
   * repo's rendezvous order. Returns the driver, or null if none has room. `release` gives the slot back.
   */
  acquire(repo: string): BuilderDriver | null {
    const ranked = [...this.members].sort((a, b) => score(repo, b.driver.name) - score(repo, a.driver.name));
    const m = ranked.find((x) => x.health?.ok && x.running < x.capacity);
    if (!m) return null;
    m.running++;
    return m.driver;
  }

  release(name: string): void {
    const m = this.members.find((x) => x.driver.name === name);
    if (m && m.running > 0) m.running--;
  }

  status(): BuilderStatus[] {
    return this.members.map((m) => ({
      name: m.driver.name, healthy: m.health?.ok ?? false, detail: m.health?.detail ?? 'not checked yet', running: m.running, capacity: m.capacity,
    }));
  }
}

function score(repo: string, builder: string): number {
  return createHash('sha256').update(repo).update('\0').update(builder).digest().readUInt32BE(0);
}
