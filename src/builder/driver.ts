import type { Readable } from 'node:stream';
import type { ContextTree } from '../context/tree.js';
import type { Step } from './progress.js';

/** Everything a driver needs to build and push one image; paths are inside the build context. */
export interface BuildRequest {
  /** Dockerfile path inside the context tar. */
  dockerfile: string;
  target: string | null;
  args: Record<string, string>;
  labels: Record<string, string>;
  /** Full image references to push, e.g. localhost:5000/alice/shop:main. */
  tags: string[];
  platforms: string[];
  /** Secret ids and their values; drivers pass them as BuildKit secrets, never as arguments. */
  secrets: Record<string, string>;
  /** Build every step again, using no cache (`git push -o no-cache`). */
  noCache?: boolean;
  /** Credentials for pushing to a registry with token auth: this build's own, for exactly its repositories. */
  registryAuth?: { server: string; username: string; password: string };
  /** A scratch folder the driver may write to (metadata file); removed by the caller. */
  workDir: string;
  /**
   * The registry cache that follows the repo (absent: none). Each driver uses the richest mode it supports:
   * dockerd (Engine API, buildx's docker driver) exports the inline cache into the pushed image and imports
   * from `imageRefs`; a standalone buildkitd (buildx remote, buildctl) exports `mode=max` to `exportRef` and
   * imports from `cacheRefs`. Every reference lives in the build's own registry repository, readable with
   * `registryAuth`; a reference that does not exist yet is only a cache miss.
   */
  cache?: BuildCache;
}

export interface BuildCache {
  /** Image references whose inline cache to import, most specific first: the branch's tag, then the default branch's. */
  imageRefs: string[];
  /** `mode=max` cache references to import, most specific first: the branch's, then the default branch's. */
  cacheRefs: string[];
  /** The `mode=max` cache reference this build exports to: the branch's. */
  exportRef: string;
}

/** `vulnerabilities` is never a driver's: the image was pushed, and its scan kept its moving tags back (src/builds/scan-gate.ts). */
export type FailureCode = 'user' | 'infrastructure' | 'timeout' | 'canceled' | 'vulnerabilities';

/**
 * `contextChanged`: the context files (relative to the context folder) the builder got because they changed
 * since the copy it kept: what a BuildKit session of ours was asked for, or what a kept work tree's update
 * rewrote. Absent when the driver cannot say (a tar context, a work tree made new): insight then says so.
 */
interface OutcomeFacts {
  steps: Step[];
  contextChanged?: string[];
}

/** One platform of a multi-platform image: `linux/arm64` and the digest of its own manifest in the index. */
export interface PlatformImage {
  platform: string;
  digest: string;
}

export type BuildOutcome =
  /**
   * `cacheExportedTo`: the `mode=max` cache reference the build pushed (a standalone buildkitd), for usage to count now.
   * `platforms`: set when `digest` is an index (several platforms), one entry per platform in the request's order.
   */
  | ({ ok: true; digest: string; cacheExportedTo?: string; platforms?: PlatformImage[] } & OutcomeFacts)
  /** `digest` (and `platforms`, for an index): set only when the image was pushed all the same (a scan blocked it). */
  | ({ ok: false; code: FailureCode; problem: string; digest?: string; platforms?: PlatformImage[] } & OutcomeFacts);

export interface BuildIO {
  /** The build context as a tar stream. */
  context: Readable;
  /**
   * Where that context comes from: a driver that serves the context itself (a BuildKit session, sending only
   * what changed since the snapshot the builder kept) reads it from here and leaves `context` unread.
   */
  source?: ContextSource;
  /** Called with each rendered log line, in order. */
  onLog: (line: string) => void;
  /** Aborting stops the solve on the daemon; `signal.reason` says why (a `timeout` or `canceled` string). */
  signal: AbortSignal;
  /**
   * Variables for the client process's environment that mark it as this build's, so that a restarted
   * server can find and stop a client its dead predecessor left running.
   */
  processEnv: Record<string, string>;
}

/** A build's context: a pushed commit's folder, or a workspace folder uploaded by `codehub-build build`. */
export type ContextSource = CommitSource | UploadSource;

export interface CommitSource {
  kind: 'commit';
  gitDir: string;
  commit: string;
  /** The context folder inside the commit ('.' for its root). */
  dir: string;
  /** owner/name of the git repo. */
  repo: string;
  submodules?: import('../context/submodules.js').SubmoduleResolver;
}

export interface UploadSource {
  kind: 'upload';
  /** The uploaded files (src/context/upload-tree.ts). */
  tree: ContextTree;
  /** What the builder keeps the context under: the same owner and folder later sends only what changed. */
  key: string;
  /** The folder as a log names it, e.g. `alice's folder web`. */
  label: string;
}

export interface HealthReport {
  ok: boolean;
  detail: string;
}

/**
 * One way of reaching BuildKit. `build` resolves (never rejects) with the outcome: ok with the pushed
 * manifest digest, or a failure classified as the user's fault (bad Dockerfile, failing RUN; never retried),
 * the infrastructure's (builder or registry unreachable; worth retrying), a timeout, or a cancel.
 */
export interface BuilderDriver {
  readonly name: string;
  build(req: BuildRequest, io: BuildIO): Promise<BuildOutcome>;
  health(): Promise<HealthReport>;
  /**
   * When this driver last trimmed the builder's own cache, or a health check last found it empty (ms since the
   * epoch), or undefined if neither: a cache warm before then may be gone, so the registry's is imported again.
   */
  readonly cachePrunedAt?: number;
  /**
   * Who answers at this builder's address, as the last health check saw it: BuildKit's worker id(s) for a
   * buildkitd, the daemon's ID and data root for a dockerd. A buildkitd replaced at the same address (a new
   * `--root`) has a new one and none of the old one's cache. Undefined: not known (not checked yet, or the
   * driver has no way to tell), which the cache decision takes as unchanged.
   */
  readonly identity?: string;
  /**
   * Whether one build makes an index of several platforms itself (a standalone BuildKit). Otherwise (dockerd, whose
   * image store holds one platform under a name) the server builds each platform alone and joins them.
   */
  readonly multiPlatform?: boolean;
}

/** Patterns in BuildKit's failure text that mean the builder or registry could not be reached. */
const INFRA_PATTERNS = [
  /connection refused/i,
  /no such host/i,
  /i\/o timeout/i,
  /dial (tcp|unix)/i,
  /Cannot connect to the Docker daemon/i,
  /no builder .* found/i,
  /failed to push/i,
  /failed to do request/i,
  /context deadline exceeded/i,
  /server misbehaving/i,
  /503 Service Unavailable/i,
  /EOF$/,
  // dockerd's BuildKit sometimes loses a build's session under concurrent builds (seen with docker 26 and a
  // tar context on stdin); the same build succeeds when run again, so it is not the user's fault.
  /no local sources enabled/i,
  // gRPC's own words for a connection to buildkitd that is gone or going (grpc-go internal/transport): status
  // `Unavailable`, printed by buildctl and older buildx as `rpc error: code = Unavailable desc = …` and by newer
  // BuildKit clients as `Unavailable: …`. A buildkitd stopped gracefully (SIGTERM, as Kubernetes stops a pod)
  // ends with `received prior goaway: code: NO_ERROR, debug data: "graceful_stop"`, which no pattern above sees.
  /\bcode = Unavailable\b/,
  /(^|: )Unavailable: /,
  /error reading from server/i,
  /error reading server preface/i,
  /received prior goaway/i,
  /transport is closing/i,
  // grpc-go's ErrClientConnClosing (status Canceled): the client's connection went away under the solve. A cancel
  // of ours never gets here: the drivers report it from the abort signal before classifying any text.
  /the client connection is closing/i,
];

/** A failing RUN names its command, which is the user's text: `curl … || echo "connection refused"` says nothing of the builder. */
const RUN_COMMAND = /process "(?:[^"\\]|\\.)*" did not complete successfully/g;

export function classifyFailure(text: string): 'user' | 'infrastructure' {
  const ours = text.replace(RUN_COMMAND, 'process did not complete successfully');
  return INFRA_PATTERNS.some((re) => re.test(ours)) ? 'infrastructure' : 'user';
}
