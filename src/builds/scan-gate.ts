/**
 * The scan between a build's push and its tags (issue 26): which references BuildKit pushes first while the
 * image is judged, the VEX documents read from the commit, and what the verdict means for the other tags. A
 * blocked image keeps only the tags that name its commit or build; its branch tag, `latest` and git-tag tags
 * stay on the last image that passed.
 */
import type { ImageConfig } from '../config/types.js';
import { CommitReader } from '../git/read.js';
import type { RepoStore } from '../git/repos.js';
import { parseImageRef, refInfo, tagKind } from '../images/tags.js';
import type { RegistryClient } from '../registry/client.js';
import { effectivePolicy, type FailOn, type Policy } from '../scan/policy.js';
import { type BuildScan, scanPushed } from '../scan/scan-build.js';
import { readVexDocuments, type VexStatement } from '../scan/vex.js';
import { type Build, isPush } from '../store/schema.js';
import type { Store } from '../store/store.js';

/** What the scan needs of the runner's dependencies. */
export interface ScanGateDeps {
  store: Store;
  repos: RepoStore;
  /** A registry client that may only pull `repositories` (the build's own rights, read-only). */
  scanReader: (repositories: string[]) => RegistryClient;
  /** CODEHUB_SCAN_FAIL_ON: the policy of an image whose file sets no `scan.fail_on`. */
  scanFailOn: FailOn;
}

/** The build's policy: the image's `scan:` over the server default. */
export function policyOf(image: ImageConfig, serverFailOn: FailOn): Policy {
  return effectivePolicy(image.scan, serverFailOn);
}

/**
 * The build's references split for the gate: `held` are pushed and kept whatever the verdict (the tags that name
 * the commit or build: `{sha}`, `{short_sha}`, `{build}`), `moving` only once the image passes. Without a policy
 * that can block (or for an upload, which has no commit to name), nothing is held back: every ref is `held`.
 */
export function gateRefs(b: Build, image: ImageConfig, policy: Policy): { held: string[]; moving: string[] } {
  const all = [...b.imageRefs];
  const ref = isPush(b) ? refInfo(b.ref) : null;
  if (policy.failOn === 'none' || !ref || !isPush(b)) return { held: all, moving: [] };
  const ctx = { ref, sha: b.commitSha, buildId: b.id, isDefaultBranch: false };
  const held: string[] = [];
  const moving: string[] = [];
  for (const r of all) {
    const tag = parseImageRef(r).tag;
    (tag !== null && tagKind(image.tags, ctx, tag) === 'commit' ? held : moving).push(r);
  }
  // An image whose templates name no commit still needs a tag to be kept under while it is judged: its `{sha}`.
  if (held.length === 0 && all[0]) held.push(`${parseImageRef(all[0]).name}:${b.commitSha}`);
  return { held, moving };
}

/** The policy's VEX documents at the build's commit, parsed; each one that cannot be read is a problem sentence. */
export async function readVex(repos: RepoStore, b: Build, paths: readonly string[]): Promise<{ statements: VexStatement[]; problems: string[] }> {
  if (!paths.length || !isPush(b)) return { statements: [], problems: [] };
  const reader = new CommitReader(repos.path(b.owner, b.repo.slice(b.owner.length + 1)));
  try {
    const documents: { path: string; text: string | null }[] = [];
    for (const path of paths) documents.push({ path, text: (await reader.readFile(b.commitSha, path))?.toString('utf8') ?? null });
    return readVexDocuments(documents);
  } finally {
    reader.close();
  }
}

/** Scans the image the build pushed and records the result on the build; the scan's own lines go to `onLine`. */
export async function scanBuild(
  deps: ScanGateDeps,
  b: Build,
  policy: Policy,
  pushed: { repository: string; digest: string },
  onLine: (line: string) => void,
): Promise<BuildScan> {
  const vex = await readVex(deps.repos, b, policy.vex);
  for (const p of vex.problems) onLine(`scan: ${p}`);
  const scan = await scanPushed(
    { store: deps.store, client: deps.scanReader([pushed.repository]) },
    { repository: pushed.repository, digest: pushed.digest, policy, vex: vex.statements, vexProblems: vex.problems, onLine },
  );
  if (scan.status === 'error') onLine(`scan: error: ${scan.reason}`);
  deps.store.builds.setScan(b.id, scan as unknown as Record<string, unknown>);
  return scan;
}

/**
 * Whether the other tags may move: a passed scan (or one without a policy that can block) lets them; a failed
 * one, or an error where a policy is set (fail closed: an image that could not be judged is not released), does
 * not, and the sentence says why.
 */
export function gateVerdict(scan: BuildScan, policy: Policy): { release: true } | { release: false; problem: string } {
  if (scan.status === 'failed') return { release: false, problem: `${scan.reason}: ${scan.blocking.join('; ')}` };
  if (scan.status === 'error' && policy.failOn !== 'none')
    return { release: false, problem: `the image could not be scanned (${scan.reason}), and its policy (fail_on: ${policy.failOn}) needs a verdict` };
  return { release: true };
}
