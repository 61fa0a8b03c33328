/**
 * codehub-build against the limit, in one run:
 *
 *   npm run bench                                   (brings the stack up first)
 *   BENCH_RUNS=7 BENCH_ONLY=image,recorded,forge,burst,lookup,sse,web,registry,deploy,workspace,large,upload,manifest,cold,pool npm run bench
 *
 * Prints a table and writes it to bench/RESULTS.md with the date, the machine and the exact commands. Every
 * ratio compares figures measured in this same run.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/paths.js';
import { removeOwnRegistries, TestServer, uniqueName } from '../test/helpers/server.js';
import { burst, claimRate, type BurstResult } from './burst.js';
import { machine } from './lib/machine.js';
import { rssMb } from './lib/proc.js';
import { ratio, spread, type Stats } from './lib/stats.js';
import { lookups, type LookupResult } from './lookup.js';
import { PLAIN_HOOK, pushToImage, RAW_COMMAND, type PushToImageRow } from './push-to-image.js';
import { pushToRecorded } from './push-recorded.js';
import { forgeWebhookBench, type ForgeWebhookResult } from './forge-webhook.js';
import { sseLatency } from './sse.js';
import { webPages, type WebResult } from './web.js';
import { registryOpsBench, type RegistryOpsResult } from './registry-ops.js';
import { deployBench, type DeployResult } from './deploy.js';
import { workspaceBench, type WorkspaceResult } from './workspace.js';
import { largeRepoBench, type LargeRepoResult } from './large-repo.js';
import { uploadFolderBench, type UploadFolderResult } from './upload-folder.js';
import { manifestBench, type ManifestResult } from './upload-manifest.js';
import { coldBuilderBench, type ColdResult } from './cold-builder.js';
import { poolMovement, type PoolResult } from './pool-movement.js';
import { fmtBytes } from './lib/build-log.js';
import { Scratch } from './lib/scratch.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 2000);
const SECTIONS = [
  'image',
  'recorded',
  'forge',
  'burst',
  'lookup',
  'sse',
  'web',
  'registry',
  'deploy',
  'workspace',
  'large',
  'upload',
  'manifest',
  'cold',
  'pool',
];
const ONLY = new Set((process.env.BENCH_ONLY ?? SECTIONS.join(',')).split(','));
const SIZES = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
const progress = (s: string) => process.stderr.write(s + '\n');

const out: string[] = [];
const say = (s = '') => {
  out.push(s);
  console.log(s);
};
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');

const started = new Date();
say(`# codehub-build benchmark`);
say();
say(
  `Run ${started.toISOString()} with \`${process.env.BENCH_RUNS || process.env.BENCH_ONLY ? `BENCH_RUNS=${RUNS} BENCH_ONLY=${[...ONLY].join(',')} ` : ''}npm run bench\`. Every figure is the median of ${RUNS} runs after a warm-up, with (min-max), unless it says otherwise.`,
);
say();
say('| machine | |');
say('| --- | --- |');
for (const [k, v] of Object.entries(machine())) say(`| ${k} | ${v} |`);
say();

// One server for the push, SSE and idle-memory figures, as an operator runs it (log level info).
const scratch = new Scratch();
const server = await TestServer.start({ dataDir: scratch.dir('chb-e2e-'), env: { CODEHUB_LOG_LEVEL: 'info' } });
const owner = uniqueName('bench');
const token = server.addUser(owner);
await new Promise((r) => setTimeout(r, 1000));
const rssStart = rssMb(server.proc!.pid!);
let image: PushToImageRow[] = [];
let recorded: { plain: Stats; codehub: Stats } | null = null;
let sse: Stats | null = null;
let forge: ForgeWebhookResult | null = null;
let ws: WorkspaceResult | null = null;
let rssIdle = 0;
try {
  if (ONLY.has('image')) image = await pushToImage(server, owner, token, RUNS, progress);
  if (ONLY.has('recorded')) {
    progress('push to recorded');
    recorded = await pushToRecorded(server, owner, token, RUNS * 3);
  }
  if (ONLY.has('forge')) forge = await forgeWebhookBench(server, owner, token, RUNS * 3, progress);
  if (ONLY.has('sse')) {
    progress('SSE latency');
    sse = await sseLatency(server, owner, token);
  }
  if (ONLY.has('workspace')) ws = await workspaceBench(server, owner, token, RUNS * 3, progress);
  await new Promise((r) => setTimeout(r, 3000));
  rssIdle = rssMb(server.proc!.pid!);
} finally {
  await server.stop();
  await removeOwnRegistries();
  scratch.remove();
}
let b: BurstResult | null = null;
let claims: { perSecond: number; msPerClaim: number } | null = null;
if (ONLY.has('burst')) {
  progress('burst of 50 pushes');
  b = await burst();
  claims = claimRate(10_000);
}
const lookupResults: LookupResult[] = [];
if (ONLY.has('lookup'))
  for (const n of SIZES) {
    progress(`lookups with ${n} builds`);
    lookupResults.push(await lookups(n, LOOKUPS));
  }
const WEB_BUILDS = Math.max(...SIZES);
let web: WebResult | null = null;
if (ONLY.has('web')) {
  progress(`web pages with ${WEB_BUILDS} builds`);
  web = await webPages(WEB_BUILDS, 300);
}

let regOps: RegistryOpsResult | null = null;
if (ONLY.has('registry')) {
  progress('registry operations over 10,000 tags');
  regOps = await registryOpsBench(progress);
}
let deploy: DeployResult | null = null;
let large: LargeRepoResult | null = null;
if (ONLY.has('deploy')) {
  progress('deployment: builders and registry storage');
  deploy = await deployBench(RUNS, progress);
}
if (ONLY.has('large')) large = await largeRepoBench(RUNS, progress);
let upload: UploadFolderResult | null = null;
if (ONLY.has('upload')) upload = await uploadFolderBench(RUNS, progress);
let manifest: ManifestResult | null = null;
if (ONLY.has('manifest')) {
  progress('an upload manifest of the most entries taken');
  manifest = manifestBench(RUNS);
}
let cold: ColdResult | null = null;
if (ONLY.has('cold')) {
  progress('a cold builder, with and without the registry cache');
  cold = await coldBuilderBench(RUNS, progress);
}
let pool: PoolResult | null = null;
if (ONLY.has('pool')) pool = poolMovement(progress);

if (image.length) {
  say('## Push to pushed image (ms)');
  say();
  say(
    'Trivial image (`FROM busybox`, one `RUN`), same repo, each round a new commit; all three push the same three tags (branch, sha, latest) and five labels to the local registry, one after another in rotating order.',
  );
  say();
  say('| case | (a) raw `docker buildx build --push` | (b) `git push`, plain post-receive hook | (c) codehub-build `git push -o wait` | c/a | c/b |');
  say('| --- | --- | --- | --- | --- | --- |');
  for (const r of image)
    say(
      `| ${r.mode} | ${spread(r.raw)} | ${spread(r.hook)} | ${spread(r.codehub)} | ${ratio(r.codehub.median, r.raw.median)} | ${ratio(r.codehub.median, r.hook.median)} |`,
    );
  say();
  const cached = image.find((r) => r.mode === 'cached')!;
  say(
    `Targets (cached): c/a at most 1.15: ${verdict(cached.codehub.median / cached.raw.median <= 1.15)}; c/b at most 1.0: ${verdict(cached.codehub.median / cached.hook.median <= 1.0)}.`,
  );
  say();
  say('Commands:');
  say(`- (a) \`${RAW_COMMAND}\`, run in the work tree (the time includes \`git archive\`).`);
  say(
    '- (b) `git push <plain>/img.git HEAD:main` (`-o no-cache` for the no-cache case) to `git http-backend` behind a minimal Node HTTP server (bench/lib/plain-git.ts), whose bare repo has this post-receive hook:',
  );
  say();
  say('```sh');
  for (const l of PLAIN_HOOK.trimEnd().split('\n')) say(l);
  say('```');
  say(
    '- (c) `git push -o wait [-o no-cache] http://<user>:<token>@127.0.0.1:<port>/git/<user>/img.git HEAD:main`, which returns after the build pushed its image.',
  );
  say();
}

if (recorded) {
  say('## Push to recorded (ms)');
  say();
  say(
    `\`git push\` of a commit changing one file, ${recorded.codehub.n} rounds after 2 warm-ups; codehub-build returns once the build is committed to SQLite (the build then runs, untimed, before the next round).`,
  );
  say();
  say('| plain `git push` to a bare repo over HTTP (`git http-backend`, no hook) | codehub-build `git push` | ratio |');
  say('| --- | --- | --- |');
  say(`| ${spread(recorded.plain, 1)} | ${spread(recorded.codehub, 1)} | ${ratio(recorded.codehub.median, recorded.plain.median)} |`);
  say();
  say(`Target: at most 1.2x: ${verdict(recorded.codehub.median / recorded.plain.median <= 1.2)}.`);
  say();
}

if (forge) {
  say('## A push on a forge to recorded, and statuses back (ms)');
  say();
  say(
    `A commit changing one file pushed to the upstream (test/helpers/fake-forge.ts: \`git http-backend\` plus a status recorder, on loopback), untimed; then, in rotating order, ${forge.webhook.n} rounds after 2 warm-ups: (a) \`git --git-dir <bare> fetch --quiet --no-tags <upstream> +refs/heads/main:refs/heads/main\`, the raw fetch a webhook must do; (b) Gitea's signed push delivery (\`POST /hooks/gitea?repo=\`) until codehub-build answers \`queued\`: verified, replay-checked, fetched, config read, builds committed to SQLite. Statuses: receipt times at the fake forge.`,
  );
  say();
  say("| (a) raw `git fetch` | (b) webhook to recorded | b/a | `pending` after the delivery was sent | `success` after the build's `finished_at` |");
  say('| --- | --- | --- | --- | --- |');
  say(
    `| ${spread(forge.rawFetch, 1)} | ${spread(forge.webhook, 1)} | ${ratio(forge.webhook.median, forge.rawFetch.median)} | ${spread(forge.pending, 0)} | ${spread(forge.success, 0)} |`,
  );
  say();
}

if (b && claims) {
  say('## Burst: 50 concurrent pushes');
  say();
  say(
    '10 repos x 5 branches pushed at once to a fresh server (its first pushes create the repos) with the default two build slots, building on the real BuildKit; outcomes read from the SQLite file. For scale, the same 50 pushes to plain `git http-backend` (no hook, repos already there).',
  );
  say();
  say(
    '| pushes ok | records | lost | duplicated | statuses | git push p50 / p99 (ms) | plain git push p50 / p99 (ms) | push to running p50 / p99 (ms) | first push to all terminal (s) | server RSS idle / peak (MB) |',
  );
  say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  say(
    `| ${b.pushesOk}/50 | ${b.records} | ${b.lost} | ${b.duplicated} | ${Object.entries(b.statuses)
      .map(([s, n]) => `${s} ${n}`)
      .join(
        ', ',
      )} | ${b.push.median} / ${b.push.p99} | ${b.plainPush.median} / ${b.plainPush.p99} | ${b.toRunning.median} / ${b.toRunning.p99} | ${(b.allTerminalMs / 1000).toFixed(1)} | ${b.rssIdleMb.toFixed(0)} / ${b.rssPeakMb.toFixed(0)} |`,
  );
  say();
  say(`Target (0 lost, 0 duplicated, every build terminal): ${verdict(b.lost === 0 && b.duplicated === 0 && b.records === 50)}.`);
  say();
  say(
    `The queue itself (claim + finish, 10,000 builds queued by 100 owners, SQLite WAL file): ${claims.perSecond.toFixed(0)} claims/s, ${claims.msPerClaim.toFixed(2)} ms each.`,
  );
  say();
}

if (lookupResults.length) {
  say('## Lookups (ms, over HTTP from a keep-alive client)');
  say();
  say(`${LOOKUPS} lookups after 100 warm-ups, by one owner of 100 (10 repos each), in a database of N finished builds.`);
  say();
  say('| builds | by 7-hex sha prefix p50 / p99 | prefix, then its log p50 / p99 | by repo (newest 20) p50 / p99 | server RSS (MB) | fill (s) |');
  say('| --- | --- | --- | --- | --- | --- |');
  const f = (s: Stats) => `${s.median.toFixed(2)} / ${s.p99.toFixed(2)}`;
  for (const l of lookupResults)
    say(
      `| ${l.builds.toLocaleString('en')} | ${f(l.byPrefix)} | ${f(l.prefixThenLog)} | ${f(l.byRepo)} | ${l.rssMb.toFixed(0)} | ${l.fillSeconds.toFixed(0)} |`,
    );
  say();
  const million = lookupResults.find((l) => l.builds === 1_000_000);
  if (million)
    say(`Target (p99 at most 5 ms with 1,000,000 builds): by prefix ${verdict(million.byPrefix.p99 <= 5)}, by repo ${verdict(million.byRepo.p99 <= 5)}.`);
  say();
}

if (web) {
  say('## Web pages against the API (ms, over HTTP from a keep-alive client)');
  say();
  say(
    `${web.rows[0]!.pageMs.n} requests of each after 20 warm-ups, page and API alternating, in a database of ${web.builds.toLocaleString('en')} finished builds; the page signs in with the cookie, the API with the bearer token. The API column is what a client fetches to show the same.`,
  );
  say();
  say('| page | p50 / p99 | size (KiB) | API | p50 / p99 | size (KiB) | page/API (p50) |');
  say('| --- | --- | --- | --- | --- | --- | --- |');
  const f = (s: Stats) => `${s.median.toFixed(2)} / ${s.p99.toFixed(2)}`;
  for (const r of web.rows)
    say(
      `| ${r.page} | ${f(r.pageMs)} | ${r.pageKb.toFixed(1)} | ${r.raw} | ${f(r.rawMs)} | ${r.rawKb.toFixed(1)} | ${ratio(r.pageMs.median, r.rawMs.median)} |`,
    );
  say();
}

if (regOps) {
  const r = regOps;
  const f = (p: { ms: number; requests: number }) => `${(p.ms / 1000).toFixed(2)} | ${p.requests.toLocaleString('en')}`;
  say('## Registry operations (usage, retention, gc)');
  say();
  say(
    `${r.repositories} image repositories of 10 owners, each 100 builds of branch main (a sha tag each; main and latest on the newest): ${r.tags.toLocaleString('en')} tags, each its own manifest, in a registry of the benchmark's own on this machine; retention keep 10, days 0. Filled in ${r.fillSeconds.toFixed(0)} s (twice: a second, identical set of repositories for the baseline).`,
  );
  say();
  say('| step | seconds | registry requests |');
  say('| --- | --- | --- |');
  say(
    `| usage reconcile, empty inventory (catalog, tag lists, a GET per tag; both sets, ${(r.tags * 2).toLocaleString('en')} tags) | ${f(r.firstReconcile)} |`,
  );
  say(`| usage reconcile again (a HEAD per tag; both sets) | ${f(r.reconcile)} |`);
  say(`| retention planning from the inventory (${r.removed.toLocaleString('en')} removals planned) | ${f(r.planOffline)} |`);
  say(`| \`gc --dry-run\` per repository (a tag list each, then planning) | ${f(r.dryRun)} |`);
  say(`| \`gc\` per repository: ${r.removed.toLocaleString('en')} manifests deleted, each removal logged | ${f(r.gc)} |`);
  say(`| baseline: learning the digests without an inventory (a tag list, then a HEAD per tag) | ${f(r.rawRead)} |`);
  say(`| baseline: the same ${r.removed.toLocaleString('en')} DELETEs by digest, a plain loop, 8 in flight | ${f(r.rawDelete)} |`);
  say();
  say(
    `The quota check a push makes (an owner's usage, 1,020 tags in 10 images, against the quota): ${r.quotaCheck.median.toFixed(2)} ms median, ${r.quotaCheck.p99.toFixed(2)} ms p99 (${r.quotaCheck.n} calls).`,
  );
  say();
  say(
    `gc against the raw deletes: ${ratio(r.gc.ms, r.rawDelete.ms)}x the time, ${ratio(r.gc.requests, r.rawDelete.requests)}x the requests; gc's planning (dry run) against learning the digests without an inventory: ${ratio(r.dryRun.ms, r.rawRead.ms)}x the time, ${ratio(r.dryRun.requests, r.rawRead.requests)}x the requests.`,
  );
  say();
}

if (deploy) {
  say('## Deployment choices: builder transport and registry storage (ms)');
  say();
  say(
    'Each round a new commit (FROM busybox, one RUN that changes), pushed as `main` and the sha to a token registry. Raw: `git archive <sha> | docker buildx build --push -` at that daemon after `docker login`; codehub-build: `git push -o wait`.',
  );
  say();
  say('| builder | raw `docker buildx build --push` | codehub-build `git push -o wait` | codehub-build / raw |');
  say('| --- | --- | --- | --- |');
  for (const b of deploy.builders) say(`| ${b.name} | ${spread(b.raw)} | ${spread(b.codehub)} | ${ratio(b.codehub.median, b.raw.median)} |`);
  const [local, remote] = deploy.builders;
  if (local && remote)
    say(
      `\nThe networked builder against the local one, codehub-build: ${ratio(remote.codehub.median, local.codehub.median)}x; raw: ${ratio(remote.raw.median, local.raw.median)}x.`,
    );
  say();
  say('| registry storage | codehub-build `git push -o wait` | against the filesystem |');
  say('| --- | --- | --- |');
  const base = deploy.storage[0]!.codehub.median;
  for (const r of deploy.storage) say(`| ${r.name} | ${spread(r.codehub)} | ${ratio(r.codehub.median, base)} |`);
  say();
}

if (large) {
  say(`## A large repo, one line changed (ms)`);
  say();
  say(
    `${large.files} random 1 MB files beside a small \`app/\`; the Dockerfile copies only \`app/\`; each round changes one line of \`app/version.txt\` and every way builds and pushes it. Each codehub-build way is its own server (its own data dir and token registry); the raw ways push to the first one's registry after \`docker login\`.`,
  );
  say();
  say('| way | push to pushed image | against the kept checkout | against the kept checkout on the same daemon | context sent per build |');
  say('| --- | --- | --- | --- | --- |');
  const keptOn = (daemon: string) => large!.rows.find((r) => !r.codehub && r.daemon === daemon && r.name.includes('kept checkout'))!.ms.median;
  for (const r of large.rows) {
    const sent = r.bytes === null ? 'n/a' : `${fmtBytes(r.bytes)}${r.bytesFrom === 'archive' ? ' (the whole archive)' : ''}`;
    say(`| ${r.name} | ${spread(r.ms)} | ${ratio(r.ms.median, keptOn('main'))} | ${ratio(r.ms.median, keptOn(r.daemon))} | ${sent} |`);
  }
  say();
  say(
    `Context sent: the median per build, from each codehub-build build's log (\`context: N files, B bytes sent\`, GET /api/builds/:id/log; for buildx, BuildKit's \`transferring context: …\` if the log has it) and from buildx's own output for the raw kept checkout; a tar context sends the whole archive, ${fmtBytes(large.archiveBytes)} (\`git archive --format=tar HEAD | wc -c\`). n/a: the log does not say.`,
  );
  say();
}

if (upload) {
  const u = upload;
  const bytes = (n: number | null) => (n === null ? 'n/a' : fmtBytes(n));
  say(`## A ${fmtBytes(u.folderBytes)} folder, one line changed: \`codehub-build build\` (ms)`);
  say();
  say(
    `A folder that is not a git repo: ${u.files} random 1 MB files under \`data/\` beside a small \`app/\`, no .dockerignore, so all of it is the context both ways. Two Dockerfiles, each \`FROM busybox\`, a COPY, then \`RUN wc -c /ctx/app/version.txt\`: \`COPY . /ctx/\` (the whole folder goes into the image: every change also makes and pushes a 300 MB layer, both ways) and \`COPY app/ /ctx/app/\` (the build uses a small part: what the change costs to reach BuildKit dominates). The first build with each Dockerfile is the warm-up (everything uploaded and sent); then each round changes one line of \`app/version.txt\` before each way builds and pushes it, each way first in turn. codehub-build: the CLI downloaded from the server (GET /downloads/codehub-build, run with node, its hash cache in a scratch HOME) against a server building on \`local\`, timed from start to exit (walk, upload, build, push, the log followed to its end); raw: \`docker buildx build --push\` in the same folder on the same dockerd, pushing to the server's token registry after \`docker login\`.`,
  );
  say();
  say(
    '| Dockerfile | way | first build | one line changed | against raw | uploaded to the server (first / changed) | context BuildKit was sent (first / changed) |',
  );
  say('| --- | --- | --- | --- | --- | --- | --- |');
  for (const v of u.variants) {
    for (const w of [v.codehub, v.raw]) {
      say(
        `| ${v.label} | ${w.name} | ${w.firstMs.toFixed(0)} | ${spread(w.ms)} | ${ratio(w.ms.median, v.raw.ms.median)} | ${w.firstUploaded === null ? 'n/a (no server)' : `${bytes(w.firstUploaded)} / ${bytes(w.uploaded)}`} | ${bytes(w.firstSent)} / ${bytes(w.sent)} |`,
      );
    }
  }
  say();
  for (const v of u.variants)
    say(
      `Target (${v.label}; one line changed, codehub-build / raw, asked <= 1.5x): ${ratio(v.codehub.ms.median, v.raw.ms.median)}x: ${verdict(v.codehub.ms.median / v.raw.ms.median <= 1.5)}.`,
    );
  say();
  say(
    `Uploaded: the CLI's \`context: N files, X (Y uploaded, Z already on the server)\` (median per build); sent: the build log's \`context: N files, B bytes sent\` (GET /api/builds/:id/log) and BuildKit's \`transferring context: …\` in buildx's output. The CLI's walk alone (src/client/context-walk.ts in process, a hash cache of its own): ${u.walk.firstMs.toFixed(0)} ms the first time (every file hashed), ${spread(u.walk.ms, 1)} after a one-line change.`,
  );
  say();
  say('Commands:');
  for (const w of [u.variants[0]!.codehub, u.variants[0]!.raw]) say(`- \`${w.command}\``);
  say();
}

if (manifest) {
  say('## An upload manifest of the most entries taken (ms)');
  say();
  say(
    `\`validateManifest\` (src/uploads/manifest.ts) in process on ${manifest.entries.toLocaleString('en')} entries (MAX_UPLOAD_ENTRIES: 200 folders of 999 files, listed in reverse order), checked and sorted into fsutil's order, as POST /api/uploads does before it answers.`,
  );
  say();
  say('| entries | check and sort |');
  say('| --- | --- |');
  say(`| ${manifest.entries.toLocaleString('en')} | ${spread(manifest.ms)} |`);
  say();
  say(`Target (well under the time a request may take, at most 5,000 ms): ${verdict(manifest.ms.max <= 5000)}.`);
  say();
}

if (cold) {
  say('## A cold builder, with and without the registry cache (ms)');
  say();
  say(
    `Each round a repo is built on \`local\` (untimed), then a new commit changing a file the image does not copy is pushed with \`git push -o wait\` to the server restarted with only the second dockerd (\`docker+tcp://\` over TLS) as its builder, made cold first (\`docker builder prune -af\` on it, its images of the repo removed). Same data dir and registry throughout. The Dockerfile: \`FROM busybox\`, one RUN standing for a dependency install (${cold.depsSeconds} s of work and ${cold.depsMb} MB of incompressible files: \`sleep ${cold.depsSeconds}\` and \`dd if=/dev/urandom\`), \`COPY app/\`, one short RUN; its steps are the repo's own, so nothing else on a daemon matches them.`,
  );
  say();
  say('| cold builder | `git push -o wait` | steps cached (per build) | not cached |');
  say('| --- | --- | --- | --- |');
  const distinct = (xs: string[]) => [...new Set(xs)].join('; ');
  for (const r of cold.rows)
    say(
      `| ${r.name} | ${spread(r.ms)} | ${distinct(r.cached.map((x) => `${x.cached} of ${x.steps}`))} | ${distinct(r.uncached.map((u) => u.join(', ') || 'none'))} |`,
    );
  say();
  const [on, off] = cold.rows;
  if (on && off)
    say(
      `With the registry cache against without: ${ratio(on.ms.median, off.ms.median)}x the time. Steps cached: each build's log line \`cache: X of Y steps cached\` (Dockerfile instructions); not cached: those instructions by the build's steps (GET /api/builds?commit=).`,
    );
  say();
}

if (pool) {
  say('## The builder pool under change');
  say();
  say(
    `${pool.repos.toLocaleString('en')} repo names routed by the pool's rendezvous hashing (\`rendezvousOrder\`, src/builder/pool.ts: a repo's builds go to its first builder while it is healthy and has room); a repo moves when its first builder changes. For scale, \`hash(repo) mod N\` over the same names.`,
  );
  say();
  say('| change | repos moved | ideal | moved only as they must | `hash mod N` moved |');
  say('| --- | --- | --- | --- | --- |');
  const pc = (n: number) => `${(n * 100).toFixed(1)}%`;
  for (const r of pool.rows)
    say(
      `| ${r.change} | ${r.moved.toLocaleString('en')} (${pc(r.moved / r.repos)}) | ${Math.round(r.ideal).toLocaleString('en')} (${pc(r.ideal / r.repos)}) | ${r.onlyNecessary ? 'yes' : '**no**'} | ${pc(r.modulo)} |`,
    );
  say();
  say(
    `"Moved only as they must": on adding, every repo that moved went to the new builder; on removing, exactly the removed builder's repos moved. Repos per builder (min / max, even share): ${pool.balance.map((b) => `${b.builders} builders ${b.min} / ${b.max} (${b.even.toFixed(0)})`).join('; ')}.`,
  );
  say();
  say(
    `One routing decision (ranking the builders for a repo): ${pool.decision.map((d) => `${d.us.median.toFixed(2)} µs with ${d.builders} builders (${d.us.min.toFixed(2)}-${d.us.max.toFixed(2)}, ${d.us.n} passes over the repos)`).join('; ')}.`,
  );
  say();
}

if (ws) {
  say('## The workspace side (ms)');
  say();
  say(
    `The client CLI served at /downloads/codehub-build: ${(ws.bundleBytes / 1024).toFixed(0)} KiB, one file; downloading it from the server: ${spread(ws.download)}.`,
  );
  say();
  say("| what | the downloaded CLI | the server's CLI (`dist/src/cli.js`) | downloaded / server |");
  say('| --- | --- | --- | --- |');
  say(
    `| \`codehub-build --help\` (node start and load) | ${spread(ws.help.client)} | ${spread(ws.help.server)} | ${ratio(ws.help.client.median, ws.help.server.median)} |`,
  );
  say(
    `| \`codehub-build status\` in a checkout (git rev-parse + one API call) | ${spread(ws.status.client)} | ${spread(ws.status.server)} | ${ratio(ws.status.client.median, ws.status.server.median)} |`,
  );
  say();
  say('| `git push -o skip` of a new commit | token in the remote URL | `codehub-build credential` (token from CODEHUB_TOKEN) | helper / URL |');
  say('| --- | --- | --- | --- |');
  say(`| ms | ${spread(ws.push.url)} | ${spread(ws.push.helper)} | ${ratio(ws.push.helper.median, ws.push.url.median)} |`);
  say();
  say(
    "git runs the helper twice per push (`get` after the 401, `store` after success); the helper's shell line answers `store` itself, so a push pays one node start and one `GET /api/user` (node:http: fetch's first call would add ~110 ms to each).",
  );
  say();
}

say('## Memory and live logs');
say();
say('| server RSS after start (MB) | idle after the push benchmarks (MB) | SSE line latency p50 / p99 (ms) |');
say('| --- | --- | --- |');
say(`| ${rssStart.toFixed(0)} | ${rssIdle ? rssIdle.toFixed(0) : '-'} | ${sse ? `${sse.median} / ${sse.p99} (${sse.n} lines)` : '-'} |`);
say();
say(
  `Target (idle RSS at most 120 MB): ${verdict(Math.max(rssStart, rssIdle) <= 120)}. SSE latency: from the server reading a line from BuildKit (its stored time) to the SSE client receiving it, for a build printing 200 lines 20 ms apart.`,
);

if (SECTIONS.every((s) => ONLY.has(s)) && !process.env.BENCH_SIZES) {
  writeFileSync(join(PACKAGE_ROOT, 'bench', 'RESULTS.md'), out.join('\n') + '\n');
  progress(`\nwrote bench/RESULTS.md (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
} else progress('\na partial run: bench/RESULTS.md left as it was');
