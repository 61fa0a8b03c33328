import { parseArgs } from 'node:util';
import type { VulnerabilitiesAnswer } from '../api/answers.js';
import { resolveBuilds } from './builds.js';
import { parsePlatform } from '../limits.js';
import { UsageError } from './errors.js';
import { clientConfig, getJson, request } from './rest.js';
import { printTable } from './table.js';

/**
 * `vulns <commit|build-id> [--json]`: each build's scan and its findings, worst first, judged by its policy now.
 * Exit 0 when no build has a blocking finding, 1 when one has (scripts can gate on it), as `logs --follow` does.
 */
export async function vulnsCmd(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args, strict: true, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new UsageError('usage: codehub-build vulns <commit|build-id> [--json]');
  const cfg = clientConfig();
  const builds = await resolveBuilds(cfg, positionals[0]!);
  const answers = await Promise.all(builds.map((b) => getJson<VulnerabilitiesAnswer>(cfg, `/api/builds/${b.id}/vulnerabilities`)));
  if (values.json) {
    console.log(JSON.stringify(answers.length === 1 ? answers[0] : answers, null, 2));
  } else {
    for (const [i, v] of answers.entries()) {
      if (i) console.log('');
      const s = v.scan;
      const head = `build #${v.build} ${v.image}${v.digest ? `@${v.digest.slice(0, 19)}` : ''}`;
      if (!s) {
        console.log(`${head}: not scanned`);
        continue;
      }
      const c = s.counts;
      console.log(`${head}: scan ${s.status}${s.reason ? ` (${s.reason})` : ''}`);
      console.log(
        `  ${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown; ${s.fixable} fixable; policy fail_on: ${s.fail_on}`,
      );
      if (!s.db_imported_at) console.log('  the vulnerability database is empty: an admin imports OSV data with `codehub-build vulndb import`');
      for (const e of s.expired) console.log(`  allowance for ${e.id} expired on ${e.until}: it allows nothing`);
      if (v.findings.length === 0) continue;
      // A multi-platform image's findings say which platform image holds them; a single image's table is as it was.
      const multi = new Set(v.findings.map((f) => f.platform)).size > 1 || (s.platforms?.length ?? 0) > 1;
      printTable([
        [...(multi ? ['PLATFORM'] : []), 'ID', 'PACKAGE', 'INSTALLED', 'FIXED IN', 'SEVERITY', 'ALLOWED', 'BLOCKS'],
        ...v.findings.map((f) => [
          ...(multi ? [f.platform] : []),
          [f.id, ...f.aliases.slice(0, 2)].join(' '),
          f.package,
          f.version,
          f.fixed.join(', ') || '-',
          f.score === null ? f.severity : `${f.severity} ${f.score.toFixed(1)}`,
          f.allowed ? `${f.allowed.by}${f.allowed.until ? ` until ${f.allowed.until}` : ''}` : '-',
          f.blocking ? 'yes' : 'no',
        ]),
      ]);
    }
  }
  return answers.some((v) => v.findings.some((f) => f.blocking)) ? 1 : 0;
}

/**
 * `sbom <commit|build-id> [--format cyclonedx|spdx] [--platform P]`: the image's SBOM on stdout (one build: a commit
 * of several images needs an id); a multi-platform image's for `--platform` (default linux/amd64, else its first).
 */
export async function sbomCmd(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { format: { type: 'string', default: 'cyclonedx' }, platform: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: codehub-build sbom <commit|build-id> [--format cyclonedx|spdx] [--platform linux/arm64]');
  if (values.format !== 'cyclonedx' && values.format !== 'spdx') throw new UsageError(`--format ${JSON.stringify(values.format)}: use cyclonedx or spdx`);
  if (values.platform !== undefined) {
    const p = parsePlatform(values.platform);
    if (!p.ok) throw new UsageError(`--platform ${p.problem}`);
  }
  const cfg = clientConfig();
  const builds = (await resolveBuilds(cfg, positionals[0]!)).filter((b) => b.digest);
  if (builds.length === 0) throw new UsageError(`no build of ${positionals[0]} pushed an image: there is no SBOM`);
  if (builds.length > 1)
    throw new UsageError(`${positionals[0]} has ${builds.length} built images; name one by build id: ${builds.map((b) => `#${b.id} (${b.image})`).join(', ')}`);
  const platform = values.platform === undefined ? '' : `&platform=${encodeURIComponent(values.platform)}`;
  const res = await request(cfg, `/api/builds/${builds[0]!.id}/sbom?format=${values.format}${platform}`);
  for await (const chunk of res.body) process.stdout.write(chunk as Buffer);
  process.stdout.write('\n');
  return 0;
}
