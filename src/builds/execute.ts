import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { BuilderDriver, BuildOutcome } from '../builder/driver.js';
import type { ImageConfig } from '../config/types.js';
import { parseImageRef, splitRefs } from '../images/tags.js';
import type { LogWriter } from '../logs/store.js';
import { buildCache, cacheImport } from '../registry/cache-refs.js';
import type { ManifestWriter } from '../registry/manifests.js';
import { isPush, type Build, type UploadBuild } from '../store/schema.js';
import { commitContext, uploadContext, type ContextDeps, type PreparedContext } from './contexts.js';
import { buildProcessEnv, workDirPrefix } from './orphans.js';
import { buildEachPlatform } from './platforms.js';
import { gateRefs, gateVerdict, policyOf, scanBuild, type ScanGateDeps } from './scan-gate.js';

/** Points more tags at an image already pushed (the registry client); throws saying which tag failed. */
export interface Tagger {
  tag(repository: string, digest: string, tags: string[]): Promise<void>;
}

/** Makes a build a registry credential for exactly the repositories it pushes (registry token auth). */
export interface RegistryCredentials {
  server: string;
  issue(buildId: number, repositories: string[], ttlMs: number): { username: string; password: string };
  revoke(username: string): void;
}

/** What one solve needs of the runner's dependencies (RunnerDeps has them all). */
export interface ExecuteDeps extends ContextDeps {
  tagger: Tagger;
  manifests?: ManifestWriter;
  registryCredentials?: RegistryCredentials;
  instance: string;
  defaultTimeoutMs: number;
  registryCache?: boolean;
  /** Scanning of pushed images (issue 26); absent, nothing is scanned and every tag moves at once. */
  scan?: Omit<ScanGateDeps, 'store' | 'repos'>;
}

/**
 * An attempt's outcome, with what it left in the registry: `pushedRefs`, the references that point at `digest`
 * now (all of the build's, or only the held ones of an image its scan blocked; that failure keeps the digest).
 */
export type Executed = BuildOutcome & { pushedRefs?: string[] };

/**
 * An attempt's solve on its builder (the runner decides and records its end): the work folder, the timeout,
 * the registry cache and credential, the context, the driver's build, then the extra tags. Whatever it
 * opened is closed before it returns.
 */
export async function executeBuild(
  deps: ExecuteDeps,
  b: Build,
  image: ImageConfig,
  secrets: Record<string, string>,
  driver: BuilderDriver,
  controller: AbortController,
  out: LogWriter,
): Promise<Executed> {
  const workDir = await mkdtemp(workDirPrefix(deps.instance, b.id));
  const timeoutMs = image.timeoutSeconds ? image.timeoutSeconds * 1000 : deps.defaultTimeoutMs;
  const timer = setTimeout(() => controller.abort(`timeout: the build ran longer than ${Math.round(timeoutMs / 1000)}s`), timeoutMs);
  const policy = deps.scan ? policyOf(image, deps.scan.scanFailOn) : null;
  // With a policy that can block, BuildKit pushes only the tags that name the commit; the others wait for the scan.
  const gate = policy ? gateRefs(b, image, policy) : { held: [...b.imageRefs], moving: [] };
  const refs = splitRefs(gate.held);
  const rc = deps.registryCredentials;
  // The registry cache follows a repo's branches; an upload has none (its builder keeps its cache under the folder's key).
  let cache =
    deps.registryCache && isPush(b) ? buildCache(b, image, deps.store.repos.byName(b.owner, b.repo.slice(b.owner.length + 1))?.defaultBranch ?? null) : null;
  // Who answers at the builder now: a later build there sees from it whether that BuildKit was replaced since.
  deps.store.builds.setBuilderIdentity(b.id, driver.identity ?? null);
  if (cache) {
    const decision = cacheImport({
      builder: driver.name,
      image: image.name,
      prunedAt: driver.cachePrunedAt,
      identity: driver.identity,
      last: deps.store.builds.lastBuilder(b.repo, image.name, b.id),
    });
    out.line(decision.line);
    if (!decision.import) cache = { ...cache, imageRefs: [], cacheRefs: [] };
  }
  // The build's credential reaches its cache repository too: it pulls the cache it imports and pushes the one it exports.
  const repositories = [...new Set([...gate.held, ...gate.moving, ...(cache ? [cache.exportRef] : [])].map((r) => parseImageRef(r).repository))];
  let cred: { username: string; password: string } | undefined;
  let prepared: PreparedContext | { problem: string } | null = null;
  // A builder that makes one platform at a time builds each alone, and the server joins them (src/builds/platforms.ts).
  const eachPlatform = image.platforms.length > 1 && !driver.multiPlatform;
  const more: PreparedContext[] = [];
  try {
    cred = rc ? rc.issue(b.id, repositories, timeoutMs + 60_000) : undefined;
    // Made last, inside the try: a commit's context is a running `git archive`, which the finally must end.
    const makeContext = () => (isPush(b) ? commitContext(deps, b, image) : uploadContext(deps, b as UploadBuild));
    prepared = makeContext();
    if ('problem' in prepared) return { ok: false, code: 'user', problem: prepared.problem, steps: [] };
    // Each platform's build reads a context of its own.
    for (let i = 1; eachPlatform && i < image.platforms.length; i++) {
      const next = makeContext();
      if ('problem' in next) return { ok: false, code: 'user', problem: next.problem, steps: [] };
      more.push(next);
    }
    const req = {
      dockerfile: image.dockerfile,
      target: image.target,
      args: image.args,
      labels: prepared.labels,
      tags: refs.push,
      platforms: image.platforms,
      secrets,
      noCache: image.noCache === true,
      ...(cache ? { cache } : {}),
      ...(cred && rc ? { registryAuth: { server: rc.server, ...cred } } : {}),
      workDir,
    };
    const io = (p: PreparedContext) => ({
      context: p.context,
      source: p.source,
      onLog: (line: string) => out.line(line),
      signal: controller.signal,
      processEnv: buildProcessEnv(deps.instance, b.id),
    });
    const outcome: BuildOutcome = !eachPlatform
      ? await driver.build(req, io(prepared))
      : deps.manifests
        ? await buildEachPlatform(driver, req, [io(prepared), ...more.map(io)], deps.manifests, `${b.id}-${randomBytes(4).toString('hex')}`)
        : { ok: false, code: 'infrastructure', problem: 'this server has no registry client to join the platforms into one image', steps: [] };
    const note = outcome.ok ? null : prepared.failureNote();
    if (note) out.line(note);
    if (!outcome.ok) return outcome;
    try {
      await tagWith(deps.tagger, refs.repository, outcome.digest, refs.extraTags, out);
      if (deps.scan && policy) {
        const scan = await scanBuild(
          { ...deps.scan, store: deps.store, repos: deps.repos },
          b,
          policy,
          { repository: refs.repository, digest: outcome.digest },
          (l) => out.line(l),
        );
        const verdict = gateVerdict(scan, policy);
        if (!verdict.release) {
          out.line(
            `scan: the image keeps only ${gate.held.map((r) => parseImageRef(r).tag).join(', ')}; ${gate.moving.map((r) => parseImageRef(r).tag).join(', ') || 'no other tag'} stay${gate.moving.length === 1 ? 's' : ''} on the last image that passed`,
          );
          return {
            ok: false,
            code: 'vulnerabilities',
            problem: verdict.problem,
            steps: outcome.steps,
            digest: outcome.digest,
            ...(outcome.platforms ? { platforms: outcome.platforms } : {}),
            pushedRefs: gate.held,
          };
        }
      }
      await tagWith(
        deps.tagger,
        refs.repository,
        outcome.digest,
        gate.moving.map((r) => parseImageRef(r).tag!),
        out,
      );
      return { ...outcome, pushedRefs: [...gate.held, ...gate.moving] };
    } catch (e) {
      return { ok: false, code: 'infrastructure', problem: `tagging the pushed image failed: ${(e as Error).message}`, steps: outcome.steps };
    }
  } finally {
    if (cred) rc!.revoke(cred.username);
    clearTimeout(timer);
    if (prepared && !('problem' in prepared)) prepared.close();
    for (const p of more) p.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Points `tags` of `repository` at `digest` (nothing when there are none), saying so in the log. */
async function tagWith(tagger: Tagger, repository: string, digest: string, tags: string[], out: LogWriter): Promise<void> {
  if (!tags.length) return;
  const t0 = Date.now();
  await tagger.tag(repository, digest, tags);
  out.line(`tagged ${tags.map((t) => `${repository}:${t}`).join(', ')} (${Date.now() - t0} ms)`);
}
