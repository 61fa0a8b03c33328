/**
 * A multi-platform image from a builder that builds one platform at a time (dockerd's overlay2 image store holds
 * one image under a name, so neither its Engine API nor buildx's docker driver can make an index). Each platform
 * is built at the same time as the others, each pushed under a staging tag of its own; when all have pushed, the
 * server writes the index under the build's first tag (src/registry/platform-index.ts) and takes the staging tags
 * away. Nothing the build is tagged with names a single platform at any moment: a deployment pulling the branch's
 * tag meanwhile still gets the last whole image. One platform failing stops the others and fails the build,
 * naming it.
 */
import type { BuilderDriver, BuildIO, BuildOutcome, BuildRequest } from '../builder/driver.js';
import type { Step } from '../builder/progress.js';
import { parseImageRef } from '../images/tags.js';
import { formatPlatform, parsePlatform, type Platform } from '../limits.js';
import { ensureTombstoneConfig, type ManifestWriter, removeTag } from '../registry/manifests.js';
import { writePlatformIndex } from '../registry/platform-index.js';

/** What a line of a platform's log says when its programs cannot run on the builder's machine (no emulator). */
const EXEC_FORMAT = /exec format error/;
/** BuildKit's words when a FROM image has no image for the platform built. */
const NO_PLATFORM_IN_BASE = /^(.*?): failed to resolve source metadata for (\S+): no match for platform in manifest/;

/** The staging tag a platform's image is pushed under: unique to the attempt, never one a template renders. */
export const stagingTag = (nonce: string, p: Platform): string => `codehub-platform-${nonce}-${[p.os, p.architecture, p.variant].filter(Boolean).join('-')}`;

/**
 * Builds `req.platforms` one build each on `driver` and joins them. `ios[i]` is platform i's context and log (a
 * context is read once, so each build gets its own); `nonce` makes the staging tags unique. Resolves like a
 * driver's build: ok with the index's digest and each platform's manifest, or the first failure, naming its platform.
 */
export async function buildEachPlatform(
  driver: BuilderDriver,
  req: BuildRequest,
  ios: readonly BuildIO[],
  registry: ManifestWriter,
  nonce: string,
): Promise<BuildOutcome> {
  const io = ios[0]!;
  const platforms: Platform[] = [];
  for (const text of req.platforms) {
    const parsed = parsePlatform(text);
    if (!parsed.ok) return { ok: false, code: 'user', problem: `platforms: ${parsed.problem}`, steps: [] };
    platforms.push(parsed.platform);
  }
  const first = req.tags[0] ? parseImageRef(req.tags[0]) : null;
  if (!first?.tag) return { ok: false, code: 'user', problem: 'the build has no image reference to push', steps: [] };
  const stray = req.tags.find((t) => parseImageRef(t).name !== first.name);
  if (stray) return { ok: false, code: 'user', problem: `a multi-platform image is pushed to one repository: ${stray} is not in ${first.name}`, steps: [] };

  // One platform's failure stops the others; a cancel or timeout of the build stops them all with its own reason.
  const stop = new AbortController();
  const onAbort = () => stop.abort(io.signal.reason);
  if (io.signal.aborted) onAbort();
  else io.signal.addEventListener('abort', onAbort, { once: true });
  const names = platforms.map(formatPlatform);
  // Every platform's staging tag is taken away at the end, pushed or not: a platform stopped in the middle of its
  // push may have written its tag though its build reports no digest (putting a throwaway where none is costs 2 requests).
  const staged = platforms.map((p) => stagingTag(nonce, p));
  try {
    io.onLog(`building ${names.join(', ')} at the same time, each pushed alone and joined into one index`);
    const outcomes = await Promise.all(
      platforms.map(async (p, i) => {
        const name = names[i]!;
        const tag = stagingTag(nonce, p);
        let cannotRun: string | null = null;
        const own = ios[i]!;
        const outcome = await driver.build(
          { ...req, platforms: [name], tags: [`${first.name}:${tag}`] },
          {
            ...own,
            signal: stop.signal,
            onLog: (line) => {
              if (!cannotRun && EXEC_FORMAT.test(line)) cannotRun = line.replace(/^#\d+\s+(?:[\d.]+\s+)?/, '').trim();
              own.onLog(`[${name}] ${line}`);
            },
          },
        );
        if (!outcome.ok && !stop.signal.aborted) stop.abort(`canceled: ${name} failed`);
        return { outcome, cannotRun };
      }),
    );
    const steps = outcomes.flatMap(({ outcome }, i) => outcome.steps.map((s) => platformStep(s, names[i]!))).map((s, i) => ({ ...s, n: i + 1 }));
    if (io.signal.aborted) {
      const why = String(io.signal.reason ?? 'canceled');
      return { ok: false, code: why.startsWith('timeout') ? 'timeout' : 'canceled', problem: why, steps };
    }
    // The platform that failed first in the request's order, not one this function stopped because of it.
    const stoppedHere = (o: BuildOutcome) => !o.ok && o.code === 'canceled' && o.problem.startsWith('canceled: ');
    const at = outcomes.findIndex(({ outcome }) => !outcome.ok && !stoppedHere(outcome));
    const failure = at >= 0 ? outcomes[at]!.outcome : outcomes.find(({ outcome }) => !outcome.ok)?.outcome;
    if (failure && !failure.ok) {
      const i = Math.max(at, 0);
      return { ok: false, code: failure.code, problem: explain(names[i]!, failure.problem, outcomes[i]!.cannotRun), steps };
    }
    const t0 = Date.now();
    const index = await writePlatformIndex(
      registry,
      first.repository,
      first.tag,
      platforms.map((platform) => ({ platform, reference: stagingTag(nonce, platform) })),
    );
    io.onLog(
      `joined ${index.platforms.map((p) => `${p.platform} ${p.digest.slice(0, 19)}`).join(', ')} into ${first.name}:${first.tag} as ${index.digest} (${Date.now() - t0} ms)`,
    );
    const firstOk = outcomes[0]!.outcome;
    return { ok: true, digest: index.digest, platforms: index.platforms, steps, ...(firstOk.contextChanged ? { contextChanged: firstOk.contextChanged } : {}) };
  } catch (e) {
    return { ok: false, code: 'infrastructure', problem: `joining the platforms' images failed: ${(e as Error).message}`, steps: [] };
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    await removeStaged(registry, first.repository, staged, io.onLog);
  }
}

/** A platform's step, named as BuildKit names the steps of a multi-platform build: `[linux/arm64 2/3] RUN ...`. */
function platformStep(s: Step, platform: string): Step {
  const dockerfile = /^\[(\d+\/\d+)\]\s/.exec(s.name);
  return { ...s, name: dockerfile ? `[${platform} ${dockerfile[1]}]${s.name.slice(dockerfile[0].length - 1)}` : `[${platform}] ${s.name}` };
}

/** A platform's failure in words that say which platform, and what to do when the builder cannot run it. */
function explain(platform: string, problem: string, cannotRun: string | null): string {
  if (cannotRun) {
    return `${platform}: the builder cannot run ${platform} programs (${cannotRun}): no emulator for it is registered on the builder's machine; register QEMU there (scripts/stack.sh up does, with qemu-user-static: update-binfmts --enable qemu-${qemuArch(platform)})`;
  }
  const base = NO_PLATFORM_IN_BASE.exec(problem);
  if (base)
    return `${platform}: the base image ${base[2]} has no ${platform} image (its index lists other platforms): use a base made for ${platform}, or leave ${platform} out of platforms`;
  return `${platform}: ${problem}`;
}

const qemuArch = (platform: string): string =>
  ({ arm64: 'aarch64', amd64: 'x86_64', '386': 'i386', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', arm: 'arm' })[platform.split('/')[1]!] ??
  platform.split('/')[1]!;

/** Takes the staging tags away, keeping the manifests the index lists; a tag left behind is logged, not fatal. */
async function removeStaged(registry: ManifestWriter, repository: string, tags: readonly string[], onLog: (line: string) => void): Promise<void> {
  if (!tags.length) return;
  try {
    const config = await ensureTombstoneConfig(registry, repository);
    for (const tag of tags) await removeTag(registry, repository, tag, config);
  } catch (e) {
    onLog(`warning: could not remove the staging tags ${tags.join(', ')} of ${repository}: ${(e as Error).message}`);
  }
}
