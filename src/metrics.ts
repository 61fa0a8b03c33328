/** Just enough of the Prometheus text format for the server's own metrics; no client library needed. */

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (labels: Record<string, string>) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

export class Histogram {
  private counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((b, i) => { if (value <= b) this.counts[i]!++; });
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

/** A gauge or counter whose samples are computed when scraped. */
export function samples(name: string, help: string, type: 'gauge' | 'counter', rows: { labels?: Record<string, string>; value: number }[]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...rows.map((r) => `${name}${labelText(r.labels ?? {})} ${r.value}`)].join('\n');
}

/** The histograms the runner feeds. */
export class BuildMetrics {
  readonly queueWait = new Histogram('codehub_build_queue_wait_seconds', 'Time from queued to started, per build attempt.', [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]);
  readonly duration = new Histogram('codehub_build_duration_seconds', 'Time from started to ended, per build attempt.', [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]);
}
