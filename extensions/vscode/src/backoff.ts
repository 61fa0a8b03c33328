/**
 * Retry delays for a server that does not answer: 5 s, doubling to at most 60 s, so a workspace left open
 * while the server is down asks about once a minute rather than hammering it (or the user) every second.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly firstMs = 5_000,
    private readonly maxMs = 60_000,
  ) {}

  /** The delay before the next try; each call doubles the one after. */
  next(): number {
    const ms = Math.min(this.maxMs, this.firstMs * 2 ** this.attempt);
    if (ms < this.maxMs) this.attempt++;
    return ms;
  }

  reset(): void {
    this.attempt = 0;
  }
}
