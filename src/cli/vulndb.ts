import { rematchAll } from '../scan/rematch.js';
import { type EcosystemCounts, type ImportResult, importOsv } from '../scan/vulndb.js';
import { UsageError, withStore } from './common.js';

const USAGE = 'usage: codehub-build vulndb import <file|folder>...   (OSV zips as OSV publishes <ecosystem>/all.zip, OSV JSON records, folders of them)';

/** The words importOsv starts a problem with when a whole file or source was not taken (not a record skipped). */
const FAILED = [': refused, nothing imported', ': not imported, the database refused it', ': cannot be read', ': a folder with no .json file in it'];

/** The sources (as given) at least one of whose files was not taken: a refused zip, an unreadable path, an empty folder. */
export function failedSources(sources: readonly string[], problems: readonly string[]): string[] {
  return sources.filter((s) => problems.some((p) => p.startsWith(s) && FAILED.some((f) => p.includes(f))));
}

/** One line per ecosystem: what an import did to it. */
export function countsLine(ecosystem: string, c: EcosystemCounts): string {
  return `${ecosystem}: ${c.added} added, ${c.updated} updated, ${c.unchanged} unchanged, ${c.withdrawn} withdrawn, ${c.skipped} skipped`;
}

/**
 * `vulndb import <file|folder>...` (on the server): each file all or nothing. Prints one line per ecosystem, then
 * the problems; exits 1 when a source was not (wholly) taken, naming it, or when nothing was read at all.
 */
export async function vulnDbCmd(args: string[]): Promise<number> {
  const [sub, ...sources] = args;
  if (sub !== 'import' || sources.length === 0) throw new UsageError(USAGE);
  const { result, rematch } = await withStore(async (store) => {
    const result: ImportResult = await importOsv(store, sources);
    // What changed reaches every kept image now, matched again from its stored inventory (no registry read).
    const changed = Object.values(result.ecosystems).some((e) => e.added + e.updated + e.withdrawn > 0);
    return {
      result,
      rematch: changed ? await rematchAll(store, new Date(), (done, total) => console.error(`matching kept images again: ${done} of ${total}`)) : null,
    };
  });
  const ecosystems = Object.keys(result.ecosystems).sort();
  for (const e of ecosystems) console.log(countsLine(e, result.ecosystems[e]!));
  if (ecosystems.length === 0) console.log('nothing imported');
  for (const p of result.problems) console.log(`problem: ${p}`);
  if (result.moreProblems) console.log(`... and ${result.moreProblems} more problem${result.moreProblems === 1 ? '' : 's'}`);
  if (rematch) {
    console.log(
      `matched ${rematch.images} kept image${rematch.images === 1 ? '' : 's'} again in ${rematch.seconds.toFixed(1)}s: ${rematch.added} new finding${rematch.added === 1 ? '' : 's'}, ${rematch.removed} gone`,
    );
    for (const s of rematch.skipped) console.log(`not matched again: ${s}`);
  }
  const failed = failedSources(sources, result.problems);
  if (failed.length) {
    console.error(`codehub-build: not imported (wholly or in part): ${failed.join(', ')}`);
    return 1;
  }
  return ecosystems.length ? 0 : 1;
}
