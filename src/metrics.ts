/** Just enough of the Prometheus text format for the server's own metrics; no client library needed. */
import type { DiskReading, DiskSpace } from './util/disk.js';

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (labels: Record<string, string>) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

export class Histogram {
  private counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (const [i, b] of this.buckets.entries()) if (value <= b) this.counts[i]!++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [i, b] of this.buckets.entries()) lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`);
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

/** A gauge or counter whose samples are computed when scraped. */
export function samples(name: string, help: string, type: 'gauge' | 'counter', rows: { labels?: Record<string, string>; value: number }[]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...rows.map((r) => `${name}${labelText(r.labels ?? {})} ${r.value}`)].join('\n');
}

/**
 * A Dockerfile instruction's step as BuildKit names it (`[2/3] RUN …`, `[build 2/5] COPY …`): what cache hits
 * are counted over. `[internal]` steps, exporting and pushing are the same work cached or not.
 */
const INSTRUCTION_STEP = /^\[(?:[^\]\s]+ )?\d+\/\d+\] /;

/** Of a build's steps, how many are Dockerfile instructions and how many of those came from the cache. */
export function cacheHits(steps: readonly { name: string; cached: boolean }[]): { steps: number; cached: number } {
  const own = steps.filter((s) => INSTRUCTION_STEP.test(s.name));
  return { steps: own.length, cached: own.filter((s) => s.cached).length };
}

/** What the runner feeds, per build attempt. */
export class BuildMetrics {
  readonly queueWait = new Histogram(
    'codehub_build_queue_wait_seconds',
    'Time from queued to started, per build attempt.',
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  );
  readonly duration = new Histogram(
    'codehub_build_duration_seconds',
    'Time from started to ended, per build attempt.',
    [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  );
  readonly cacheRatio = new Histogram(
    'codehub_build_cache_hit_ratio',
    'Dockerfile steps cached / steps, per build attempt that ran any (1: all from the cache).',
    [0, 0.25, 0.5, 0.75, 0.9, 1],
  );
  /** Steps and cached steps per builder, for rates: a builder whose ratio drops has lost its cache. */
  private stepCounts = new Map<string, { steps: number; cached: number }>();

  recordSteps(builder: string, hits: { steps: number; cached: number }): void {
    if (hits.steps === 0) return;
    this.cacheRatio.observe(hits.cached / hits.steps);
    const c = this.stepCounts.get(builder) ?? { steps: 0, cached: 0 };
    this.stepCounts.set(builder, { steps: c.steps + hits.steps, cached: c.cached + hits.cached });
  }

  renderSteps(): string {
    const rows = [...this.stepCounts];
    return [
      samples(
        'codehub_build_steps_total',
        'Dockerfile steps run by builds, by builder.',
        'counter',
        rows.map(([builder, c]) => ({ labels: { builder }, value: c.steps })),
      ),
      samples(
        'codehub_build_steps_cached_total',
        "Dockerfile steps that came from the cache (the builder's or the registry's), by builder.",
        'counter',
        rows.map(([builder, c]) => ({ labels: { builder }, value: c.cached })),
      ),
    ].join('\n\n');
  }
}

/**
 * The data dir's file system, read at scrape time: alert on free bytes nearing CODEHUB_MIN_FREE, under which
 * pushes are refused. Nothing when it cannot be read (the scrape still answers with the rest).
 */
export function renderDisk(disk: DiskSpace): string {
  let r: DiskReading;
  try {
    r = disk.read();
  } catch {
    return '';
  }
  return [
    samples('codehub_data_free_bytes', "Bytes free on the data dir's file system (for the server's user).", 'gauge', [{ value: r.freeBytes }]),
    samples('codehub_data_total_bytes', "Size in bytes of the data dir's file system.", 'gauge', [{ value: r.totalBytes }]),
    samples('codehub_data_min_free_bytes', 'Free bytes the server keeps on the data dir (CODEHUB_MIN_FREE): below it pushes are refused.', 'gauge', [
      { value: r.minFreeBytes },
    ]),
  ].join('\n\n');
}
