import { mkdtemp, rm } from 'node:fs/promises';
import type { BuilderDriver, BuildOutcome } from '../builder/driver.js';
import type { ImageConfig } from '../config/types.js';
import { parseImageRef, splitRefs } from '../images/tags.js';
import type { LogWriter } from '../logs/store.js';
import { buildCache, cacheImport } from '../registry/cache-refs.js';
import { isPush, type Build, type UploadBuild } from '../store/schema.js';
import { commitContext, uploadContext, type ContextDeps, type PreparedContext } from './contexts.js';
import { buildProcessEnv, workDirPrefix } from './orphans.js';

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
  registryCredentials?: RegistryCredentials;
  instance: string;
  defaultTimeoutMs: number;
  registryCache?: boolean;
}

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
): Promise<BuildOutcome> {
  const workDir = await mkdtemp(workDirPrefix(deps.instance, b.id));
  const timeoutMs = image.timeoutSeconds ? image.timeoutSeconds * 1000 : deps.defaultTimeoutMs;
  const timer = setTimeout(() => controller.abort(`timeout: the build ran longer than ${Math.round(timeoutMs / 1000)}s`), timeoutMs);
  const refs = splitRefs(b.imageRefs);
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
  const repositories = [...new Set([...b.imageRefs, ...(cache ? [cache.exportRef] : [])].map((r) => parseImageRef(r).repository))];
  let cred: { username: string; password: string } | undefined;
  let prepared: PreparedContext | { problem: string } | null = null;
  try {
    cred = rc ? rc.issue(b.id, repositories, timeoutMs + 60_000) : undefined;
    // Made last, inside the try: a commit's context is a running `git archive`, which the finally must end.
    prepared = isPush(b) ? commitContext(deps, b, image) : uploadContext(deps, b as UploadBuild);
    if ('problem' in prepared) return { ok: false, code: 'user', problem: prepared.problem, steps: [] };
    const outcome = await driver.build(
      {
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
      },
      {
        context: prepared.context,
        source: prepared.source,
        onLog: (line) => out.line(line),
        signal: controller.signal,
        processEnv: buildProcessEnv(deps.instance, b.id),
      },
    );
    const note = outcome.ok ? null : prepared.failureNote();
    if (note) out.line(note);
    if (!outcome.ok || !refs.extraTags.length) return outcome;
    try {
      const t0 = Date.now();
      await deps.tagger.tag(refs.repository, outcome.digest, refs.extraTags);
      out.line(`tagged ${refs.extraTags.map((t) => `${refs.repository}:${t}`).join(', ')} (${Date.now() - t0} ms)`);
      return outcome;
    } catch (e) {
      return { ok: false, code: 'infrastructure', problem: `tagging the pushed image failed: ${(e as Error).message}`, steps: outcome.steps };
    }
  } finally {
    if (cred) rc!.revoke(cred.username);
    clearTimeout(timer);
    if (prepared && !('problem' in prepared)) prepared.close();
    await rm(workDir, { recursive: true, force: true });
  }
}
