import { insightView } from '../insight/stored.js';
import { sendLog } from '../logs/follow.js';
import type { LogStore } from '../logs/store.js';
import { storedBuildScan } from '../scan/report.js';
import { countsText } from '../scan/scan-build.js';
import type { Build } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { platformsText } from '../limits.js';
import { escapeControls } from '../util/controls.js';

/**
 * What `git push -o wait` prints: each build's log as it is written (prefixed with the image name when the
 * push built several), then one result line per build: the image references and digest (and a multi-platform
 * image's platforms), or the failure and where to read more, its scan, and why it missed the cache. Writes are serialized, so lines of different
 * builds never mix within a line.
 */
export async function streamBuilds(p: {
  logs: LogStore;
  store: Store;
  publicUrl: string;
  builds: Build[];
  write: (text: string) => Promise<void>;
  signal: AbortSignal;
}): Promise<void> {
  let chain = Promise.resolve();
  const write = (text: string) => (chain = chain.then(() => p.write(text)).catch(() => {}));
  const several = p.builds.length > 1;
  const ended = await Promise.all(
    p.builds.map((b) =>
      sendLog({
        logs: p.logs,
        store: p.store,
        id: b.id,
        after: 0,
        follow: true,
        signal: p.signal,
        send: (l) => write(several ? `[${b.image}] ${l.text}\n` : `${l.text}\n`),
      }),
    ),
  );
  await chain;
  if (p.signal.aborted) return;
  const summary: string[] = [''];
  for (const b of ended) {
    if (!b) continue;
    if (b.status === 'succeeded') {
      summary.push(`build #${b.id} ${b.image} succeeded:`, ...b.imageRefs.map((r) => `  ${r}@${b.digest}`), ...platformLines(b));
    } else if (b.reasonCode === 'vulnerabilities') {
      summary.push(
        `build #${b.id} ${b.image} FAILED (vulnerabilities): its branch and release tags did not move`,
        `  log: codehub-build vulns ${b.id}   (${p.publicUrl}/builds/${b.id})`,
      );
    } else {
      summary.push(
        `build #${b.id} ${b.image} ${b.status.toUpperCase()}${b.reasonCode ? ` (${b.reasonCode})` : ''}: ${b.reason ?? ''}`,
        `  log: codehub-build logs ${b.id}   (${p.publicUrl}/builds/${b.id})`,
      );
    }
    summary.push(...scanLines(b), ...cacheLines(b));
  }
  await write(summary.map((l) => l + '\n').join(''));
  await chain;
}

/**
 * A multi-platform image's platforms after its references, on one line: each with its own manifest's digest in
 * the index, short (the API and the build page have the whole); nothing for an image of one platform.
 */
export function platformLines(b: Pick<Build, 'platforms'>): string[] {
  const text = platformsText(b.platforms);
  return text ? [`  platforms: ${text}`] : [];
}

/** A build's scan in the push's last lines: the counts, then each finding that blocks (with its fixed version). */
export function scanLines(b: Pick<Build, 'scan'>): string[] {
  const scan = storedBuildScan(b.scan);
  if (!scan) return [];
  const head =
    scan.status === 'error' || scan.status === 'skipped'
      ? `  scan ${scan.status}: ${scan.reason ?? ''}`
      : `  scan ${scan.status}: ${countsText(scan.counts)}; ${scan.fixable} fixable (fail_on: ${scan.fail_on})`;
  return [head, ...scan.blocking.map((l) => `    blocks: ${l}`), ...scan.expired.map((e) => `    expired allowance: ${e.id} (until ${e.until})`)];
}

/**
 * A build's cache miss in the push's last lines, in the sentence the build page and `codehub-build explain` give;
 * nothing when every step came from the cache or the build has no insight. Its file names and step come from
 * the pushed repo: escaped, as git shows the line on the pusher's terminal.
 */
export function cacheLines(b: Pick<Build, 'steps' | 'insight'>): string[] {
  const miss = insightView(b)?.cache_miss;
  return miss ? [`  cache: ${escapeControls(miss.sentence)}`] : [];
}
