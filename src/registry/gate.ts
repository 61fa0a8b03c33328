import type { Logger } from '../log.js';
import type { RegistryClient } from './client.js';

/**
 * Whether the registry takes pushes, checked every `intervalMs` and on demand (after a build failed for the
 * infrastructure): the runner claims builds only while it is open. Closed until the first check answers,
 * so a server never starts a build it could not push. `onOpen` runs when it opens again.
 */
export class RegistryGate {
  private state: { ok: boolean; detail: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<boolean> | null = null;

  constructor(
    private registry: Pick<RegistryClient, 'writable' | 'base'>,
    private log: Logger,
    private onOpen: () => void = () => {},
    private intervalMs = 5000,
  ) {}

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get open(): boolean {
    return this.state?.ok ?? false;
  }

  get detail(): string {
    return this.state?.detail ?? 'not checked yet';
  }

  /** Checks now (one check at a time; callers meanwhile share it) and resolves with whether it is open. */
  check(): Promise<boolean> {
    this.pending ??= this.registry
      .writable()
      .then((s) => {
        const was = this.state?.ok;
        this.state = s;
        if (was !== s.ok) {
          this.log[s.ok ? 'info' : 'warn'](s.ok ? 'registry takes pushes: builds run' : 'registry does not take pushes: builds wait queued', {
            registry: this.registry.base,
            detail: s.detail,
          });
          if (s.ok) this.onOpen();
        }
        return s.ok;
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }
}
